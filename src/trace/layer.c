/*
 * The trace layer: the outermost layer, so that it records what the client
 * asked and what it got; one record per call, in JSON Lines or text.
 *
 * A record is built in one buffer (on the stack, spilling to the heap for
 * large templates) and handed whole to the sink (src/trace/sink_posix.c) after the
 * call returns. While the call runs, its inputs are already formatted, and
 * a fatal signal inside the backend writes them with "crash", so that the
 * call that took the client down is visible.
 *
 * Why the sink stages records in a shared mapping. The trace first wrote
 * each record with one write(2) to a file opened O_APPEND, as p11-kit's
 * log.c does: whole records, no interleaving, but a system call per PKCS#11
 * call, 1.5 us of CPU on a machine of the CI kind, several times what the
 * trace may add to a call (the targets are in README.md, Performance). What
 * the trace promises rules out the usual ways around that:
 *  - buffering records in the process's own memory and writing them in
 *    batches loses the records a crash or a kill -9 finds in the buffer,
 *    the ones that matter most;
 *  - a writer thread (or io_uring's polling thread) is a thread created in
 *    the client, which NSS forbids (CKF_LIBRARY_CANT_CREATE_OS_THREADS), and
 *    its queue dies with the process too;
 *  - a file per process or per thread is not one trace.
 * The second design mapped the trace file itself and copied each record
 * into it: no system call, but every record landed on a page never touched
 * before, and on a VM of the CI kind the first touch of a page cost more
 * than the copy (about half of a record's cost: 600 ns in all). So now the
 * room for a record in the file is reserved with one atomic fetch-add on an
 * offset in a mapped companion file, FILE.tail, shared by every process
 * tracing to FILE (records of threads and processes never overlap), and the
 * record is copied into the process's staging buffer in FILE.tail: pages of
 * a shared file mapping written again and again, so hot, and in the page
 * cache, so they survive a kill. A full buffer (32 KiB, about 150 records)
 * reaches the file with one pwritev(2); the watchdog thread flushes once a
 * second so that an idle client's records are not held back; a process
 * leaving flushes; what a killed process left is written by the next one
 * to open the file, and `p11shim trace` reads staged records along with the
 * file. The common path takes no lock and makes no system call. The price:
 * a plain `cat` or `tail -f` of a live trace lags behind by up to a second
 * (or a buffer, where the client forbids threads), and FILE.tail is 1 MiB
 * (a process touches its own 64 KiB of it). The design is in
 * src/trace/sink_posix.c.
 *
 * Per call, then: two TSC reads for "ts" and "us" (compat_fast_ns; the wall
 * clock from a per-thread offset), one TLS lookup, the formatting (the
 * function's and the thread's part of the head precomputed, no snprintf,
 * no allocation), a fetch-add for seq and the sink's fetch-add and copy.
 * bench/p11bench.c (`make bench`) measures it against SoftHSM2 and
 * pkcs11-spy.
 *
 * With no trace configured this layer is not in the stack at all.
 */
#include "config.h"

#include "p11-shim.h"
#include "p11-trace.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p11-compat.h"
#include "p11-const.h"
#include "p11-inflight.h"
#include "p11-text.h"
#include "p11-trace-schema.h"
#include "p11-trace-sink.h"

typedef struct {
	p11_sink *sink;
	p11_format format;
	p11_data data;
	p11_inflight *inflight;  /* FILE.inflight, NULL when it could not be mapped */
	compat_ticker *watchdog; /* [trace] SlowCall; NULL when off or not allowed */
	int64_t slow_us;
	char slow_text[32];         /* "10s" as configured, for the note */
	unsigned long calls_before; /* p11_shim_ctx: calls before C_Initialize */
	const char *first_before;
	char path[4096];
	char pattern[4200]; /* File before expansion, for keeping the sink */
	uint64_t max_size;
	unsigned long pid;
} trace_state;

typedef struct trace_tls trace_tls;

typedef struct trace_call {
	trace_state *ts;
	trace_tls *tls; /* this thread's, looked up once per call */
	p11_tb tb;
	p11_tb notes;
	int64_t start_ns;
	size_t ts_at; /* where the timestamp goes, written at entry */
	size_t out_mark;
	const char *fn; /* "C_Sign", for the in-flight table */
	unsigned long seq;
	p11_inflight_kind id_kind; /* the call's slot or session, for the in-flight table */
	uint64_t id;
	int inflight_slot;                /* its slot in the table, -1: none */
	volatile sig_atomic_t in_backend; /* inside the next layer's call */
	struct trace_call *outer;
	/* What the client's output buffers could hold, taken before the call:
	 * the backend's answer is read no further (a backend may lie). */
	CK_ULONG cap;
	CK_ATTRIBUTE *asked; /* C_GetAttributeValue's template as given, or NULL */
	CK_ATTRIBUTE asked_storage[8];
	char storage[2048];
	char note_storage[512];
} trace_call;

/*
 * This thread's ","pid":P,"tid":T,"seq": (JSON) or " P:T #" (text),
 * formatted once per thread and again in a forked child.
 */
typedef struct {
	unsigned long pid, tid;
	size_t json_len, text_len;
	char json[64], text[48];
} who_cache;

/*
 * Everything the trace keeps per thread, in one TLS block: in a dlopen'ed
 * module each __thread access is a call to __tls_get_addr (it showed in
 * the trace's profile), so a call looks the block up once.
 */
struct trace_tls {
	struct trace_call *current; /* the call this thread is in, for notes and the crash handler */
	int64_t offset_us, refresh_ns;
	time_t cached_sec;
	char cached[20];
	who_cache who;
};

static __thread trace_tls tls = { .refresh_ns = INT64_MIN, .cached_sec = -1 };

/*
 * "seq" numbers the calls of a process (README.md, Trace): one counter for
 * the process, not per C_Initialize, so a client that finalises and
 * initialises again goes on counting and seq stays unique within its pid.
 */
static atomic_ulong process_seq;

unsigned long p11_trace_last_seq(void)
{
	return atomic_load_explicit(&process_seq, memory_order_relaxed);
}

/* A record that could not be built (out of memory) is reported once. */
static atomic_bool oom_reported;

/*
 * The trace stays open after C_Finalize, for the next C_Initialize that
 * traces to the same File, MaxSize, Format and SlowCall in the same
 * process: the file (joining FILE.tail, writing what killed processes
 * left, and trimming at the end), the in-flight table and the watchdog
 * thread cost more to set up and tear down than a backend's whole
 * C_Initialize. The watchdog goes on ticking meanwhile (no call is in
 * flight, so it only flushes), except on Windows; a next C_Initialize
 * that forbids threads stops it. The last process still trims the file at
 * exit (the sink's destructor). Under entry.c's COMPAT_GLOBAL_INIT only.
 */
static trace_state *parked;

/*
 * The fixed parts of a JSON record (J_) and of a text one (T_), as literals:
 * the field names come from include/p11-trace-schema.h, the lengths are the
 * compiler's. J_WHO is a format for the thread's pid and tid, up to seq's value.
 */
#define J_OPEN "{" P11_TF_JSON(P11_TF_TS) "\""
#define J_WHO \
	"\"," P11_TF_JSON(P11_TF_PID) "%lu," P11_TF_JSON(P11_TF_TID) "%lu," P11_TF_JSON(P11_TF_SEQ)
#define J_FN "," P11_TF_JSON(P11_TF_FN) "\""
#define J_ARGS "\"," P11_TF_JSON(P11_TF_ARGS) "{"
#define J_OUT "," P11_TF_JSON(P11_TF_OUT) "{"
#define T_OUT " -> {"
#define J_RV "," P11_TF_JSON(P11_TF_RV)
#define J_US "," P11_TF_JSON(P11_TF_US)
#define J_NOTES "," P11_TF_JSON(P11_TF_NOTES) "["

/* ---- file ---- */

static void expand_path(const char *pattern, char *out, size_t len)
{
	size_t o = 0;
	const char *p;

	for (p = pattern; *p != '\0' && o + 1 < len; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(out + o, len - o, "%lu", compat_pid());
			p++;
		} else if (p[0] == '%' && p[1] == 't') {
			time_t now = time(NULL);
			struct tm tm;
			gmtime_r(&now, &tm);
			o += strftime(out + o, len - o, "%Y%m%dT%H%M%SZ", &tm);
			p++;
		} else {
			out[o++] = *p;
		}
		if (o >= len)
			o = len - 1;
	}
	out[o] = '\0';
}

/* ---- crash ---- */

/* Writes one in-flight record with "crash"; async-signal-safe. */
static void write_crashed(trace_call *c, const char *name)
{
	static const char crash[] = "}" J_RV "null," P11_TF_JSON(P11_TF_CRASH) "\"";
	char tail[80];
	size_t n = 0, len = strlen(name);

	if (c->tb.format == P11_FMT_JSONL) {
		memcpy(tail, crash, sizeof(crash) - 1);
		n = sizeof(crash) - 1;
		memcpy(tail + n, name, len);
		n += len;
		memcpy(tail + n, "\"}\n", 3);
		n += 3;
	} else {
		memcpy(tail, ") = CRASHED ", 12);
		n = 12;
		memcpy(tail + n, name, len);
		n += len;
		tail[n++] = '\n';
	}
	p11_sink_write_crash(c->ts->sink, c->tb.p, c->tb.len, tail, n);
}

/*
 * A fatal fault (compat_crash_install: a signal on POSIX, a vectored
 * exception on Windows). Only async-signal-safe work: write the in-flight
 * records of this thread (each to its own trace; a second trace layer below
 * the policies would have its own); the platform layer then hands the fault
 * on (a JVM uses SIGSEGV for its own purposes, so a fault outside a backend
 * call goes straight on).
 */
static bool on_fault(const char *what, void *addr)
{
	trace_call *c;

	/* FILE.tail truncated under its mapping: the sink repairs the mapping
	 * and the copy goes on (then one write per record); no crash. */
	if (addr != NULL && p11_sink_fault(addr))
		return true;
	for (c = tls.current; c != NULL; c = c->outer)
		if (c->in_backend && c->tb.p != NULL && !c->tb.failed && c->ts->sink != NULL) {
			write_crashed(c, what);
			/* The crash record names the call: not in flight twice. */
			p11_inflight_exit(c->ts->inflight, c->inflight_slot);
			c->inflight_slot = -1;
		}
	tls.current = NULL;
	return false;
}

/* ---- records ---- */

/* "2024-01-31T12:34:56.123456Z": ISO 8601 UTC, microseconds, always this wide. */
#define TS_LEN 27

/*
 * The wall clock without reading it on every call: the monotonic reading
 * that starts the call's duration, plus this thread's offset to UTC, taken
 * again every second (a clock step shows within a second). A clock read
 * costs 25-55 ns in a VM; this saves one of three per call.
 */
static int64_t wall_us_at(trace_tls *t, int64_t mono_ns)
{
	if (mono_ns >= t->refresh_ns) {
		t->offset_us = compat_wall_us() - compat_fast_ns() / 1000;
		t->refresh_ns = mono_ns + 1000000000;
	}
	return mono_ns / 1000 + t->offset_us;
}

/* The date and time to the second are formatted once per second per thread. */
static void format_ts(trace_tls *t, char out[TS_LEN], int64_t us)
{
	time_t sec = (time_t)(us / 1000000);
	unsigned long frac = (unsigned long)(us % 1000000);
	int i;

	if (sec != t->cached_sec) {
		struct tm tm;
		char buf[64];
		gmtime_r(&sec, &tm);
		snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d",
		         (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		         tm.tm_min, tm.tm_sec);
		memcpy(t->cached, buf, 19);
		t->cached_sec = sec;
	}
	memcpy(out, t->cached, 19);
	out[19] = '.';
	for (i = 25; i > 19; i--) {
		out[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	out[26] = 'Z';
}

/* A thread's tid changes only in a forked child, whose pid differs. */
static const who_cache *who(trace_tls *t)
{
	who_cache *w = &t->who;
	unsigned long pid = compat_pid(), tid;

	if (w->json_len == 0 || w->pid != pid) {
		tid = compat_tid();
		w->json_len = (size_t)snprintf(w->json, sizeof(w->json), J_WHO, pid, tid);
		w->text_len = (size_t)snprintf(w->text, sizeof(w->text), " %lu:%lu #", pid, tid);
		w->pid = pid;
		w->tid = tid;
	}
	return w;
}

/*
 * The record's head. The timestamp is left blank here and written by
 * call_enter, from the same clock reading that starts the duration: "ts"
 * is the moment the call entered the layers below.
 */
static p11_tb *call_begin(trace_state *ts, trace_call *c, const char *fn, const char *jhead,
                          size_t jlen, const char *thead, size_t tlen)
{
	static const char blank[TS_LEN] = "0000-00-00T00:00:00.000000Z";
	p11_tb *tb = &c->tb;
	trace_tls *t = &tls;
	const who_cache *w = who(t);
	unsigned long seq = atomic_fetch_add_explicit(&process_seq, 1, memory_order_relaxed) + 1;

	c->ts = ts;
	c->tls = t;
	c->fn = fn;
	c->seq = seq;
	c->id_kind = P11_INFLIGHT_NONE;
	c->id = 0;
	c->inflight_slot = -1;
	c->in_backend = 0;
	c->cap = 0;
	c->asked = NULL;
	p11_tb_init(tb, c->storage, sizeof(c->storage), ts->format, ts->data);
	c->notes.len = 0;
	c->notes.p = NULL;
	if (ts->format == P11_FMT_JSONL) {
		p11_tb_raw(tb, J_OPEN, sizeof(J_OPEN) - 1);
		c->ts_at = sizeof(J_OPEN) - 1;
		p11_tb_raw(tb, blank, TS_LEN);
		p11_tb_raw(tb, w->json, w->json_len);
		p11_tb_ulong(tb, seq);
		p11_tb_raw(tb, jhead, jlen);
	} else {
		c->ts_at = 0;
		p11_tb_raw(tb, blank, TS_LEN);
		p11_tb_raw(tb, w->text, w->text_len);
		p11_tb_ulong(tb, seq);
		p11_tb_raw(tb, thead, tlen);
	}
	/* The args object is open: depth 1, first item next. */
	tb->depth = 1;
	tb->first[1] = 1;
	c->outer = t->current;
	t->current = c;
	return tb;
}

static void call_enter(trace_call *c)
{
	int64_t now = compat_fast_ns(), wall = wall_us_at(c->tls, now);

	if (c->tb.p != NULL && c->tb.len >= c->ts_at + TS_LEN)
		format_ts(c->tls, c->tb.p + c->ts_at, wall);
	/* Named in FILE.inflight while in the backend: a hang or a kill leaves it there. */
	if (c->ts->inflight != NULL)
		c->inflight_slot =
		        p11_inflight_enter(c->ts->inflight, c->tls->who.pid, c->tls->who.tid,
		                           c->seq, c->fn, c->id_kind, c->id, wall);
	c->start_ns = now;
	c->in_backend = 1;
}

static void call_exit(trace_call *c)
{
	p11_tb *tb = &c->tb;

	c->in_backend = 0;
	p11_inflight_exit(c->ts->inflight, c->inflight_slot);
	c->start_ns = compat_fast_ns() - c->start_ns;
	p11_tb_rawz(tb, tb->format == P11_FMT_JSONL ? "}" J_OUT : ")" T_OUT);
	c->out_mark = tb->len;
	tb->depth = 1;
	tb->first[1] = 1;
}

static void call_end(trace_call *c, CK_RV rv)
{
	p11_tb *tb = &c->tb;
	bool json = tb->format == P11_FMT_JSONL;

	/* No outputs: the J_OUT or T_OUT that call_exit wrote goes. */
	if (tb->len == c->out_mark && !tb->failed)
		tb->len -= json ? P11_TF_STRLEN(J_OUT) : P11_TF_STRLEN(T_OUT);
	else
		p11_tb_raw(tb, "}", 1);
	tb->depth = 0;
	p11_tb_rawz(tb, json ? J_RV "\"" : " = ");
	p11_tb_rawz(tb, p11_rv_str(rv));
	p11_tb_rawz(tb, json ? "\"" J_US : " (");
	p11_tb_ulong(tb, (unsigned long)(c->start_ns / 1000));
	if (!json)
		p11_tb_rawz(tb, " us)");
	if (c->notes.p != NULL && c->notes.len > 0) {
		p11_tb_rawz(tb, json ? J_NOTES : " notes: ");
		p11_tb_raw(tb, c->notes.p, c->notes.len);
		if (json)
			p11_tb_raw(tb, "]", 1);
	}
	p11_tb_rawz(tb, json ? "}\n" : "\n");
	c->tls->current = c->outer;
	if (!tb->failed)
		p11_sink_write(c->ts->sink, tb->p, tb->len);
	else if (!atomic_exchange(&oom_reported, true)) {
		char shown[1024];

		fprintf(stderr,
		        "p11shim: trace: out of memory formatting a record of %s; calls go on, "
		        "records are lost\n",
		        p11_text_safe(shown, sizeof(shown), c->ts->path));
	}
	p11_tb_free(tb);
	if (c->notes.p != NULL)
		p11_tb_free(&c->notes);
	if (c->asked != NULL && c->asked != c->asked_storage)
		free(c->asked);
}

void p11_note(const char *fmt, ...)
{
	trace_call *c = tls.current;
	char buf[1024];
	va_list ap;
	int n;

	if (c == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (c->notes.p == NULL) /* the first note of this call */
		p11_tb_init(&c->notes, c->note_storage, sizeof(c->note_storage), c->tb.format,
		            c->tb.data);
	if (c->notes.len > 0)
		p11_tb_rawz(&c->notes, c->notes.format == P11_FMT_JSONL ? "," : "; ");
	if (c->notes.format == P11_FMT_JSONL) {
		p11_tb_str(&c->notes, buf, (size_t)n);
	} else {
		/* Text: escaped as on a terminal (a reader name may hold
		 * anything): the one-line record stays one line, and `cat` of the
		 * file obeys no sequence in it. */
		char shown[2048];
		size_t len;

		p11_text_escape(shown, sizeof(shown), buf, (size_t)n, &len);
		p11_tb_raw(&c->notes, shown, len);
	}
}

/* ---- what the client gave, kept to check the backend's answer ---- */

/* The room of an output buffer or list (*pulLen, *pulCount) before the call. */
static void keep_cap(trace_call *c, const void *p, CK_ULONG_PTR pn)
{
	c->cap = p != NULL && pn != NULL ? *pn : 0;
}

/* C_GetAttributeValue's template before the call: types, buffers, sizes. */
static void keep_template(trace_call *c, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	if (t == NULL || n > P11_TRACE_MAX_ATTRS)
		return;
	c->asked = n <= sizeof(c->asked_storage) / sizeof(c->asked_storage[0]) ?
	                   c->asked_storage :
	                   malloc(n * sizeof(*t));
	if (c->asked != NULL)
		memcpy(c->asked, t, n * sizeof(*t));
}

static void out_attrs(trace_call *c, CK_RV rv, const char *name, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	CK_ULONG lies;

	if (t != NULL && n <= P11_TRACE_MAX_ATTRS && c->asked == NULL) {
		if (rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE ||
		    rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL)
			p11_note("trace: out of memory: the values of %s are not shown", name);
		return;
	}
	lies = tf_out_attrs(&c->tb, rv, name, t, n, c->asked);
	if (lies > 0)
		p11_note("backend: %lu attribute value(s) of %s longer than the client's buffer, or moved; "
		         "not read, passed on as answered",
		         (unsigned long)lies, name);
}

static void note_lie(const char *fn, const char *what, CK_ULONG said, CK_ULONG cap)
{
	p11_note("backend: %s answered %s = %lu for a buffer of %lu; not read, passed on as answered",
	         fn, what, (unsigned long)said, (unsigned long)cap);
}

/* In the C_Initialize record: the calls the client made before it. */
static void note_calls_before(trace_state *ts)
{
	if (ts->calls_before > 0)
		p11_note("%lu call(s) before C_Initialize, answered CKR_CRYPTOKI_NOT_INITIALIZED "
		         "(the first: %s)",
		         ts->calls_before, ts->first_before ? ts->first_before : "?");
}

/* ---- the layer: one wrapper per function, generated from p11fn.def ---- */

/* The function's part of the record head, as literals: JSON and text. */
#define FN_JHEAD(name) J_FN "C_" #name J_ARGS
#define FN_THEAD(name) " C_" #name "("
#define FN_HEADS(name) \
	FN_JHEAD(name), sizeof(FN_JHEAD(name)) - 1, FN_THEAD(name), sizeof(FN_THEAD(name)) - 1

#define P11FN(name, ...)                                                        \
	static CK_RV trace_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__))   \
	{                                                                       \
		static const char FN_NAME[] = "C_" #name;                       \
		trace_call call;                                                \
		p11_tb *tb;                                                     \
		CK_RV rv;                                                       \
		(void)FN_NAME;                                                  \
		tb = call_begin(self->data, &call, "C_" #name, FN_HEADS(name)); \
		if (P11_FN_##name == P11_FN_Initialize)                         \
			note_calls_before(self->data);                          \
		P11_MAP(P11_TRACE_IN, P11_SEMI, __VA_ARGS__);                   \
		P11_MAP(P11_IN_FLIGHT, P11_SEMI, __VA_ARGS__);                  \
		call_enter(&call);                                              \
		rv = P11_NEXT(self, name, P11_ARGS(__VA_ARGS__));               \
		call_exit(&call);                                               \
		P11_MAP(P11_TRACE_OUT, P11_SEMI, __VA_ARGS__);                  \
		call_end(&call, rv);                                            \
		return rv;                                                      \
	}
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3 P11FN
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3

void p11_trace_lone_initialize(p11_layer *layer, CK_VOID_PTR init_args, CK_RV rv)
{
	trace_call call;
	p11_tb *tb;

	if (layer == NULL || strcmp(layer->name, "trace") != 0)
		return;
	tb = call_begin(layer->data, &call, "C_Initialize", FN_HEADS(Initialize));
	tf_init_args(tb, "pInitArgs", init_args);
	call_enter(&call);
	call_exit(&call);
	p11_note("answered by the shim: already initialised by an earlier C_Initialize");
	call_end(&call, rv);
}

static const p11_ops trace_ops = {
#define P11FN(name, ...) .C_##name = trace_C_##name,
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3 P11FN
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
};

/* ---- the SlowCall watchdog ---- */

/*
 * A note record on a call still in the backend: the call's own record
 * comes when (if) it returns. Written by the watchdog thread from what the
 * in-flight table holds (another thread's call buffer is not ours to read):
 * its function, slot or session, pid, tid and seq, "rv":null and
 * "pending_us", the time it has been in the backend so far.
 */
static void slow_note(void *data, const p11_inflight_entry *e)
{
	trace_state *ts = data;
	int64_t us = e->seen_us - e->entry_us;
	time_t sec = (time_t)(e->seen_us / 1000000);
	const char *key = e->kind == P11_INFLIGHT_SLOT ? "slotID" : "hSession";
	char when[32], id[48], rec[768];
	struct tm tm;
	int n;

	gmtime_r(&sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
	         (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	         tm.tm_sec, (long)(e->seen_us % 1000000));
	id[0] = '\0';
	if (e->kind != P11_INFLIGHT_NONE)
		snprintf(id, sizeof(id), ts->format == P11_FMT_JSONL ? "\"%s\":%llu" : "%s=%llu",
		         key, (unsigned long long)e->id);
	if (ts->format == P11_FMT_JSONL)
		n = snprintf(rec, sizeof(rec),
		             J_OPEN "%s" J_WHO "%lu" J_FN "%s" J_ARGS "%s}" J_RV "null," P11_TF_JSON(
		                     P11_TF_PENDING_US) "%lld" J_NOTES
		                                        "\"trace: %s has been in the backend for %lld.%01lld s and has not "
		                                        "returned ([trace] SlowCall = %s)\"]}\n",
		             when, e->pid, e->tid, e->seq, e->fn, id, (long long)us, e->fn,
		             (long long)(us / 1000000), (long long)(us / 100000 % 10), ts->slow_text);
	else
		n = snprintf(rec, sizeof(rec),
		             "%s %lu:%lu #%lu %s(%s) = PENDING (%lld us) notes: trace: %s has been "
		             "in the backend for %lld.%01lld s and has not returned ([trace] SlowCall = %s)\n",
		             when, e->pid, e->tid, e->seq, e->fn, id, (long long)us, e->fn,
		             (long long)(us / 1000000), (long long)(us / 100000 % 10), ts->slow_text);
	if (n > 0 && (size_t)n < sizeof(rec))
		p11_sink_write(ts->sink, rec, (size_t)n);
}

static void watch(void *data)
{
	trace_state *ts = data;

	if (ts->slow_us > 0 && ts->inflight != NULL)
		p11_inflight_watch(ts->inflight, compat_pid(), compat_wall_us(), ts->slow_us,
		                   slow_note, ts);
	/* What the calls since the last tick staged, and any note, reach the file. */
	p11_sink_flush(ts->sink);
}

/* Lets a trace go: the watchdog first (it writes to the sink and reads the table). */
static void free_state(trace_state *ts)
{
	if (ts == NULL)
		return;
	compat_ticker_stop(ts->watchdog);
	p11_inflight_close(ts->inflight);
	p11_sink_close(ts->sink);
	free(ts);
}

static void trace_destroy(p11_layer *self)
{
	trace_state *ts = self->data;

	compat_crash_uninstall();
	/* A forked child's trace is its parent's file: let go, not kept. */
	if (ts->pattern[0] == '\0' || ts->pid != compat_pid()) {
		free_state(ts);
		return;
	}
	/* Windows: a kept trace is freed in DllMain (FreeLibrary), where no
	 * thread may be waited for (the loader's lock): the watchdog stops now. */
	if (COMPAT_WINDOWS) {
		compat_ticker_stop(ts->watchdog);
		ts->watchdog = NULL;
	}
	free_state(parked); /* another trace layer's, kept before */
	p11_sink_flush(ts->sink);
	parked = ts;
}

/*
 * The kept trace when it is what want describes (File, MaxSize, Format,
 * SlowCall) in this process; else NULL, and it is let go. What the
 * watchdog reads is compared, so that it is never changed under it.
 */
static trace_state *take_parked(const trace_state *want)
{
	trace_state *k = parked;

	parked = NULL;
	if (k != NULL && want != NULL && k->pid == compat_pid() && k->max_size == want->max_size &&
	    k->format == want->format && k->slow_us == want->slow_us &&
	    strcmp(k->slow_text, want->slow_text) == 0 && strcmp(k->pattern, want->pattern) == 0)
		return k;
	free_state(k);
	return NULL;
}

void p11_trace_free_kept(void)
{
	free_state(take_parked(NULL));
}

p11_layer *p11_trace_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	const p11_config *cfg = ctx->cfg;
	const char *file, *format, *data;
	char dir[4096], pattern[4200];
	uint64_t max_size = 0, slow_ms = 0;
	bool enable = false, fresh, watchdog;
	struct stat st;
	p11_layer *layer = NULL;
	trace_state *ts = NULL, *kept;

	err[0] = '\0';
	file = p11_config_get(cfg, P11_KEY_TRACE_FILE, err, errlen);
	if (file == NULL || !p11_config_bool(cfg, P11_KEY_TRACE_ENABLE, &enable, err, errlen) ||
	    !p11_config_size(cfg, P11_KEY_TRACE_MAXSIZE, &max_size, err, errlen) ||
	    !p11_config_duration_ms(cfg, P11_KEY_TRACE_SLOWCALL, &slow_ms, err, errlen))
		return NULL;
	format = p11_config_get(cfg, P11_KEY_TRACE_FORMAT, err, errlen);
	data = format ? p11_config_get(cfg, P11_KEY_TRACE_DATA, err, errlen) : NULL;
	if (format == NULL || data == NULL)
		return NULL;
	if (file[0] == '\0' && !enable) {
		free_state(take_parked(NULL)); /* a trace kept from before is done */
		return NULL;                   /* trace off: err stays empty */
	}

	layer = calloc(1, sizeof(*layer));
	ts = calloc(1, sizeof(*ts));
	if (layer == NULL || ts == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ts->calls_before = ctx->calls_before;
	ts->first_before = ctx->first_before;
	ts->format = strcasecmp(format, "text") == 0 ? P11_FMT_TEXT : P11_FMT_JSONL;
	ts->data = strcasecmp(data, "none") == 0 ? P11_DATA_NONE :
	           strcasecmp(data, "hex") == 0  ? P11_DATA_HEX :
	                                           P11_DATA_LENGTH;
	if (file[0] == '\0') {
		if (!compat_state_dir(dir, sizeof(dir))) {
			snprintf(err, errlen,
			         "trace: no HOME or XDG_STATE_HOME for the default trace folder; "
			         "set [trace] File");
			goto fail;
		}
		compat_mkdirs(dir); /* 0700, as the XDG base directory spec asks */
		snprintf(pattern, sizeof(pattern), "%s/p11shim-%%p.%s", dir,
		         ts->format == P11_FMT_JSONL ? "jsonl" : "log");
		file = pattern;
	}
	snprintf(ts->pattern, sizeof(ts->pattern), "%s", file);
	ts->max_size = max_size;
	ts->pid = compat_pid();
	ts->slow_us = (int64_t)slow_ms * 1000;
	snprintf(ts->slow_text, sizeof(ts->slow_text), "%s",
	         p11_config_get(cfg, P11_KEY_TRACE_SLOWCALL, err, errlen));
	err[0] = '\0';
	/*
	 * The watchdog is a thread of the client's process: not when the client
	 * forbids threads (NSS passes CKF_LIBRARY_CANT_CREATE_OS_THREADS). Then
	 * no SlowCall notes are written and the table is not stamped; the calls
	 * in flight are still named in it, and staged records reach the file
	 * when a staging buffer fills or the client leaves (readers of a live
	 * trace see them all the same). With SlowCall = 0 it only flushes, once
	 * a second.
	 */
	watchdog = !(ctx->init_flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS);
	kept = take_parked(ts);
	if (kept != NULL) {
		/* None of these is read by the watchdog. */
		kept->data = ts->data;
		kept->calls_before = ts->calls_before;
		kept->first_before = ts->first_before;
		free(ts);
		ts = kept;
		if (!watchdog) {
			compat_ticker_stop(ts->watchdog);
			ts->watchdog = NULL;
		}
		goto ready;
	}
	expand_path(file, ts->path, sizeof(ts->path));
	fresh = stat(ts->path, &st) != 0 || st.st_size == 0;
	ts->sink = p11_sink_open(ts->path, max_size);
	if (ts->sink == NULL) {
		/* The calls go on without a trace: say so once. */
		p11_event(P11_EV_TRACE_REFUSED, P11_NO_SLOT,
		          "trace: cannot open %s: %s; set [trace] "
		          "File to a writable path. Calls go on without a trace.",
		          ts->path, strerror(errno));
		goto fail;
	}
	/* Without the table the calls are traced as before; a hang just names nothing. */
	ts->inflight = p11_inflight_open(ts->path, fresh, err, errlen);
	if (ts->inflight == NULL) {
		char shown[1024];

		fprintf(stderr, "p11shim: trace: %s; calls in flight will not be named\n",
		        p11_text_safe(shown, sizeof(shown), err));
	}
	err[0] = '\0';
ready:
	if (watchdog && ts->watchdog == NULL) {
		/* A quarter of SlowCall between looks, from 0.1 s to 1 s: a note comes soon after the time. */
		unsigned every = (unsigned)(slow_ms == 0 || slow_ms / 4 > 1000 ? 1000 :
		                            slow_ms / 4 < 100                  ? 100 :
		                                                                 slow_ms / 4);
		ts->watchdog = compat_ticker_start(every, watch, ts);
	}
	compat_crash_install(on_fault, p11_sink_crash_done);
	layer->name = "trace";
	layer->ops = &trace_ops;
	layer->data = ts;
	layer->destroy = trace_destroy;
	return layer;
fail:
	free(ts);
	free(layer);
	return NULL;
}
