/*
 * `p11shim trace summary`: counts per function (failures, latency
 * quantiles), process, thread and note, in fixed-size tables whatever the
 * size of the trace.
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cmd_trace.h"
#include "trace_hung.h"
#include "json.h"
#include "p11-text.h"
#include "tool.h"
#include "trace_read.h"
#include "trace_render.h"

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a: short keys, no setup */
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/*
 * A function or return value name: its length and first and last 8 bytes
 * are enough to tell PKCS#11 names apart (C_GetAttributeValue and
 * C_SetAttributeValue differ early, C_SignInit and C_SignRecoverInit in
 * length), at a fraction of a byte-by-byte hash's cost; a collision only
 * costs a probe, the lookup compares the whole name.
 */
static uint32_t hash_name(const char *s, size_t n)
{
	uint64_t a = 0, b = 0, x;

	if (n >= 8) {
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
	} else {
		memcpy(&a, s, n);
	}
	x = a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full ^ (uint64_t)n;
	x ^= x >> 31;
	return (uint32_t)(x >> 16);
}

/* ---- summary ---- */

/*
 * Latency histogram: exact below 64 us, then 32 sub-buckets per power of
 * two up to 2^41 us (25 days), so the median and p99 are within 1/32 (3%)
 * of the true values; 1184 counters per function, whatever the number of
 * calls.
 */
#define HIST_EXACT 64
#define HIST_SUB 32
#define HIST_SUB_BITS 5
#define HIST_TOP_EXP 41
#define HIST_BUCKETS (HIST_EXACT + (HIST_TOP_EXP - 6) * HIST_SUB)

#define MAX_FNS 256 /* distinct function names (PKCS#11 has 70) */
#define MAX_RVS 256 /* distinct return values */
#define MAX_PIDS 4096
#define MAX_TIDS 4096
#define MAX_TAGS 64
#define MAX_NOTES 256 /* distinct note texts counted */
#define NAME_MAX_LEN 63
#define NOTE_KEEP 200 /* bytes of a note text kept */
#define TS_KEEP 40

typedef struct {
	char name[NAME_MAX_LEN + 1];
	size_t name_len;
	uint64_t calls, failed, crashed, timed, sum_us;
	uint64_t min_us, max_us;
	uint64_t *hist; /* HIST_BUCKETS, on first timed call */
	uint64_t *rvc;  /* MAX_RVS + 1, on first failure */
} fn_stat;

typedef struct {
	char first[TS_KEEP], last[TS_KEEP];
	size_t first_len, last_len;
} ts_range;

/*
 * One process. Windows gives a dead process's pid to the next one at once,
 * so a trace file named after the pid can hold several processes of one
 * pid: seq starts at 1 in every process, so a seq 1 for a pid that already
 * made calls starts its next run (1, 2, ...).
 */
typedef struct {
	int64_t pid;
	uint32_t run;
	uint64_t calls, failed;
	uint32_t threads;
	ts_range span;
} pid_stat;

typedef struct {
	int64_t pid, tid;
	uint32_t run; /* of the process, as in pid_stat */
	uint64_t calls;
} tid_stat;

typedef struct {
	char text[NOTE_KEEP + 1];
	uint32_t hash;
	uint64_t count;
	uint64_t first_line;
} note_stat;

typedef struct {
	char name[32];
	uint64_t count;
} tag_stat;

/* Open addressing: index+1 of the entry in a slot, 0 empty. Twice the entries, so probes stay short. */
#define FN_SLOTS 512
#define RV_SLOTS 512
#define PID_SLOTS 8192
#define TID_SLOTS 8192
#define NOTE_SLOTS 512

typedef struct {
	fn_stat fns[MAX_FNS + 1]; /* [MAX_FNS]: "(other)" */
	size_t n_fns;
	fn_stat *last_fn;
	uint16_t fn_slot[FN_SLOTS];

	char rvs[MAX_RVS + 1][NAME_MAX_LEN + 1];
	size_t n_rvs;
	uint16_t rv_slot[RV_SLOTS];

	pid_stat pids[MAX_PIDS];
	size_t n_pids;
	uint16_t pid_slot[PID_SLOTS];
	uint64_t pid_untracked;

	tid_stat tids[MAX_TIDS];
	size_t n_tids;
	uint16_t tid_slot[TID_SLOTS];
	uint64_t tid_untracked;

	tag_stat tags[MAX_TAGS + 1]; /* [MAX_TAGS]: "(other)" */
	size_t n_tags;
	note_stat notes[MAX_NOTES];
	size_t n_notes;
	uint16_t note_slot[NOTE_SLOTS];
	uint64_t notes_total, notes_untracked;

	uint64_t records, failed, crashed;
	trace_failures fails;
	uint64_t slow_notes;
	const trace_hung *hung; /* calls in flight at the end of the trace */
	size_t n_hung;
	ts_range span;
} summary;

/*
 * The tables keep names and texts as the trace has them (the lookups
 * compare them with the records' own bytes, and --json writes them
 * JSON-quoted); the text output escapes them when it prints.
 */
static void keep_raw(char *dst, size_t cap, const char *s, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* A loop rather than memcmp: names are short, and a library call per record showed in profiles. */
static inline int same_name(const fn_stat *f, const char *name, size_t n)
{
	size_t i;

	if (f->name_len != n)
		return 0;
	for (i = 0; i < n; i++) {
		if (f->name[i] != name[i])
			return 0;
	}
	return 1;
}

static fn_stat *fn_lookup(summary *S, const char *name, size_t n)
{
	uint32_t h;
	size_t i;

	if (n > NAME_MAX_LEN)
		n = NAME_MAX_LEN;
	/* Calls come in runs (C_FindObjects* in a row, a probe loop): try the last one first. */
	if (S->last_fn && same_name(S->last_fn, name, n))
		return S->last_fn;
	h = hash_name(name, n);
	for (i = h & (FN_SLOTS - 1);; i = (i + 1) & (FN_SLOTS - 1)) {
		uint16_t e = S->fn_slot[i];
		fn_stat *f;

		if (e == 0)
			break;
		f = &S->fns[e - 1];
		if (same_name(f, name, n))
			return f;
	}
	if (S->n_fns == MAX_FNS)
		return &S->fns[MAX_FNS];
	S->fn_slot[i] = (uint16_t)(S->n_fns + 1);
	keep_raw(S->fns[S->n_fns].name, sizeof(S->fns[0].name), name, n);
	S->fns[S->n_fns].name_len = n;
	S->fns[S->n_fns].min_us = UINT64_MAX;
	return &S->fns[S->n_fns++];
}

static size_t rv_lookup(summary *S, const char *name, size_t n)
{
	uint32_t h;
	size_t i;

	if (n > NAME_MAX_LEN)
		n = NAME_MAX_LEN;
	h = hash_name(name, n);
	for (i = h & (RV_SLOTS - 1);; i = (i + 1) & (RV_SLOTS - 1)) {
		uint16_t e = S->rv_slot[i];

		if (e == 0)
			break;
		if (strncmp(S->rvs[e - 1], name, n) == 0 && S->rvs[e - 1][n] == '\0')
			return e - 1;
	}
	if (S->n_rvs == MAX_RVS)
		return MAX_RVS;
	S->rv_slot[i] = (uint16_t)(S->n_rvs + 1);
	keep_raw(S->rvs[S->n_rvs], sizeof(S->rvs[0]), name, n);
	return S->n_rvs++;
}

static unsigned hist_bucket(uint64_t v)
{
	unsigned e;

	if (v < HIST_EXACT)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e >= HIST_TOP_EXP)
		return HIST_BUCKETS - 1;
	return HIST_EXACT + (e - 6) * HIST_SUB +
	       (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The middle of a bucket: the estimate for every value in it. */
static uint64_t hist_value(unsigned b)
{
	unsigned e, sub;
	uint64_t lo, width;

	if (b < HIST_EXACT)
		return b;
	e = (b - HIST_EXACT) / HIST_SUB + 6;
	sub = (b - HIST_EXACT) % HIST_SUB;
	lo = ((uint64_t)HIST_SUB + sub) << (e - HIST_SUB_BITS);
	width = 1ull << (e - HIST_SUB_BITS);
	return lo + width / 2;
}

static uint64_t hist_quantile(const fn_stat *f, double q)
{
	uint64_t want, seen = 0, v;
	unsigned b;

	if (f->timed == 0 || f->hist == NULL)
		return 0;
	want = (uint64_t)(q * (double)f->timed + 0.999999);
	if (want == 0)
		want = 1;
	for (b = 0; b < HIST_BUCKETS; b++) {
		seen += f->hist[b];
		if (seen >= want)
			break;
	}
	v = hist_value(b < HIST_BUCKETS ? b : HIST_BUCKETS - 1);
	/* The estimate never leaves the range actually seen. */
	if (v < f->min_us)
		v = f->min_us;
	if (v > f->max_us)
		v = f->max_us;
	return v;
}

/*
 * First and last time seen, by string order: the shim writes fixed-width
 * UTC ISO 8601, where string order is time order. Records come mostly in
 * time order, so "later than last" is asked first and usually ends it.
 */
static void keep_ts_range(ts_range *t, const char *ts, size_t n)
{
	if (n > TS_KEEP - 1)
		n = TS_KEEP - 1;
	if (t->last_len && trace_strcmp(ts, n, t->last, t->last_len) > 0) {
		memcpy(t->last, ts, n);
		t->last[n] = '\0';
		t->last_len = n;
		return;
	}
	if (t->first_len == 0 || trace_strcmp(ts, n, t->first, t->first_len) < 0) {
		memcpy(t->first, ts, n);
		t->first[n] = '\0';
		t->first_len = n;
	}
	if (t->last_len == 0) {
		memcpy(t->last, ts, n);
		t->last[n] = '\0';
		t->last_len = n;
	}
}

/* Seconds from first to last; -1 when either is not a time as the shim writes it. */
static double span_seconds(const ts_range *t)
{
	double a = trace_ts_seconds(t->first, t->first_len);
	double b = trace_ts_seconds(t->last, t->last_len);

	return a < 0 || b < 0 ? -1 : b - a;
}

static void count_process(summary *S, const trace_record *rec, int failed)
{
	pid_stat *p = NULL;
	uint32_t h = trace_hash2(rec->pid, 0);
	size_t i;

	for (i = h & (PID_SLOTS - 1);; i = (i + 1) & (PID_SLOTS - 1)) {
		uint16_t e = S->pid_slot[i];
		if (e == 0)
			break;
		if (S->pids[e - 1].pid == rec->pid) {
			p = &S->pids[e - 1];
			break;
		}
	}
	if (p == NULL) {
		if (S->n_pids == MAX_PIDS) {
			S->pid_untracked++;
			return;
		}
		S->pid_slot[i] = (uint16_t)(S->n_pids + 1);
		p = &S->pids[S->n_pids++];
		p->pid = rec->pid;
		p->run = 1;
	} else if (rec->seq == 1 && p->calls > 0) {
		/* The pid's next process: the slot now leads to it. */
		uint32_t run = p->run + 1;

		if (S->n_pids == MAX_PIDS) {
			S->pid_untracked++;
			return;
		}
		S->pid_slot[i] = (uint16_t)(S->n_pids + 1);
		p = &S->pids[S->n_pids++];
		p->pid = rec->pid;
		p->run = run;
	}
	p->calls++;
	p->failed += (uint64_t)failed;
	if (rec->ts)
		keep_ts_range(&p->span, rec->ts, rec->ts_len);

	h = trace_hash2(rec->pid, rec->tid);
	for (i = h & (TID_SLOTS - 1);; i = (i + 1) & (TID_SLOTS - 1)) {
		uint16_t e = S->tid_slot[i];
		if (e == 0)
			break;
		if (S->tids[e - 1].pid == rec->pid && S->tids[e - 1].tid == rec->tid &&
		    S->tids[e - 1].run == p->run) {
			S->tids[e - 1].calls++;
			return;
		}
	}
	if (S->n_tids == MAX_TIDS) {
		S->tid_untracked++;
		return;
	}
	S->tid_slot[i] = (uint16_t)(S->n_tids + 1);
	S->tids[S->n_tids].pid = rec->pid;
	S->tids[S->n_tids].tid = rec->tid;
	S->tids[S->n_tids].run = p->run;
	S->tids[S->n_tids].calls = 1;
	S->n_tids++;
	p->threads++;
}

/* A note's layer tag: "readers" of "readers: slot 3 hidden ...". */
static size_t note_tag(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 31; i++) {
		char c = s[i];
		if (c == ':')
			return i;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 0;
}

static void count_note(summary *S, const char *s, size_t n, uint64_t line)
{
	size_t t = note_tag(s, n), i;
	const char *tag = t ? s : "(untagged)";
	size_t tag_len = t ? t : strlen("(untagged)");
	uint32_t h;
	size_t keep = n > NOTE_KEEP ? NOTE_KEEP : n;

	S->notes_total++;
	for (i = 0; i < S->n_tags; i++) {
		if (strncmp(S->tags[i].name, tag, tag_len) == 0 && S->tags[i].name[tag_len] == '\0')
			break;
	}
	if (i == S->n_tags) {
		if (S->n_tags < MAX_TAGS)
			keep_raw(S->tags[S->n_tags++].name, sizeof(S->tags[0].name), tag, tag_len);
		else
			i = MAX_TAGS;
	}
	S->tags[i].count++;

	/* Distinct texts, compared on the first NOTE_KEEP bytes. */
	h = hash_bytes(s, keep);
	for (i = h & (NOTE_SLOTS - 1);; i = (i + 1) & (NOTE_SLOTS - 1)) {
		uint16_t e = S->note_slot[i];
		note_stat *ns;

		if (e == 0)
			break;
		ns = &S->notes[e - 1];
		if (ns->hash == h && strncmp(ns->text, s, keep) == 0 && ns->text[keep] == '\0') {
			ns->count++;
			return;
		}
	}
	if (S->n_notes == MAX_NOTES) {
		S->notes_untracked++;
		return;
	}
	S->note_slot[i] = (uint16_t)(S->n_notes + 1);
	keep_raw(S->notes[S->n_notes].text, NOTE_KEEP + 1, s, keep);
	S->notes[S->n_notes].hash = h;
	S->notes[S->n_notes].count = 1;
	S->notes[S->n_notes].first_line = line;
	S->n_notes++;
}

static void summary_add(summary *S, const trace_record *rec)
{
	fn_stat *f;
	int failed = !trace_rec_ok(rec);

	if (rec->pending_us >= 0) {
		/* A SlowCall note on a call still in the backend, not a call. */
		S->slow_notes++;
		if (rec->ts)
			keep_ts_range(&S->span, rec->ts, rec->ts_len);
		return;
	}
	f = fn_lookup(S, rec->fn, rec->fn_len);
	trace_failures_add(&S->fails, rec);

	if (f != &S->fns[MAX_FNS])
		S->last_fn = f;

	S->records++;
	f->calls++;
	if (failed) {
		size_t r;

		S->failed++;
		f->failed++;
		if (rec->rv == NULL) {
			S->crashed++;
			f->crashed++;
		}
		if (f->rvc == NULL)
			f->rvc = calloc(MAX_RVS + 1, sizeof(uint64_t));
		if (rec->rv)
			r = rv_lookup(S, rec->rv, rec->rv_len);
		else
			r = rv_lookup(S, rec->crash ? "(crashed)" : "(no return)",
			              rec->crash ? 9 : 11);
		if (f->rvc)
			f->rvc[r]++;
	}
	if (rec->us >= 0) {
		uint64_t us = (uint64_t)rec->us;

		if (f->hist == NULL)
			f->hist = calloc(HIST_BUCKETS, sizeof(uint64_t));
		if (f->hist) {
			f->hist[hist_bucket(us)]++;
			f->timed++;
			f->sum_us += us;
			if (us < f->min_us)
				f->min_us = us;
			if (us > f->max_us)
				f->max_us = us;
		}
	}
	if (rec->ts)
		keep_ts_range(&S->span, rec->ts, rec->ts_len);
	count_process(S, rec, failed);
	if (rec->notes) {
		const json_value *c;
		uint32_t i;

		for (i = 0, c = rec->notes + 1; i < rec->notes->len; i++, c = json_next(c)) {
			if (c->type == JSON_STRING)
				count_note(S, c->str, c->len, rec->line);
		}
	}
}

static int cmp_fn(const void *a, const void *b)
{
	const fn_stat *x = *(fn_stat *const *)a, *y = *(fn_stat *const *)b;

	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int cmp_pid(const void *a, const void *b)
{
	const pid_stat *x = a, *y = b;

	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->run < y->run ? -1 : x->run > y->run;
}

static int cmp_tid(const void *a, const void *b)
{
	const tid_stat *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->run != y->run)
		return x->run < y->run ? -1 : 1;
	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

static int cmp_note(const void *a, const void *b)
{
	const note_stat *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->first_line < y->first_line ? -1 : x->first_line > y->first_line;
}

static int cmp_tag(const void *a, const void *b)
{
	const tag_stat *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

typedef struct {
	uint64_t count;
	size_t rv;
} rv_count;

static int cmp_rv_count(const void *a, const void *b)
{
	const rv_count *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->rv < y->rv ? -1 : x->rv > y->rv;
}

/* The failures of one function, most frequent first; returns how many. */
static size_t fn_errors(const fn_stat *f, rv_count *out)
{
	size_t n = 0, r;

	if (f->rvc == NULL)
		return 0;
	for (r = 0; r <= MAX_RVS; r++) {
		if (f->rvc[r]) {
			out[n].count = f->rvc[r];
			out[n].rv = r;
			n++;
		}
	}
	qsort(out, n, sizeof(*out), cmp_rv_count);
	return n;
}

static const char *rv_name(const summary *S, size_t r)
{
	return r == MAX_RVS ? "(other)" : S->rvs[r];
}

/* Sorted views of the tables, for printing. */
static void summary_sort(summary *S, fn_stat **order, size_t *n_order)
{
	size_t i, n = 0;

	for (i = 0; i < S->n_fns; i++)
		order[n++] = &S->fns[i];
	if (S->fns[MAX_FNS].calls) {
		strcpy(S->fns[MAX_FNS].name, "(other)");
		order[n++] = &S->fns[MAX_FNS];
	}
	qsort(order, n, sizeof(*order), cmp_fn);
	*n_order = n;
	qsort(S->pids, S->n_pids, sizeof(S->pids[0]), cmp_pid);
	qsort(S->tids, S->n_tids, sizeof(S->tids[0]), cmp_tid);
	qsort(S->notes, S->n_notes, sizeof(S->notes[0]), cmp_note);
	if (S->tags[MAX_TAGS].count) {
		strcpy(S->tags[MAX_TAGS].name, "(other)");
		S->tags[S->n_tags++] = S->tags[MAX_TAGS];
	}
	qsort(S->tags, S->n_tags, sizeof(S->tags[0]), cmp_tag);
}

/* Threads of the process p, in the sorted tid table: [*lo, return). */
static size_t tid_range(const summary *S, const pid_stat *p, size_t *lo)
{
	size_t a = 0, b = S->n_tids;

	while (a < b) {
		size_t m = (a + b) / 2;
		const tid_stat *t = &S->tids[m];
		if (t->pid < p->pid || (t->pid == p->pid && t->run < p->run))
			a = m + 1;
		else
			b = m;
	}
	*lo = a;
	while (b < S->n_tids && S->tids[b].pid == p->pid && S->tids[b].run == p->run)
		b++;
	return b;
}

static void print_summary_text(summary *S, const char *name, uint64_t damaged, int all)
{
	fn_stat *order[MAX_FNS + 1];
	rv_count errs[MAX_RVS + 1];
	size_t n_order, i, j, k;
	uint64_t tot_calls = 0, tot_failed = 0;
	char span[64], sentence[600], e1[TS_KEEP * 4], e2[TS_KEEP * 4], e3[NAME_MAX_LEN * 4 + 1],
	        e4[NAME_MAX_LEN * 4 + 1];
	size_t show_pids;

	summary_sort(S, order, &n_order);
	printf("trace      %s\n", name);
	printf("records    %llu", (unsigned long long)S->records);
	if (damaged)
		printf(" (%llu damaged line%s skipped, see stderr)", (unsigned long long)damaged,
		       damaged == 1 ? "" : "s");
	printf("\n");
	if (S->records == 0)
		return;
	if (S->span.first[0]) {
		trace_format_span(span_seconds(&S->span), span, sizeof(span));
		printf("span       %s .. %s (%s)\n", p11_text_safe(e1, sizeof(e1), S->span.first),
		       p11_text_safe(e2, sizeof(e2), S->span.last), span);
	}
	printf("failed     %llu of %llu calls (%.1f%%)", (unsigned long long)S->failed,
	       (unsigned long long)S->records, 100.0 * (double)S->failed / (double)S->records);
	if (S->crashed)
		printf(", %llu without return (crash or hang)", (unsigned long long)S->crashed);
	trace_failures_sentence(&S->fails, sentence, sizeof(sentence));
	printf("\nfailures   %s\n", sentence);
	if (S->slow_notes)
		printf("slow calls %llu SlowCall note%s (a call still in the backend; trace show lists them)\n",
		       (unsigned long long)S->slow_notes, S->slow_notes == 1 ? "" : "s");
	trace_print_hung(stdout, S->hung, S->n_hung);
	printf("\n");

	printf("%-26s %9s %8s %9s %9s %9s %9s\n", "function", "calls", "failed", "min us",
	       "median us", "p99 us", "max us");
	for (i = 0; i < n_order; i++) {
		fn_stat *f = order[i];
		tot_calls += f->calls;
		tot_failed += f->failed;
		printf("%-26s %9llu %8llu", p11_text_safe(e3, sizeof(e3), f->name),
		       (unsigned long long)f->calls, (unsigned long long)f->failed);
		if (f->timed)
			printf(" %9llu %9llu %9llu %9llu\n", (unsigned long long)f->min_us,
			       (unsigned long long)hist_quantile(f, 0.5),
			       (unsigned long long)hist_quantile(f, 0.99),
			       (unsigned long long)f->max_us);
		else
			printf(" %9s %9s %9s %9s\n", "-", "-", "-", "-");
	}
	printf("%-26s %9llu %8llu\n", "total", (unsigned long long)tot_calls,
	       (unsigned long long)tot_failed);
	printf("(median and p99 within 3%%: from a log-scale histogram)\n");

	if (S->failed) {
		printf("\nfailures by return value\n");
		for (i = 0; i < n_order; i++) {
			size_t n = fn_errors(order[i], errs);
			for (j = 0; j < n; j++)
				printf("  %-26s %-36s %9llu\n",
				       p11_text_safe(e3, sizeof(e3), order[i]->name),
				       p11_text_safe(e4, sizeof(e4), rv_name(S, errs[j].rv)),
				       (unsigned long long)errs[j].count);
		}
	}

	printf("\nprocesses  %zu", S->n_pids);
	if (S->pid_untracked)
		printf(" (more than %d: %llu calls of further processes not itemised)", MAX_PIDS,
		       (unsigned long long)S->pid_untracked);
	printf(", threads %zu", S->n_tids);
	if (S->tid_untracked)
		printf(" (more than %d: %llu calls of further threads not itemised)", MAX_TIDS,
		       (unsigned long long)S->tid_untracked);
	printf("\n");
	show_pids = all || S->n_pids <= 20 ? S->n_pids : 20;
	for (i = 0; i < show_pids; i++) {
		pid_stat *p = &S->pids[i];
		size_t lo, hi = tid_range(S, p, &lo);

		char label[32];

		if (p->run > 1)
			snprintf(label, sizeof(label), "%lld #%u", (long long)p->pid, p->run);
		else
			snprintf(label, sizeof(label), "%lld", (long long)p->pid);
		printf("  pid %-10s %9llu calls %8llu failed %5u thread%s  %s .. %s\n", label,
		       (unsigned long long)p->calls, (unsigned long long)p->failed, p->threads,
		       p->threads == 1 ? " " : "s",
		       p->span.first[0] ? p11_text_safe(e1, sizeof(e1), p->span.first) : "-",
		       p->span.last[0] ? p11_text_safe(e2, sizeof(e2), p->span.last) : "-");
		for (k = lo; k < hi && (all || k - lo < 10); k++)
			printf("    tid %-10lld %9llu call%s\n", (long long)S->tids[k].tid,
			       (unsigned long long)S->tids[k].calls,
			       S->tids[k].calls == 1 ? "" : "s");
		if (k < hi)
			printf("    ... %zu more threads (--all lists them)\n", hi - k);
	}
	if (show_pids < S->n_pids)
		printf("  ... %zu more processes (--all lists them)\n", S->n_pids - show_pids);

	if (S->notes_total) {
		printf("\nnotes      %llu\n", (unsigned long long)S->notes_total);
		for (i = 0; i < S->n_tags; i++)
			printf("  %-24s %9llu\n", p11_text_safe(e3, sizeof(e3), S->tags[i].name),
			       (unsigned long long)S->tags[i].count);
		printf("most frequent (count, first line, text):\n");
		for (i = 0; i < S->n_notes && (all || i < 10); i++) {
			printf("  %9llu %9llu  ", (unsigned long long)S->notes[i].count,
			       (unsigned long long)S->notes[i].first_line);
			render_plain(stdout, S->notes[i].text, strlen(S->notes[i].text));
			printf("\n");
		}
		if (i < S->n_notes)
			printf("  ... %zu more distinct notes (--all lists them)\n", S->n_notes - i);
		if (S->notes_untracked)
			printf("  (more than %d distinct notes: %llu not itemised)\n", MAX_NOTES,
			       (unsigned long long)S->notes_untracked);
	}
}

static void jstr(const char *s)
{
	json_write_str(stdout, s, strlen(s));
}

static void print_summary_json(summary *S, const char *name, uint64_t damaged)
{
	fn_stat *order[MAX_FNS + 1];
	rv_count errs[MAX_RVS + 1];
	size_t n_order, i, j, k;
	double span = -1;
	char sentence[600];

	summary_sort(S, order, &n_order);
	if (S->span.first[0])
		span = span_seconds(&S->span);
	printf("{\"file\":");
	jstr(name);
	printf(",\"records\":%llu,\"damaged_lines\":%llu,\"failed\":%llu,\"no_return\":%llu",
	       (unsigned long long)S->records, (unsigned long long)damaged,
	       (unsigned long long)S->failed, (unsigned long long)S->crashed);
	trace_failures_sentence(&S->fails, sentence, sizeof(sentence));
	printf(",\"probing\":%llu,\"failures\":", (unsigned long long)S->fails.probing);
	jstr(sentence);
	printf(",\"slow_notes\":%llu,\"in_flight\":", (unsigned long long)S->slow_notes);
	trace_json_hung(stdout, S->hung, S->n_hung);
	printf(",\"first\":");
	if (S->span.first[0])
		jstr(S->span.first);
	else
		printf("null");
	printf(",\"last\":");
	if (S->span.last[0])
		jstr(S->span.last);
	else
		printf("null");
	if (span >= 0)
		printf(",\"span_seconds\":%.6f", span);
	else
		printf(",\"span_seconds\":null");

	printf(",\"functions\":[");
	for (i = 0; i < n_order; i++) {
		fn_stat *f = order[i];
		size_t n = fn_errors(f, errs);

		printf("%s{\"fn\":", i ? "," : "");
		jstr(f->name);
		printf(",\"calls\":%llu,\"failed\":%llu,\"no_return\":%llu",
		       (unsigned long long)f->calls, (unsigned long long)f->failed,
		       (unsigned long long)f->crashed);
		if (f->timed)
			printf(",\"us\":{\"min\":%llu,\"median\":%llu,\"p99\":%llu,\"max\":%llu,\"mean\":%.1f}",
			       (unsigned long long)f->min_us,
			       (unsigned long long)hist_quantile(f, 0.5),
			       (unsigned long long)hist_quantile(f, 0.99),
			       (unsigned long long)f->max_us, (double)f->sum_us / (double)f->timed);
		else
			printf(",\"us\":null");
		printf(",\"errors\":{");
		for (j = 0; j < n; j++) {
			printf("%s", j ? "," : "");
			jstr(rv_name(S, errs[j].rv));
			printf(":%llu", (unsigned long long)errs[j].count);
		}
		printf("}}");
	}
	printf("]");

	printf(",\"processes\":[");
	for (i = 0; i < S->n_pids; i++) {
		pid_stat *p = &S->pids[i];
		size_t lo, hi = tid_range(S, p, &lo);

		printf("%s{\"pid\":%lld,", i ? "," : "", (long long)p->pid);
		if (p->run > 1)
			printf("\"run\":%u,", p->run);
		printf("\"calls\":%llu,\"failed\":%llu,\"first\":", (unsigned long long)p->calls,
		       (unsigned long long)p->failed);
		jstr(p->span.first);
		printf(",\"last\":");
		jstr(p->span.last);
		printf(",\"threads\":[");
		for (k = lo; k < hi; k++)
			printf("%s{\"tid\":%lld,\"calls\":%llu}", k > lo ? "," : "",
			       (long long)S->tids[k].tid, (unsigned long long)S->tids[k].calls);
		printf("]}");
	}
	printf("],\"processes_capped\":%s,\"untracked_process_calls\":%llu",
	       S->pid_untracked ? "true" : "false", (unsigned long long)S->pid_untracked);
	printf(",\"threads_capped\":%s,\"untracked_thread_calls\":%llu",
	       S->tid_untracked ? "true" : "false", (unsigned long long)S->tid_untracked);

	printf(",\"notes\":{\"total\":%llu,\"by_tag\":{", (unsigned long long)S->notes_total);
	for (i = 0; i < S->n_tags; i++) {
		printf("%s", i ? "," : "");
		jstr(S->tags[i].name);
		printf(":%llu", (unsigned long long)S->tags[i].count);
	}
	printf("},\"texts\":[");
	for (i = 0; i < S->n_notes; i++) {
		printf("%s{\"text\":", i ? "," : "");
		jstr(S->notes[i].text);
		printf(",\"count\":%llu,\"first_line\":%llu}", (unsigned long long)S->notes[i].count,
		       (unsigned long long)S->notes[i].first_line);
	}
	printf("],\"untracked_texts\":%llu}}\n", (unsigned long long)S->notes_untracked);
}

static void summary_free(summary *S)
{
	size_t i;

	for (i = 0; i <= MAX_FNS; i++) {
		free(S->fns[i].hist);
		free(S->fns[i].rvc);
	}
	free(S);
}

static void summary_usage(FILE *f)
{
	fprintf(f, "Usage: p11shim trace summary [--json] [--all] FILE\n"
	           "\n"
	           "Counts of a trace: per function the calls, the failures by return value and\n"
	           "the latency (min, median, p99, max in microseconds); per process and thread;\n"
	           "the time span; the policy notes by layer and the most frequent ones.\n"
	           "FILE may be gzip-compressed; - reads stdin.\n"
	           "\n"
	           "  --json   one JSON document instead of text\n"
	           "  --all    list every process, thread and distinct note (text output)\n"
	           "\n"
	           "Exit status: 0, or 2 when FILE cannot be read.\n");
}

int trace_cmd_summary(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, all = 0, c, rc = TOOL_EXIT_OK;
	const char *path;
	trace_reader *r;
	trace_record rec;
	summary *S;
	trace_hangs *hangs;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'a': all = 1; break;
		case 'h': summary_usage(stdout); return TOOL_EXIT_OK;
		default: return trace_getopt_error("summary", c, argv);
		}
	}
	if ((path = trace_file_operand("summary", argc, argv)) == NULL)
		return TOOL_EXIT_USAGE;
	if ((r = trace_cmd_open(path)) == NULL)
		return TOOL_EXIT_USAGE;
	S = calloc(1, sizeof(*S));
	if (S == NULL) {
		fprintf(stderr, "p11shim: out of memory\n");
		trace_close(r);
		return TOOL_EXIT_USAGE;
	}
	S->fns[MAX_FNS].min_us = UINT64_MAX; /* "(other)" is never created by fn_lookup */
	/* The summary counts calls, never arguments. */
	trace_skip_args(r, 1);
	hangs = trace_hangs_new();
	while ((c = trace_next(r, &rec)) > 0) {
		summary_add(S, &rec);
		if (hangs)
			trace_hangs_add(hangs, &rec);
	}
	if (hangs)
		S->n_hung = trace_hangs_finish(hangs, path, &S->hung);
	if (c < 0) {
		fprintf(stderr, "p11shim: %s; the summary covers the records before it\n",
		        trace_error(r));
		rc = TOOL_EXIT_USAGE;
	} else if (S->records == 0 && trace_damaged(r) > 0) {
		fprintf(stderr, "p11shim: %s: no trace record in it\n", trace_name(r));
		rc = TOOL_EXIT_USAGE;
	}
	if (json)
		print_summary_json(S, trace_name(r), trace_damaged(r));
	else
		print_summary_text(S, trace_name(r), trace_damaged(r), all);
	summary_free(S);
	trace_hangs_free(hangs);
	trace_close(r);
	if (fflush(stdout) != 0)
		rc = TOOL_EXIT_USAGE;
	return rc;
}
