/*
 * The trace layer (DESIGN.md, Trace): the outermost layer, one record per
 * call, in JSON Lines or text.
 *
 * A record is built in one buffer (on the stack, spilling to the heap for
 * large templates) and written with one write(2) to a file opened with
 * O_APPEND: the kernel appends each write whole, so threads and processes
 * sharing the file never interleave (p11-kit log.c flush_buffer; pkcs11-spy's
 * unlocked fprintf calls interleave). The record is written after the call
 * returns; while the call runs, its inputs are already formatted, and a
 * fatal signal inside the backend writes them with "crash" so that the call
 * that took the client down is visible.
 *
 * With no trace configured this layer is not in the stack at all.
 */
#include "config.h"

#include "p11-shim.h"
#include "p11-trace.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "p11-compat.h"
#include "p11-const.h"

typedef struct {
	int fd;
	char path[4096];
	p11_format format;
	p11_data data;
	uint64_t max_size;
	atomic_ullong since_check; /* bytes this process wrote since the last stat */
	atomic_ullong est_size;    /* the file's size as this process last knew it, plus its writes */
	atomic_ulong seq;
	atomic_bool lost;       /* a write failed; reported once */
	compat_mutex *lock;     /* reopen and rotation */
} trace_state;

typedef struct trace_call {
	trace_state *ts;
	p11_tb tb;
	p11_tb notes;
	int64_t start_ns;
	size_t out_mark;
	volatile sig_atomic_t in_backend; /* inside the next layer's call */
	struct trace_call *outer;
	char storage[2048];
	char note_storage[512];
} trace_call;

/* The call this thread is in, for notes and for the crash handler. */
static __thread trace_call *current;

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

/* mkdir -p with mode 0700, as the XDG base directory spec asks. */
static void mkdir_parents(const char *dir)
{
	char buf[4096];
	char *p;

	snprintf(buf, sizeof(buf), "%s", dir);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0700);
		*p = '/';
	}
	mkdir(buf, 0700);
}

static int open_trace_file(const char *path)
{
	/* 0600: a trace shows which cards and keys were used, if no secrets.
	 * O_NOFOLLOW: a link planted at the trace path is not followed. */
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static void report_loss(trace_state *ts, int err)
{
	if (!atomic_exchange(&ts->lost, true))
		fprintf(stderr, "p11shim: trace: cannot write %s: %s; calls go on, records are lost "
		        "until it is writable again\n", ts->path, strerror(err));
}

/*
 * Every 64 KiB this process wrote: is the file at the path still ours
 * (removed or rotated by another process: reopen), and is it beyond MaxSize
 * (rotate to PATH.1, under an flock so that one process rotates)?
 */
static void check_file(trace_state *ts)
{
	struct stat fst, pst;
	char old[4200];
	int fd;

	compat_mutex_lock(ts->lock);
	atomic_store(&ts->since_check, 0);
	if (fstat(ts->fd, &fst) != 0)
		goto out;
	atomic_store(&ts->est_size, (unsigned long long)fst.st_size);
	if (stat(ts->path, &pst) != 0 || pst.st_ino != fst.st_ino || pst.st_dev != fst.st_dev) {
		fd = open_trace_file(ts->path);
		if (fd >= 0) {
			dup2(fd, ts->fd);
			close(fd);
		}
		goto out;
	}
	if (ts->max_size == 0 || (uint64_t)fst.st_size < ts->max_size)
		goto out;
	if (flock(ts->fd, LOCK_EX) == 0) {
		if (stat(ts->path, &pst) == 0 && pst.st_ino == fst.st_ino &&
		    (uint64_t)pst.st_size >= ts->max_size) {
			snprintf(old, sizeof(old), "%s.1", ts->path);
			if (rename(ts->path, old) != 0)
				report_loss(ts, errno);
		}
		flock(ts->fd, LOCK_UN);
	}
	fd = open_trace_file(ts->path);
	if (fd >= 0) {
		dup2(fd, ts->fd);
		close(fd);
	}
	atomic_store(&ts->est_size, 0);
out:
	compat_mutex_unlock(ts->lock);
}

static void write_record(trace_state *ts, const char *p, size_t n)
{
	ssize_t w;

	if (ts->fd < 0)
		return;
	w = write(ts->fd, p, n);
	if (w < 0 || (size_t)w != n)
		report_loss(ts, w < 0 ? errno : ENOSPC);
	else if (atomic_load(&ts->lost))
		atomic_store(&ts->lost, false);
	/* The estimate makes MaxSize hold within a record or so; the 64 KiB
	 * check catches what other processes wrote and removed files. */
	if (atomic_fetch_add(&ts->since_check, n) + n >= 65536 ||
	    (ts->max_size != 0 && atomic_fetch_add(&ts->est_size, n) + n >= ts->max_size))
		check_file(ts);
}

/* ---- crash ---- */

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
#define N_FATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction saved_actions[N_FATAL];
static atomic_int crash_installs; /* trace layers alive; the handler stays while > 0 */

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGABRT: return "SIGABRT";
	default: return "signal";
	}
}

/* Writes one in-flight record with "crash"; async-signal-safe. */
static void write_crashed(trace_call *c, const char *name)
{
	struct iovec iov[2];
	char tail[80];
	size_t n = 0, len = strlen(name);

	if (c->tb.format == P11_FMT_JSONL) {
		memcpy(tail, "},\"rv\":null,\"crash\":\"", 21);
		n = 21;
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
	iov[0].iov_base = c->tb.p;
	iov[0].iov_len = c->tb.len;
	iov[1].iov_base = tail;
	iov[1].iov_len = n;
	if (writev(c->ts->fd, iov, 2) < 0) {
		/* nothing more can be done in a signal handler */
	}
}

/*
 * Only async-signal-safe work: write the in-flight records of this thread
 * (each to its own trace; a second trace layer below the policies would
 * have its own), then hand the signal to whoever had it before (a JVM uses
 * SIGSEGV for its own purposes, so a signal outside a backend call goes
 * straight on).
 */
static void crash_handler(int sig, siginfo_t *info, void *uctx)
{
	struct sigaction *old = NULL;
	trace_call *c;
	size_t i;

	for (i = 0; i < N_FATAL; i++)
		if (fatal_signals[i] == sig)
			old = &saved_actions[i];
	for (c = current; c != NULL; c = c->outer)
		if (c->in_backend && c->tb.p != NULL && !c->tb.failed && c->ts->fd >= 0)
			write_crashed(c, signal_name(sig));
	current = NULL;
	if (old == NULL)
		return;
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, info, uctx);
	} else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
		/* Restore and return: the fault repeats under the default action
		 * (abort() re-raises by itself). */
		sigaction(sig, old, NULL);
		if (sig == SIGABRT || info == NULL || info->si_code <= 0)
			raise(sig);
	} else {
		old->sa_handler(sig);
	}
}

static void crash_install(void)
{
	struct sigaction sa;
	size_t i;

	if (atomic_fetch_add(&crash_installs, 1) != 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < N_FATAL; i++)
		sigaction(fatal_signals[i], &sa, &saved_actions[i]);
}

static void crash_uninstall(void)
{
	struct sigaction cur;
	size_t i;

	if (atomic_fetch_sub(&crash_installs, 1) != 1)
		return;
	for (i = 0; i < N_FATAL; i++) {
		/* Only where ours is still in place: someone may have chained over us. */
		if (sigaction(fatal_signals[i], NULL, &cur) == 0 &&
		    (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == crash_handler)
			sigaction(fatal_signals[i], &saved_actions[i], NULL);
	}
}

/* ---- records ---- */

/* ISO 8601 UTC with microseconds; the seconds part is reused within a second. */
static void put_time(p11_tb *tb, int64_t us)
{
	static __thread time_t cached_sec = -1;
	static __thread char cached[24];
	time_t sec = (time_t)(us / 1000000);
	char frac[16];

	if (sec != cached_sec) {
		struct tm tm;
		gmtime_r(&sec, &tm);
		strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = sec;
	}
	p11_tb_rawz(tb, cached);
	snprintf(frac, sizeof(frac), ".%06ldZ", (long)(us % 1000000));
	p11_tb_rawz(tb, frac);
}

static p11_tb *call_begin(trace_state *ts, trace_call *c, unsigned fn)
{
	p11_tb *tb = &c->tb;
	const char *name = p11_fn_name(fn);
	unsigned long seq = atomic_fetch_add(&ts->seq, 1) + 1;

	c->ts = ts;
	c->in_backend = 0;
	p11_tb_init(tb, c->storage, sizeof(c->storage), ts->format, ts->data);
	p11_tb_init(&c->notes, c->note_storage, sizeof(c->note_storage), ts->format, ts->data);
	if (ts->format == P11_FMT_JSONL) {
		p11_tb_rawz(tb, "{\"ts\":\"");
		put_time(tb, compat_wall_us());
		p11_tb_rawz(tb, "\",\"pid\":");
		p11_tb_ulong(tb, compat_pid());
		p11_tb_rawz(tb, ",\"tid\":");
		p11_tb_ulong(tb, compat_tid());
		p11_tb_rawz(tb, ",\"seq\":");
		p11_tb_ulong(tb, seq);
		p11_tb_rawz(tb, ",\"fn\":\"");
		p11_tb_rawz(tb, name);
		p11_tb_rawz(tb, "\",\"args\":{");
	} else {
		put_time(tb, compat_wall_us());
		p11_tb_raw(tb, " ", 1);
		p11_tb_ulong(tb, compat_pid());
		p11_tb_raw(tb, ":", 1);
		p11_tb_ulong(tb, compat_tid());
		p11_tb_raw(tb, " #", 2);
		p11_tb_ulong(tb, seq);
		p11_tb_raw(tb, " ", 1);
		p11_tb_rawz(tb, name);
		p11_tb_raw(tb, "(", 1);
	}
	/* The args object is open: depth 1, first item next. */
	tb->depth = 1;
	tb->first[1] = 1;
	c->outer = current;
	current = c;
	return tb;
}

static void call_enter(trace_call *c)
{
	c->start_ns = compat_mono_ns();
	c->in_backend = 1;
}

static void call_exit(trace_call *c)
{
	p11_tb *tb = &c->tb;

	c->in_backend = 0;
	c->start_ns = compat_mono_ns() - c->start_ns;
	p11_tb_rawz(tb, tb->format == P11_FMT_JSONL ? "},\"out\":{" : ") -> {");
	c->out_mark = tb->len;
	tb->depth = 1;
	tb->first[1] = 1;
}

static void call_end(trace_call *c, CK_RV rv)
{
	p11_tb *tb = &c->tb;
	bool json = tb->format == P11_FMT_JSONL;

	if (tb->len == c->out_mark && !tb->failed)
		tb->len -= json ? 8 : 5; /* no outputs: drop ',"out":{' or ' -> {' */
	else
		p11_tb_raw(tb, "}", 1);
	tb->depth = 0;
	p11_tb_rawz(tb, json ? ",\"rv\":\"" : " = ");
	p11_tb_rawz(tb, p11_rv_str(rv));
	p11_tb_rawz(tb, json ? "\",\"us\":" : " (");
	p11_tb_ulong(tb, (unsigned long)(c->start_ns / 1000));
	if (!json)
		p11_tb_rawz(tb, " us)");
	if (c->notes.len > 0) {
		p11_tb_rawz(tb, json ? ",\"notes\":[" : " notes: ");
		p11_tb_raw(tb, c->notes.p, c->notes.len);
		if (json)
			p11_tb_raw(tb, "]", 1);
	}
	p11_tb_rawz(tb, json ? "}\n" : "\n");
	current = c->outer;
	if (!tb->failed)
		write_record(c->ts, tb->p, tb->len);
	else
		report_loss(c->ts, ENOMEM);
	p11_tb_free(tb);
	p11_tb_free(&c->notes);
}

void p11_note(const char *fmt, ...)
{
	trace_call *c = current;
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
	if (c->notes.len > 0)
		p11_tb_rawz(&c->notes, c->notes.format == P11_FMT_JSONL ? "," : "; ");
	if (c->notes.format == P11_FMT_JSONL) {
		p11_tb_str(&c->notes, buf, (size_t)n);
	} else {
		/* Text: as written, but a control character (a reader name may
		 * hold anything) must not break the one-line record. */
		int i;
		for (i = 0; i < n; i++)
			if ((unsigned char)buf[i] < 0x20)
				buf[i] = ' ';
		p11_tb_raw(&c->notes, buf, (size_t)n);
	}
}

/* ---- the layer: one wrapper per function, generated from p11fn.def ---- */

#define TIN_INIT_ARGS(p) tf_init_args(tb, #p, p)
#define TIN_RESERVED(p) tf_ptr_present(tb, #p, p)
#define TIN_FUNCTION_LIST(p) tf_ptr_present(tb, #p, p)
#define TIN_BOOL(b) tf_bool(tb, #b, b)
#define TIN_SLOT(s) tf_ulong(tb, #s, s)
#define TIN_OUT_SLOT(p) tf_ptr_present(tb, #p, p)
#define TIN_OUT_SLOTS(p, n) tf_buf_cap(tb, #p, p, n)
#define TIN_OUT_INFO(p) ((void)(p))
#define TIN_OUT_SLOT_INFO(p) ((void)(p))
#define TIN_OUT_TOKEN_INFO(p) ((void)(p))
#define TIN_OUT_MECHS(p, n) tf_buf_cap(tb, #p, p, n)
#define TIN_MECH_TYPE(t) tf_const(tb, #t, P11_CONST_MECH, t)
#define TIN_OUT_MECH_INFO(p) ((void)(p))
#define TIN_PIN(p, n) tf_pin(tb, #p, p, n)
#define TIN_LABEL(p) tf_label(tb, #p, p)
#define TIN_SESSION(h) tf_ulong(tb, #h, h)
#define TIN_SESSION_FLAGS(f) tf_flags(tb, #f, P11_FLAGS_SESSION, f)
#define TIN_APP(p) tf_ptr_present(tb, #p, p)
#define TIN_NOTIFY(f) tf_ptr_present(tb, #f, (const void *)f)
#define TIN_OUT_SESSION(p) ((void)(p))
#define TIN_OUT_SESSION_INFO(p) ((void)(p))
#define TIN_USER(u) tf_const(tb, #u, P11_CONST_USER, u)
#define TIN_HANDLE(h) tf_ulong(tb, #h, h)
#define TIN_OUT_HANDLE(p) ((void)(p))
#define TIN_OUT_HANDLES(p, m, n) tf_ulong(tb, #m, m)
#define TIN_OUT_ULONG(p) ((void)(p))
#define TIN_IN_ATTRS(t, n) tf_attrs(tb, #t, t, n)
#define TIN_GET_ATTRS(t, n) tf_attr_types(tb, #t, t, n)
#define TIN_MECH(p) tf_mech(tb, #p, p)
#define TIN_IN_BYTES(p, n) tf_bytes(tb, #p, p, n, false)
#define TIN_OUT_BYTES(p, n) tf_buf_cap(tb, #p, p, n)
#define TIN_IN_SECRET(p, n) tf_bytes(tb, #p, p, n, true)
#define TIN_OUT_SECRET(p, n) tf_buf_cap(tb, #p, p, n)
#define TIN_OUT_RANDOM(p, n) tf_ulong(tb, #n, n)
#define TIN_WAIT_FLAGS(f) tf_flags(tb, #f, P11_FLAGS_WAIT, f)

#define TOUT_INIT_ARGS(p) ((void)(p))
#define TOUT_RESERVED(p) ((void)(p))
#define TOUT_FUNCTION_LIST(p) ((void)(p))
#define TOUT_BOOL(b) ((void)(b))
#define TOUT_SLOT(s) ((void)(s))
#define TOUT_OUT_SLOT(p) tf_out_ulong(tb, rv, #p, p)
#define TOUT_OUT_SLOTS(p, n) tf_out_slots(tb, rv, #p, #n, p, n, -1)
#define TOUT_OUT_INFO(p) tf_out_info(tb, rv, #p, p)
#define TOUT_OUT_SLOT_INFO(p) tf_out_slot_info(tb, rv, #p, p)
#define TOUT_OUT_TOKEN_INFO(p) tf_out_token_info(tb, rv, #p, p)
#define TOUT_OUT_MECHS(p, n) tf_out_slots(tb, rv, #p, #n, p, n, P11_CONST_MECH)
#define TOUT_MECH_TYPE(t) ((void)(t))
#define TOUT_OUT_MECH_INFO(p) tf_out_mech_info(tb, rv, #p, p)
#define TOUT_PIN(p, n) ((void)(p), (void)(n))
#define TOUT_LABEL(p) ((void)(p))
#define TOUT_SESSION(h) ((void)(h))
#define TOUT_SESSION_FLAGS(f) ((void)(f))
#define TOUT_APP(p) ((void)(p))
#define TOUT_NOTIFY(f) ((void)(f))
#define TOUT_OUT_SESSION(p) tf_out_ulong(tb, rv, #p, p)
#define TOUT_OUT_SESSION_INFO(p) tf_out_session_info(tb, rv, #p, p)
#define TOUT_USER(u) ((void)(u))
#define TOUT_HANDLE(h) ((void)(h))
#define TOUT_OUT_HANDLE(p) tf_out_ulong(tb, rv, #p, p)
#define TOUT_OUT_HANDLES(p, m, n) tf_out_handles(tb, rv, #p, #n, p, m, n)
#define TOUT_OUT_ULONG(p) tf_out_ulong(tb, rv, #p, p)
#define TOUT_IN_ATTRS(t, n) ((void)(t), (void)(n))
#define TOUT_GET_ATTRS(t, n) tf_out_attrs(tb, rv, #t, t, n)
#define TOUT_MECH(p) ((void)(p))
#define TOUT_IN_BYTES(p, n) ((void)(p), (void)(n))
#define TOUT_OUT_BYTES(p, n) tf_out_bytes(tb, rv, #p, #n, p, n, false)
#define TOUT_IN_SECRET(p, n) ((void)(p), (void)(n))
#define TOUT_OUT_SECRET(p, n) tf_out_bytes(tb, rv, #p, #n, p, n, true)
#define TOUT_OUT_RANDOM(p, n) ((void)(p), (void)(n))
#define TOUT_WAIT_FLAGS(f) ((void)(f))

#define P11_TIN(t) P11_KIND_APPLY(TIN_, t)
#define P11_TOUT(t) P11_KIND_APPLY(TOUT_, t)

#define P11FN(name, ...)                                                      \
	static CK_RV trace_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__)) \
	{                                                                     \
		trace_call call;                                              \
		p11_tb *tb;                                                   \
		CK_RV rv;                                                     \
		tb = call_begin(self->data, &call, P11_FN_##name);            \
		P11_MAP(P11_TIN, P11_SEMI, __VA_ARGS__);                      \
		call_enter(&call);                                            \
		rv = P11_NEXT(self, name, P11_ARGS(__VA_ARGS__));             \
		call_exit(&call);                                             \
		P11_MAP(P11_TOUT, P11_SEMI, __VA_ARGS__);                     \
		call_end(&call, rv);                                          \
		return rv;                                                    \
	}
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL

static const p11_ops trace_ops = {
#define P11FN(name, ...) .C_##name = trace_C_##name,
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
};

static void trace_destroy(p11_layer *self)
{
	trace_state *ts = self->data;

	crash_uninstall();
	if (ts->fd >= 0)
		close(ts->fd);
	compat_mutex_free(ts->lock);
	free(ts);
}

p11_layer *p11_trace_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	const p11_config *cfg = ctx->cfg;
	const char *file, *format, *data;
	char dir[4096], pattern[4200];
	uint64_t max_size = 0;
	bool enable = false;
	p11_layer *layer = NULL;
	trace_state *ts = NULL;

	err[0] = '\0';
	file = p11_config_get(cfg, P11_KEY_TRACE_FILE, err, errlen);
	if (file == NULL || !p11_config_bool(cfg, P11_KEY_TRACE_ENABLE, &enable, err, errlen) ||
	    !p11_config_size(cfg, P11_KEY_TRACE_MAXSIZE, &max_size, err, errlen))
		return NULL;
	format = p11_config_get(cfg, P11_KEY_TRACE_FORMAT, err, errlen);
	data = format ? p11_config_get(cfg, P11_KEY_TRACE_DATA, err, errlen) : NULL;
	if (format == NULL || data == NULL)
		return NULL;
	if (file[0] == '\0' && !enable)
		return NULL; /* trace off: err stays empty */

	layer = calloc(1, sizeof(*layer));
	ts = calloc(1, sizeof(*ts));
	if (layer == NULL || ts == NULL || (ts->lock = compat_mutex_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	ts->format = strcasecmp(format, "text") == 0 ? P11_FMT_TEXT : P11_FMT_JSONL;
	ts->data = strcasecmp(data, "none") == 0 ? P11_DATA_NONE :
	           strcasecmp(data, "hex") == 0 ? P11_DATA_HEX : P11_DATA_LENGTH;
	ts->max_size = max_size;
	if (file[0] == '\0') {
		if (!compat_state_dir(dir, sizeof(dir))) {
			snprintf(err, errlen, "trace: no HOME or XDG_STATE_HOME for the default trace folder; "
			         "set [trace] File");
			goto fail;
		}
		mkdir_parents(dir);
		snprintf(pattern, sizeof(pattern), "%s/p11shim-%%p.%s", dir,
		         ts->format == P11_FMT_JSONL ? "jsonl" : "log");
		file = pattern;
	}
	expand_path(file, ts->path, sizeof(ts->path));
	ts->fd = open_trace_file(ts->path);
	if (ts->fd >= 0) {
		struct stat st;
		if (fstat(ts->fd, &st) == 0)
			atomic_store(&ts->est_size, (unsigned long long)st.st_size);
	}
	if (ts->fd < 0) {
		/* The calls go on without a trace: say so once. */
		fprintf(stderr, "p11shim: trace: cannot open %s: %s; set [trace] File to a writable "
		        "path. Calls go on without a trace.\n", ts->path, strerror(errno));
		goto fail;
	}
	crash_install();
	layer->name = "trace";
	layer->ops = &trace_ops;
	layer->data = ts;
	layer->destroy = trace_destroy;
	return layer;
fail:
	if (ts != NULL)
		compat_mutex_free(ts->lock);
	free(ts);
	free(layer);
	return NULL;
}
