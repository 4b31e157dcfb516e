/*
 * The in-flight table, so that a call still in the backend can be found
 * after its process dies or hangs: FILE.inflight beside a trace FILE,
 * a small file of fixed size that every process tracing to FILE maps
 * shared. A call takes a slot when it enters the backend (a compare-and-swap
 * and a few plain stores, no system call) and frees it when it returns, so
 * a call that hangs, or whose process is killed while waiting, stays in the
 * file: its function, slot or session, entry time, process, thread and seq.
 * The stores go into the page cache, which outlives the process (kill -9);
 * nothing flushes them to the disk (a power cut of the machine may lose them).
 *
 * While the trace layer's watchdog runs ([trace] SlowCall), it stamps the
 * slots of its process with the time it last saw them in flight, so a
 * reader can tell how long a call had been in the backend when its process
 * died, and writes a note record for a call in flight past SlowCall.
 */
#ifndef P11_INFLIGHT_H
#define P11_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define P11_INFLIGHT_SLOTS 256
#define P11_INFLIGHT_SUFFIX ".inflight"

typedef enum { P11_INFLIGHT_NONE, P11_INFLIGHT_SLOT, P11_INFLIGHT_SESSION } p11_inflight_kind;

/* One call in flight, as read from the table. */
typedef struct {
	unsigned long pid, tid, seq;
	char fn[40];            /* "C_Sign" */
	p11_inflight_kind kind; /* what id is */
	uint64_t id;            /* the slot ID or session handle */
	int64_t entry_us;       /* wall clock (microseconds since 1970) at entry */
	int64_t seen_us;        /* last seen in flight by its watchdog; 0: never */
	bool noted;             /* a SlowCall note was written */
} p11_inflight_entry;

typedef struct p11_inflight p11_inflight;

/*
 * Maps TRACE_PATH.inflight (made when missing). fresh: the trace file is
 * new, so entries of processes that are gone belong to a trace that is no
 * longer there and are cleared; otherwise only those older than a day are
 * (the support desk needs the others). NULL with err when it cannot be
 * mapped: the trace goes on without the table.
 */
p11_inflight *p11_inflight_open(const char *trace_path, bool fresh, char *err, size_t errlen);
void p11_inflight_close(p11_inflight *t);

/*
 * At a call's entry: takes a slot and fills it; returns its index, or -1
 * when no slot was free (the call is not in the table). fn: a literal.
 */
int p11_inflight_enter(p11_inflight *t, unsigned long pid, unsigned long tid, unsigned long seq,
                       const char *fn, p11_inflight_kind kind, uint64_t id, int64_t entry_us);
/* At its exit (and in the crash handler: async-signal-safe). */
void p11_inflight_exit(p11_inflight *t, int slot);

/*
 * The watchdog: stamps now_us on every slot of process pid in flight, and
 * calls slow(data, entry) once for each that has been in flight slow_us or
 * longer (slow_us 0: never).
 */
void p11_inflight_watch(p11_inflight *t, unsigned long pid, int64_t now_us, int64_t slow_us,
                        void (*slow)(void *data, const p11_inflight_entry *e), void *data);

/*
 * Reads TRACE_PATH.inflight (without mapping it, for the CLI): the calls in
 * flight, at most max, in entry order. -1 when there is no such file or it
 * is not an in-flight table.
 */
int p11_inflight_read(const char *trace_path, p11_inflight_entry *out, size_t max);

#endif /* P11_INFLIGHT_H */
