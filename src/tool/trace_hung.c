/*
 * Calls still in the backend at the end of a trace (trace_hung.h).
 *
 * What a trace alone can tell: a SlowCall note without a later record of
 * the same pid and seq is a call that had not returned when the trace
 * ended. FILE.inflight tells more (every call in flight, also the ones no
 * note was written for) and wins where both name a call.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_trace.h"
#include "p11-compat.h"
#include "p11-text.h"
#include "trace_hung.h"

#define SESSIONS 4096

struct trace_hangs {
	trace_hung notes[TRACE_HUNG_MAX]; /* SlowCall notes not (yet) followed by their call */
	size_t n_notes;
	trace_hung out[TRACE_HUNG_MAX];
	struct {
		int64_t pid, session, slot;
	} sessions[SESSIONS];
	struct {
		int64_t pid;
		uint64_t line;
	} last[TRACE_HUNG_MAX]; /* last record per process (a few) */
	size_t n_last;
	double first_s, end_s; /* the trace's first and last timestamps */
};

void trace_format_us(int64_t us, char *out, size_t cap)
{
	time_t sec = (time_t)(us / 1000000);
	struct tm tm;

	if (us <= 0 || gmtime_r(&sec, &tm) == NULL) {
		snprintf(out, cap, "?");
		return;
	}
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(us % 1000000));
}

trace_hangs *trace_hangs_new(void)
{
	trace_hangs *h = calloc(1, sizeof(*h));

	if (h)
		h->first_s = h->end_s = -1;
	return h;
}

void trace_hangs_free(trace_hangs *h)
{
	free(h);
}

static size_t sess_at(int64_t pid, int64_t s)
{
	return (size_t)(((uint64_t)pid * 0x9e3779b97f4a7c15ull) ^
	                ((uint64_t)s * 0xc2b2ae3d27d4eb4full)) %
	       SESSIONS;
}

static int64_t slot_of(const trace_hangs *h, int64_t pid, int64_t session)
{
	size_t i = sess_at(pid, session);

	return h->sessions[i].pid == pid && h->sessions[i].session == session ? h->sessions[i].slot :
	                                                                        -1;
}

void trace_hangs_add(trace_hangs *h, const trace_record *rec)
{
	int64_t v, s;
	size_t i;

	if (rec->ts) {
		double t = trace_ts_seconds(rec->ts, rec->ts_len);
		if (t >= 0 && (h->first_s < 0 || t < h->first_s))
			h->first_s = t;
		if (t > h->end_s)
			h->end_s = t;
	}
	if (rec->pending_us >= 0) {
		trace_hung *c = NULL;
		for (i = 0; i < h->n_notes && c == NULL; i++) {
			if ((int64_t)h->notes[i].e.pid == rec->pid &&
			    (int64_t)h->notes[i].e.seq == rec->seq)
				c = &h->notes[i];
		}
		if (c == NULL && h->n_notes < TRACE_HUNG_MAX)
			c = &h->notes[h->n_notes++];
		if (c == NULL)
			return;
		memset(c, 0, sizeof(*c));
		c->e.pid = (unsigned long)rec->pid;
		c->e.tid = (unsigned long)rec->tid;
		c->e.seq = (unsigned long)rec->seq;
		snprintf(c->e.fn, sizeof(c->e.fn), "%.*s", (int)rec->fn_len, rec->fn);
		c->slot = c->session = -1;
		if (json_int(trace_arg(rec, "slotID"), &v))
			c->slot = v;
		if (json_int(trace_arg(rec, "hSession"), &v)) {
			c->session = v;
			c->slot = slot_of(h, rec->pid, v);
		}
		c->held_s = (double)rec->pending_us / 1e6;
		c->note_line = rec->line;
		if (rec->ts) {
			double t = trace_ts_seconds(rec->ts, rec->ts_len);
			c->e.seen_us = (int64_t)(t * 1e6);
			c->e.entry_us = c->e.seen_us - rec->pending_us;
		}
		return;
	}
	/* The call's own record: it returned after its note. */
	for (i = 0; i < h->n_notes; i++) {
		if ((int64_t)h->notes[i].e.pid == rec->pid && (int64_t)h->notes[i].e.seq == rec->seq) {
			h->notes[i] = h->notes[--h->n_notes];
			break;
		}
	}
	if (trace_streq(rec->fn, rec->fn_len, "C_OpenSession") && rec->rv &&
	    trace_streq(rec->rv, rec->rv_len, "CKR_OK") && json_int(trace_arg(rec, "slotID"), &v) &&
	    json_int(trace_arg(rec, "phSession"), &s)) {
		i = sess_at(rec->pid, s);
		h->sessions[i].pid = rec->pid;
		h->sessions[i].session = s;
		h->sessions[i].slot = v;
	}
	for (i = 0; i < h->n_last; i++) {
		if (h->last[i].pid == rec->pid)
			break;
	}
	if (i == h->n_last && h->n_last < TRACE_HUNG_MAX)
		h->n_last++;
	if (i < h->n_last) {
		h->last[i].pid = rec->pid;
		h->last[i].line = rec->line;
	}
}

static void measure(trace_hangs *h, trace_hung *c)
{
	int64_t now = compat_wall_us();

	c->alive = compat_process_alive(c->e.pid);
	if (c->note_line && c->e.seen_us == 0) {
		snprintf(c->how, sizeof(c->how), "at its SlowCall note");
	} else if (c->alive) {
		c->held_s = (double)(now - c->e.entry_us) / 1e6;
		snprintf(c->how, sizeof(c->how), "so far: its process is still running");
	} else if (c->e.seen_us > 0) {
		c->held_s = (double)(c->e.seen_us - c->e.entry_us) / 1e6;
		snprintf(c->how, sizeof(c->how),
		         "when its watchdog last saw it; the process is gone");
	} else if (h->end_s > 0 && h->end_s * 1e6 >= (double)c->e.entry_us) {
		c->held_s = h->end_s - (double)c->e.entry_us / 1e6;
		snprintf(c->how, sizeof(c->how),
		         "at least (to the last record of the trace); the process is gone");
	} else {
		c->held_s = -1;
		snprintf(c->how, sizeof(c->how),
		         "how long is not known (no watchdog: [trace] SlowCall = 0, or a client that forbids threads); "
		         "the process is gone");
	}
	if (c->slot < 0 && c->session >= 0)
		c->slot = slot_of(h, (int64_t)c->e.pid, c->session);
}

size_t trace_hangs_finish(trace_hangs *h, const char *path, const trace_hung **out)
{
	p11_inflight_entry e[TRACE_HUNG_MAX];
	size_t n = 0, i, j;
	int got = -1;

	if (path != NULL && strcmp(path, "-") != 0)
		got = p11_inflight_read(path, e, TRACE_HUNG_MAX);
	for (i = 0; got > 0 && i < (size_t)got; i++) {
		trace_hung *c = &h->out[n];
		/* An entry older than the trace belongs to an earlier one at this path. */
		if (h->first_s > 0 && (double)e[i].entry_us / 1e6 < h->first_s - 1.0)
			continue;
		memset(c, 0, sizeof(*c));
		c->e = e[i];
		c->slot = e[i].kind == P11_INFLIGHT_SLOT ? (int64_t)e[i].id : -1;
		c->session = e[i].kind == P11_INFLIGHT_SESSION ? (int64_t)e[i].id : -1;
		for (j = 0; j < h->n_notes; j++) {
			if (h->notes[j].e.pid == e[i].pid && h->notes[j].e.seq == e[i].seq)
				c->note_line = h->notes[j].note_line;
		}
		n++;
	}
	/* Notes of calls the table does not name (no table, or it was cleared). */
	for (j = 0; j < h->n_notes && n < TRACE_HUNG_MAX; j++) {
		for (i = 0; i < n; i++) {
			if (h->out[i].e.pid == h->notes[j].e.pid &&
			    h->out[i].e.seq == h->notes[j].e.seq)
				break;
		}
		if (i == n) {
			h->out[n] = h->notes[j];
			h->out[n].e.seen_us = 0; /* measured by the note */
			n++;
		}
	}
	for (i = 0; i < n; i++) {
		measure(h, &h->out[i]);
		for (j = 0; j < h->n_last; j++) {
			if (h->last[j].pid == (int64_t)h->out[i].e.pid)
				h->out[i].before_line = h->last[j].line;
		}
	}
	*out = h->out;
	return n;
}

void trace_hung_describe(const trace_hung *c, char *out, size_t cap)
{
	char where[80] = "", since[40], held[64], fn[4 * sizeof(c->e.fn)];
	const char *end = memchr(c->e.fn, '\0', sizeof(c->e.fn));

	if (c->slot >= 0 && c->session >= 0)
		snprintf(where, sizeof(where), " (slot %lld, session %lld)", (long long)c->slot,
		         (long long)c->session);
	else if (c->slot >= 0)
		snprintf(where, sizeof(where), " (slot %lld)", (long long)c->slot);
	else if (c->session >= 0)
		snprintf(where, sizeof(where), " (session %lld)", (long long)c->session);
	trace_format_us(c->e.entry_us, since, sizeof(since));
	if (c->held_s >= 0)
		trace_format_span(c->held_s, held, sizeof(held));
	else
		snprintf(held, sizeof(held), "?");
	/* The name is the trace's or FILE.inflight's, which anyone may have written: escaped. */
	p11_text_escape(fn, sizeof(fn), c->e.fn, end ? (size_t)(end - c->e.fn) : sizeof(c->e.fn),
	                NULL);
	snprintf(out, cap, "%s%s, pid %lu tid %lu seq %lu, in the backend since %s: %s %s", fn,
	         where, c->e.pid, c->e.tid, c->e.seq, since, held, c->how);
}
