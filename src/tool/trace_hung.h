/*
 * Calls still in the backend at the end of a trace, for `trace summary`,
 * `show`, `diagnose` and `report`: from FILE.inflight beside the trace
 * (include/p11-inflight.h) and, where that file is missing (a trace copied
 * alone, or read from stdin), from the trace's SlowCall notes.
 */
#ifndef P11SHIM_TOOL_TRACE_HUNG_H
#define P11SHIM_TOOL_TRACE_HUNG_H

#include <stddef.h>
#include <stdint.h>

#include "p11-inflight.h"
#include "trace_read.h"

#define TRACE_HUNG_MAX 64

typedef struct {
	p11_inflight_entry e;
	int64_t slot, session; /* -1: not known */
	double held_s;         /* how long it had been in the backend, -1: not known */
	int alive;             /* its process still runs (on this machine) */
	uint64_t note_line;    /* its SlowCall note in the trace, 0: none */
	uint64_t before_line;  /* the last record of its process before it, 0: none */
	char how[120];         /* how held_s was measured */
} trace_hung;

typedef struct trace_hangs trace_hangs;

trace_hangs *trace_hangs_new(void);
/* Every record of the trace, in order (args, when read, map sessions to slots). */
void trace_hangs_add(trace_hangs *h, const trace_record *rec);
/*
 * The calls in flight at the end: path is the trace (NULL or "-": no
 * FILE.inflight). Returns how many; *out points into h.
 */
size_t trace_hangs_finish(trace_hangs *h, const char *path, const trace_hung **out);
void trace_hangs_free(trace_hangs *h);

/* "C_Sign (slot 1, session 1), pid 4711 tid 4711 seq 9, since 2026-...Z: 12.0 s when ..." */
void trace_hung_describe(const trace_hung *c, char *out, size_t cap);

/* "2026-12-04T16:50:01.123456Z" for microseconds since 1970. */
void trace_format_us(int64_t us, char *out, size_t cap);

#endif /* P11SHIM_TOOL_TRACE_HUNG_H */
