/*
 * Reading a p11shim trace (JSON Lines, plain or gzip, a file or stdin) one
 * record at a time, in constant memory: one read buffer, one JSON arena,
 * both reused for every record.
 *
 * Both formats the module writes are read: JSON Lines, and the text lines
 * of `[trace] Format = text`, which are turned into the same record (one
 * JSON object per line, parsed like the first).
 *
 * Damage is expected and never fatal: a malformed line, a truncated last
 * line or a record cut off by NUL padding is reported through the warning
 * callback with its line number and skipped. NUL bytes between and after
 * records (a preallocating writer pads the file with them) separate
 * records silently and never count as lines.
 */
#ifndef P11SHIM_TOOL_TRACE_READ_H
#define P11SHIM_TOOL_TRACE_READ_H

#include <stddef.h>
#include <stdint.h>

#include "json.h"

typedef struct trace_reader trace_reader;

/*
 * One record. Strings point into the reader's buffer and are valid until
 * the next trace_next(); they are not NUL-terminated. A missing or
 * mistyped field reads as NULL / -1, so a record from a newer or older
 * shim still reads.
 */
typedef struct {
	uint64_t line;           /* 1-based line number in the (decompressed) text */
	const json_value *root;  /* the whole record */
	const json_value *args;  /* object, or NULL */
	const json_value *out;   /* outputs when written apart ("out" object), or NULL */
	const json_value *notes; /* array, or NULL */
	const char *ts;          /* "2026-11-27T20:45:40.123456Z", or NULL */
	const char *fn;          /* "C_Login"; always set */
	const char *rv;          /* "CKR_OK"; NULL when null or absent */
	const char *crash;       /* "SIGSEGV" when the process died in the call, else NULL */
	uint32_t ts_len, fn_len, rv_len, crash_len;
	int64_t pid, tid, seq, us; /* -1 when absent */
	/*
	 * Not a call but a note on one ([trace] SlowCall): the call of this
	 * pid, tid and seq had been in the backend this long at ts and had not
	 * returned. -1 for a call's own record.
	 */
	int64_t pending_us;
} trace_record;

/* Called for each damaged line; line is 0 for problems of the whole input. */
typedef void (*trace_warn_fn)(void *data, const char *name, uint64_t line, const char *msg);

/*
 * Opens path ("-" for stdin), plain text or gzip, and reads the first block
 * to refuse what is neither (a binary file). NULL on failure with a message
 * naming the file in err. warn NULL: trace_warn_stderr with data NULL.
 */
trace_reader *trace_open(const char *path, trace_warn_fn warn, void *data, char *err, size_t errlen);

/*
 * Next record: 1 and *rec filled; 0 at the end; -1 when the input cannot be
 * read on (a read or gzip data error, message in trace_error()).
 */
int trace_next(trace_reader *r, trace_record *rec);

/*
 * skip non-zero: records come without args and out (NULL), which makes
 * reading about a third faster; for readers that need only the other
 * fields (`trace summary`). root is NULL then too. The skipped values are
 * still checked as strictly as when parsed, so the same records are taken
 * and the same lines reported either way.
 */
void trace_skip_args(trace_reader *r, int skip);

const char *trace_error(const trace_reader *r);
/* Lines reported through the warning callback so far. */
uint64_t trace_damaged(const trace_reader *r);
/* The name used in messages: the path, or "<stdin>". */
const char *trace_name(const trace_reader *r);
void trace_close(trace_reader *r);

/*
 * The default warning callback: "p11shim: NAME:LINE: MSG" on stderr, at
 * most 20 lines, then one line saying that more were suppressed; so a file
 * that is not a trace does not flood the terminal. data is unused.
 */
void trace_warn_stderr(void *data, const char *name, uint64_t line, const char *msg);

/*
 * An argument by its PKCS#11 name, input or output: outputs are in args
 * after the inputs, or in an "out" object of their own (both forms occur).
 * NULL when absent or when the record was read without its arguments.
 */
const json_value *trace_arg(const trace_record *rec, const char *key);

/*
 * A failed call that is a client's ordinary probing, not a failure to
 * diagnose: the section 5.2 length probe (CKR_BUFFER_TOO_SMALL), attribute
 * probes meant to fail (CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_SENSITIVE),
 * slot and mechanism probing (CKR_MECHANISM_INVALID from an operation's
 * C_*Init), a second C_Initialize, and the bad-argument
 * calls a test client makes on purpose (C_Initialize or C_Finalize with
 * CKR_ARGUMENTS_BAD). 0 for CKR_OK and for a record without a return value.
 * `trace summary`, `diagnose` and `report` count with this one rule.
 */
int trace_is_probing(const trace_record *rec);

/*
 * The failed calls of a trace, in the words summary, diagnose and report
 * share: "6 failed calls, all expected client probing: C_GetAttributeValue
 * -> CKR_ATTRIBUTE_TYPE_INVALID (6)".
 */
#define TRACE_PROBE_KINDS 6
typedef struct {
	uint64_t failed, probing; /* failed calls (no return included), of them probing */
	struct {
		char fn[40];
		char rv[48];
		uint64_t n;
	} kind[TRACE_PROBE_KINDS];
	size_t n_kinds;
	uint64_t other_kinds; /* probing calls of kinds beyond kind[] */
} trace_failures;

/* Counts rec when it failed (pending notes are not calls and are not counted). */
void trace_failures_add(trace_failures *t, const trace_record *rec);
/* The sentence, NUL-terminated, cut to cap. */
void trace_failures_sentence(const trace_failures *t, char *out, size_t cap);

/*
 * A bounded copy, NUL-terminated, for tables and messages, escaped for a
 * terminal (p11_text_escape): a row stays a row, and no escape sequence of
 * a crafted trace reaches the terminal. Cut on a whole character or escape.
 */
void trace_copy_text(char *dst, size_t cap, const char *s, size_t n);

/* Compares two strings of the given lengths like strcmp. */
int trace_strcmp(const char *a, size_t alen, const char *b, size_t blen);

/* true when s[0..len) equals the C string lit. */
int trace_streq(const char *s, size_t len, const char *lit);

#endif /* P11SHIM_TOOL_TRACE_READ_H */
