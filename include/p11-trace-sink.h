/*
 * The trace sink: appends whole records to a trace file that threads and
 * processes share, without a system call per record (the design and its
 * measurements are at the top of src/trace/layer.c).
 *
 * The room for each record in the file is reserved with one atomic
 * fetch-add on an offset kept in a mapped companion file, FILE.tail, which
 * every process tracing to FILE shares; the record is copied into the
 * process's staging buffer in FILE.tail and reaches the file with the rest
 * of the buffer, in one pwritev(2) (include/p11-trace-ring.h). Where the
 * companion cannot be made (a folder the client may not write to) the sink
 * falls back to one write(2) per record with O_APPEND.
 */
#ifndef P11_TRACE_SINK_H
#define P11_TRACE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct p11_sink p11_sink;

typedef enum {
	P11_SINK_RING, /* records staged in FILE.tail, written a buffer at a time */
	P11_SINK_PWRITE, /* reserved like RING, written with pwrite(2) each: no free slot in FILE.tail */
	P11_SINK_APPEND, /* one write(2) per record with O_APPEND: no companion file */
} p11_sink_mode;

/*
 * Opens (creating it 0600, never through a symbolic link) the trace file at
 * path and joins the processes tracing to it. max_size: rotate to PATH.1
 * beyond it (0: never). NULL with errno set when the file cannot be opened.
 */
p11_sink *p11_sink_open(const char *path, uint64_t max_size);

/* Appends one whole record (n bytes, ending in '\n'). Thread-safe. */
void p11_sink_write(p11_sink *s, const char *rec, size_t n);

/*
 * Async-signal-safe: appends one record made of two pieces (the in-flight
 * record of a crashed call and its tail). Then p11_sink_crash_done.
 */
void p11_sink_write_crash(p11_sink *s, const char *a, size_t an, const char *b, size_t bn);

/* Async-signal-safe: the process is dying; trims the file when it is the last one tracing to it. */
void p11_sink_crash_done(void);

/*
 * Async-signal-safe, for a SIGBUS handler: when addr lies in a mapping of a
 * trace file (the file was truncated under the writers, e.g. by
 * `logrotate copytruncate`), replaces that mapping with anonymous memory so
 * that the interrupted copy completes harmlessly, and returns true; the sink
 * starts a new file on its next record.
 */
bool p11_sink_fault(void *addr);

/*
 * Writes the records this process has staged to the file now (P11_SINK_RING;
 * the other modes stage nothing). Thread-safe; NULL: nothing.
 */
void p11_sink_flush(p11_sink *s);
/* Trims the padding when this is the last process tracing to the file; frees s. */
void p11_sink_close(p11_sink *s);

p11_sink_mode p11_sink_get_mode(const p11_sink *s);
const char *p11_sink_path(const p11_sink *s);

#endif /* P11_TRACE_SINK_H */
