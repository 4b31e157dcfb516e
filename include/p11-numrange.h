/*
 * Card serial numbers from a number range ([serial] NumberRange and
 * NumberRangeState): the allocator the serial layer and `p11shim serial`
 * share. It never hands out a number twice: not to threads, not to processes
 * racing on one state file, not after a process is killed at any point. A gap
 * is allowed, a duplicate never. src/layers/numrange.c explains how.
 */
#ifndef P11_NUMRANGE_H
#define P11_NUMRANGE_H

#include <stdbool.h>
#include <stddef.h>

/* At most this many digits per number, so that FIRST..LAST+1 fits easily. */
#define P11_RANGE_MAX_DIGITS 18

/* How long p11_range_next waits for another holder of the state's lock. */
#define P11_RANGE_LOCK_TIMEOUT_MS 10000

typedef struct {
	unsigned long long first, last;
	unsigned width; /* digits of FIRST as written, for zero padding ("000100-000199": 6) */
} p11_range;

/*
 * Parses "FIRST-LAST": decimal, FIRST <= LAST, each at most 18 digits,
 * blanks around the numbers and the '-' allowed. Returns false with err
 * naming the text and the fix.
 */
bool p11_range_parse(const char *text, p11_range *r, char *err, size_t errlen);

/*
 * Hands out the next number of r, recorded in the state file state_path
 * (a missing file: nothing handed out yet, so deleting it restarts the
 * range). Writes the number, zero-padded to r->width, to out and returns
 * 0; or returns -1 with err naming the file, what is wrong and the fix:
 * range exhausted, state file corrupt, truncated or written for a range
 * that does not fit r, lock not taken within P11_RANGE_LOCK_TIMEOUT_MS,
 * I/O errors. Nothing is handed out when it fails. Thread-safe.
 */
int p11_range_next(const p11_range *r, const char *state_path, char *out, size_t outlen, char *err,
                   size_t errlen);

/* The same with the lock wait in milliseconds (for tests and the CLI). */
int p11_range_next_wait(const p11_range *r, const char *state_path, unsigned timeout_ms, char *out,
                        size_t outlen, char *err, size_t errlen);

/*
 * Reads the state without changing it or taking the lock (the file is only
 * ever replaced whole, so a read sees the old or the new state). *any:
 * whether a number of r has been handed out; *last: the last one (valid
 * when *any). A state whose last number lies below r's FIRST (the range
 * was moved up) counts as nothing handed out yet. Returns 0, or -1 with
 * err as for p11_range_next.
 */
int p11_range_status(const p11_range *r, const char *state_path, unsigned long long *last,
                     bool *any, char *err, size_t errlen);

#endif /* P11_NUMRANGE_H */
