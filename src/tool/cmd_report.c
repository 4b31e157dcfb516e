/*
 * `p11shim trace report FILE [-o report.html]`: one self-contained HTML
 * page for a support engineer who did not take the trace: the findings of
 * `trace diagnose` first, the calls still in the backend, a timeline of
 * the calls per process and thread, latency per function and the sessions
 * and logins. No network: the data is a JSON document inside the page and
 * a small script draws it; no external script, style sheet or font.
 *
 * One pass over the trace. The tables count every record; the timeline
 * keeps at most TIMELINE_MAX calls: every failed call first (up to half of
 * that), and of the others every k-th, k doubling whenever the room is
 * full, and the page says which. Durations per function are kept whole
 * (4 bytes a call) for exact percentiles.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_trace.h"
#include "json.h"
#include "tool.h"
#include "trace_read.h"
#include "trace_render.h"

#define TIMELINE_MAX 20000
#define TEXT_MAX 240
#define MAX_LANES 64
#define MAX_FNS 96
#define MAX_SESSIONS 1000

enum { ST_OK, ST_PROBING, ST_FAILED, ST_CRASHED };

typedef struct {
	double t;   /* seconds since 1970, at entry */
	double dur; /* seconds */
	uint64_t line;
	uint16_t lane, fn;
	uint8_t status;
	char text[TEXT_MAX];
} tl_call;

typedef struct {
	char name[40];
	uint64_t calls, failed;
	uint32_t *us;
	size_t n_us, cap_us;
} fn_lat;

typedef struct {
	int64_t pid, session, slot;
	double opened, closed; /* -1: not in the trace */
	uint64_t line;
	char logins[160]; /* "CKU_USER ok 12:00:01; CKU_SO CKR_PIN_INCORRECT" */
	size_t logins_len;
} sess;

typedef struct {
	tl_call *tl;
	size_t n_tl, n_failed_kept;
	uint64_t stride, seen_ok; /* keep every stride-th call that did not fail */
	uint64_t records, failed_dropped;
	struct {
		int64_t pid, tid;
	} lanes[MAX_LANES];
	size_t n_lanes;
	uint64_t other_lane; /* calls of threads beyond MAX_LANES */
	fn_lat fns[MAX_FNS];
	size_t n_fns;
	sess sessions[MAX_SESSIONS];
	size_t n_sessions;
	uint64_t sessions_dropped;
	double t_min, t_max;
} report;

static int status_of(const trace_record *rec)
{
	if (rec->rv == NULL)
		return ST_CRASHED;
	if (trace_streq(rec->rv, rec->rv_len, "CKR_OK"))
		return ST_OK;
	return trace_is_probing(rec) ? ST_PROBING : ST_FAILED;
}

static uint16_t lane_of(report *R, const trace_record *rec)
{
	size_t i;

	for (i = 0; i < R->n_lanes; i++) {
		if (R->lanes[i].pid == rec->pid && R->lanes[i].tid == rec->tid)
			return (uint16_t)i;
	}
	if (R->n_lanes == MAX_LANES) {
		R->other_lane++;
		return MAX_LANES - 1; /* the last lane takes the rest */
	}
	R->lanes[R->n_lanes].pid = rec->pid;
	R->lanes[R->n_lanes].tid = rec->tid;
	return (uint16_t)R->n_lanes++;
}

static fn_lat *fn_of(report *R, const trace_record *rec, uint16_t *index)
{
	size_t i;

	for (i = 0; i < R->n_fns; i++) {
		if (trace_streq(rec->fn, rec->fn_len, R->fns[i].name))
			break;
	}
	if (i == R->n_fns) {
		if (R->n_fns == MAX_FNS)
			i = MAX_FNS - 1; /* names beyond PKCS#11's: one row "(other)" */
		else
			snprintf(R->fns[R->n_fns++].name, sizeof(R->fns[0].name), "%.*s",
			         (int)(rec->fn_len < 39 ? rec->fn_len : 39), rec->fn);
		if (i == MAX_FNS - 1 && R->n_fns == MAX_FNS)
			snprintf(R->fns[i].name, sizeof(R->fns[0].name), "(other)");
	}
	*index = (uint16_t)i;
	return &R->fns[i];
}

/* The room is full: every other kept call that did not fail goes. */
static void thin(report *R)
{
	size_t i, o = 0, ok = 0;

	for (i = 0; i < R->n_tl; i++) {
		if (R->tl[i].status >= ST_FAILED || ok++ % 2 == 0)
			R->tl[o++] = R->tl[i];
	}
	R->n_tl = o;
	R->stride *= 2;
}

static void keep_call(report *R, const trace_record *rec, double t, uint16_t lane, uint16_t fn, int st)
{
	tl_call *c;

	if (st >= ST_FAILED) {
		if (R->n_failed_kept >= TIMELINE_MAX / 2) {
			R->failed_dropped++;
			return;
		}
		R->n_failed_kept++;
	} else if (R->seen_ok++ % R->stride != 0) {
		return;
	}
	if (R->n_tl == TIMELINE_MAX)
		thin(R);
	if (st < ST_FAILED && R->n_tl == TIMELINE_MAX)
		return;
	c = &R->tl[R->n_tl++];
	c->t = t;
	c->dur = rec->us >= 0 ? (double)rec->us / 1e6 : 0;
	c->line = rec->line;
	c->lane = lane;
	c->fn = fn;
	c->status = (uint8_t)st;
	render_call(rec, c->text, sizeof(c->text), 160);
}

static sess *session_find(report *R, int64_t pid, int64_t h)
{
	size_t i;

	for (i = R->n_sessions; i-- > 0;) {
		if (R->sessions[i].pid == pid && R->sessions[i].session == h &&
		    R->sessions[i].closed < 0)
			return &R->sessions[i];
	}
	return NULL;
}

static void track_session(report *R, const trace_record *rec, double t, int st)
{
	int64_t v, h;
	sess *s;

	if (trace_streq(rec->fn, rec->fn_len, "C_OpenSession") && st == ST_OK &&
	    json_int(trace_arg(rec, "slotID"), &v) && json_int(trace_arg(rec, "phSession"), &h)) {
		if (R->n_sessions == MAX_SESSIONS) {
			R->sessions_dropped++;
			return;
		}
		s = &R->sessions[R->n_sessions++];
		memset(s, 0, sizeof(*s));
		s->pid = rec->pid;
		s->session = h;
		s->slot = v;
		s->opened = t;
		s->closed = -1;
		s->line = rec->line;
		return;
	}
	if (!json_int(trace_arg(rec, "hSession"), &h) || (s = session_find(R, rec->pid, h)) == NULL) {
		size_t i;
		/* C_CloseAllSessions and C_Finalize close every session (of a slot, of the process). */
		if ((trace_streq(rec->fn, rec->fn_len, "C_CloseAllSessions") &&
		     json_int(trace_arg(rec, "slotID"), &v)) ||
		    trace_streq(rec->fn, rec->fn_len, "C_Finalize")) {
			for (i = 0; i < R->n_sessions; i++) {
				sess *x = &R->sessions[i];
				if (x->pid == rec->pid && x->closed < 0 &&
				    (trace_streq(rec->fn, rec->fn_len, "C_Finalize") || x->slot == v))
					x->closed = t;
			}
		}
		return;
	}
	if (trace_streq(rec->fn, rec->fn_len, "C_CloseSession") && st == ST_OK) {
		s->closed = t;
	} else if (trace_streq(rec->fn, rec->fn_len, "C_Login") ||
	           trace_streq(rec->fn, rec->fn_len, "C_Logout")) {
		const json_value *u = trace_arg(rec, "userType");
		char item[96];
		int n = snprintf(item, sizeof(item), "%s%s%.*s %.*s", s->logins_len ? "; " : "",
		                 trace_streq(rec->fn, rec->fn_len, "C_Logout") ? "logout" : "",
		                 u && u->type == JSON_STRING ? (int)u->len : 0, u ? u->str : "",
		                 rec->rv ? (int)rec->rv_len : 9, rec->rv ? rec->rv : "no return");
		if (n > 0 && s->logins_len + (size_t)n < sizeof(s->logins) - 4) {
			memcpy(s->logins + s->logins_len, item, (size_t)n);
			s->logins_len += (size_t)n;
			s->logins[s->logins_len] = '\0';
		} else if (s->logins_len + 4 < sizeof(s->logins) && !strstr(s->logins, "...")) {
			memcpy(s->logins + s->logins_len, " ...", 5);
			s->logins_len += 4;
		}
	}
}

static void report_add(report *R, const trace_record *rec)
{
	double t = rec->ts ? trace_ts_seconds(rec->ts, rec->ts_len) : -1;
	uint16_t lane, fni;
	fn_lat *f;
	int st;

	if (rec->pending_us >= 0 || t < 0)
		return; /* SlowCall notes show as calls in flight; a record without time has no place */
	R->records++;
	st = status_of(rec);
	lane = lane_of(R, rec);
	f = fn_of(R, rec, &fni);
	f->calls++;
	if (st >= ST_FAILED)
		f->failed++;
	if (rec->us >= 0) {
		if (f->n_us == f->cap_us) {
			size_t cap = f->cap_us ? f->cap_us * 2 : 256;
			uint32_t *n = realloc(f->us, cap * sizeof(*n));
			if (n != NULL) {
				f->us = n;
				f->cap_us = cap;
			}
		}
		if (f->n_us < f->cap_us)
			f->us[f->n_us++] = rec->us > UINT32_MAX ? UINT32_MAX : (uint32_t)rec->us;
	}
	if (R->t_min < 0 || t < R->t_min)
		R->t_min = t;
	if (t + (rec->us > 0 ? (double)rec->us / 1e6 : 0) > R->t_max)
		R->t_max = t + (rec->us > 0 ? (double)rec->us / 1e6 : 0);
	keep_call(R, rec, t, lane, fni, st);
	track_session(R, rec, t, st);
}

/* ---- the page ---- */

/* A JSON string safe inside <script>: no "<", ">" or "&" as such. */
static void js_str(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	fputc('"', f);
	for (; *u; u++) {
		if (*u == '"' || *u == '\\')
			fprintf(f, "\\%c", *u);
		else if (*u < 0x20 || *u == '<' || *u == '>' || *u == '&')
			fprintf(f, "\\u%04x", *u);
		else
			fputc(*u, f);
	}
	fputc('"', f);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static uint32_t pct(const fn_lat *f, double q)
{
	size_t i;

	if (f->n_us == 0)
		return 0;
	i = (size_t)(q * (double)(f->n_us - 1) + 0.5);
	return f->us[i];
}

static const char page_head[] =
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width\">\n"
        "<title>p11shim trace report</title>\n<style>\n"
        "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;margin:0;"
        "color:#1d2330;background:#f4f5f8}\n"
        "header{background:#1f3a5f;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}\n"
        "header .meta{opacity:.85;font-size:13px;margin-top:4px}\n"
        "main{padding:8px 24px 40px;max-width:1400px}\n"
        "section{background:#fff;border:1px solid #d8dce5;border-radius:6px;margin:16px 0;padding:12px 16px}\n"
        "h2{font-size:16px;margin:0 0 8px}\n"
        ".finding{border-left:5px solid #999;padding:6px 12px;margin:10px 0;background:#fafbfc}\n"
        ".finding.error{border-color:#c62828}.finding.warning{border-color:#ef8f00}.finding.info{border-color:#2e7bcf}\n"
        ".finding h3{margin:0 0 4px;font-size:15px}.sev{display:inline-block;font-size:11px;font-weight:700;"
        "text-transform:uppercase;padding:1px 6px;border-radius:3px;color:#fff;background:#999;margin-right:6px}\n"
        ".error .sev{background:#c62828}.warning .sev{background:#ef8f00}.info .sev{background:#2e7bcf}\n"
        ".fix{font-family:ui-monospace,Consolas,'DejaVu Sans Mono',monospace;font-size:12.5px;background:#eef6ee;"
        "padding:4px 8px;margin:3px 0;border-radius:3px}\n"
        ".mono,.rec{font-family:ui-monospace,Consolas,'DejaVu Sans Mono',monospace;font-size:12.5px}\n"
        ".muted{color:#5b6478}.ok{color:#2e7d32;font-weight:600}\n"
        "table{border-collapse:collapse;font-size:13px}th,td{padding:3px 10px;border-bottom:1px solid #e3e6ee;"
        "text-align:left}th{background:#eef1f6}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
        "tr.bad td{color:#c62828}\n"
        "#tlwrap{position:relative;overflow-x:auto}canvas{display:block}\n"
        ".rec{white-space:pre-wrap;word-break:break-all;background:#f7f7fa;border:1px solid #e0e3ea;padding:8px;"
        "margin-top:8px;min-height:2.5em}\n"
        ".legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:10px;"
        "margin-right:4px;vertical-align:middle}\n"
        ".hung{background:#fff4e5;border:1px solid #ef8f00;border-radius:4px;padding:6px 10px;margin:6px 0}\n"
        "</style></head><body>\n"
        "<header><h1>p11shim trace report</h1><div class=\"meta\" id=\"meta\"></div></header>\n<main>\n"
        "<section id=\"findings\"><h2>Findings</h2><div id=\"findings-list\"></div></section>\n"
        "<section id=\"inflight\"><h2>Calls still in the backend at the end of the trace</h2>"
        "<div id=\"inflight-list\"></div></section>\n"
        "<section id=\"timeline\"><h2>Timeline: calls per process and thread</h2>"
        "<div class=\"muted\" id=\"tl-note\"></div>"
        "<div class=\"legend muted\"><span><i style=\"background:#5b8bd0\"></i>CKR_OK</span>"
        "<span><i style=\"background:#b8c4d6\"></i>client probing</span>"
        "<span><i style=\"background:#d32f2f\"></i>failed</span>"
        "<span><i style=\"background:#ef8f00\"></i>crashed or still in the backend</span></div>"
        "<div id=\"tlwrap\"><canvas id=\"tl\" width=\"1200\" height=\"100\"></canvas></div>"
        "<div class=\"rec\" id=\"rec\">Hover over a bar to see its call; click to keep it here.</div></section>\n"
        "<section id=\"latency\"><h2>Latency per function</h2><div id=\"latency-table\"></div></section>\n"
        "<section id=\"sessions\"><h2>Sessions and logins</h2><div id=\"sessions-table\"></div></section>\n"
        "</main>\n<script id=\"data\" type=\"application/json\">\n";

static const char page_tail[] =
        "\n</script>\n<script>\n"
        "'use strict';\n"
        "const D=JSON.parse(document.getElementById('data').textContent);\n"
        "const $=id=>document.getElementById(id);\n"
        "function el(tag,cls,text){const e=document.createElement(tag);if(cls)e.className=cls;"
        "if(text!==undefined)e.textContent=text;return e;}\n"
        "function us(v){return v>=1e6?(v/1e6).toFixed(2)+' s':v>=1e3?(v/1e3).toFixed(1)+' ms':v+' us';}\n"
        "function iso(t){return new Date(t*1000).toISOString().replace('T',' ').replace('Z',' UTC');}\n"
        "const dg=D.diagnosis;\n"
        "$('meta').textContent=D.file+' \\u2014 '+D.records.toLocaleString()+' calls, '+D.processes+' process(es), '"
        "+D.lanes.length+' thread(s)'+(D.t_min>0?', '+iso(D.t_min)+' .. '+iso(D.t_max):'')+' \\u2014 '+dg.failures;\n"
        "(function findings(){const box=$('findings-list');\n"
        " if(!dg.findings.length){box.appendChild(el('p','ok',dg.unexplained_failures?"
        "'No known pattern matched; '+dg.unexplained_failures+' failing call(s) are not explained:':"
        "'Nothing to diagnose: '+dg.failures+'.'));\n"
        "  if(dg.first_unexplained)dg.first_unexplained.forEach(c=>box.appendChild(el('div','mono','line '+c.line+': '+c.call)));}\n"
        " dg.findings.forEach(f=>{const d=el('div','finding '+f.severity);d.id='finding-'+f.id;\n"
        "  const h=el('h3');h.appendChild(el('span','sev',f.severity));h.appendChild(document.createTextNode(f.title+' ('+f.id+')'));d.appendChild(h);\n"
        "  if(f.failed.length)d.appendChild(el('div','mono','failed: '+f.failed.map(x=>x.fn+' \\u2192 '+x.rv+' ('+x.count+')').join(', ')));\n"
        "  if(f.note)d.appendChild(el('div','mono','note: '+f.note));\n"
        "  if(f.detail)d.appendChild(el('p','',f.detail));\n"
        "  d.appendChild(el('p','muted',f.why));\n"
        "  d.appendChild(el('div','muted','evidence: '+f.evidence.records+' record(s), line(s) '+f.evidence.lines.join(', ')));\n"
        "  d.appendChild(el('div','mono','line '+f.evidence.first.line+': '+f.evidence.first.call));\n"
        "  if(f.evidence.before){const b=el('details');b.appendChild(el('summary','muted','the calls of that process before it'));"
        "f.evidence.before.forEach(c=>b.appendChild(el('div','mono','line '+c.line+': '+c.call)));d.appendChild(b);}\n"
        "  f.fix.forEach(x=>{d.appendChild(el('div','fix','fix: '+x.file+(x.section?'  ['+x.section+']':'')+(x.key?'  '+x.key+' = ':'  \u2192 ')+x.value));});\n"
        "  if(f.check)d.appendChild(el('div','muted','check: '+f.check));\n"
        "  box.appendChild(d);});\n"
        " if(dg.findings.length&&dg.unexplained_failures)box.appendChild(el('p','muted',dg.unexplained_failures+' other failing call(s) matched no pattern.'));\n"
        "})();\n"
        "(function inflight(){const box=$('inflight-list');\n"
        " if(!dg.in_flight.length){box.appendChild(el('p','muted','None: every call returned.'));return;}\n"
        " dg.in_flight.forEach(h=>{const d=el('div','hung mono',h.text);d.dataset.fn=h.fn;box.appendChild(d);});})();\n"
        "(function timeline(){const c=$('tl'),ctx=c.getContext('2d');const L=D.lanes.length||1,lh=22,top=26,left=170;\n"
        " const W=Math.max(900,Math.min(1400,c.parentNode.clientWidth||1200));c.width=W;c.height=top+L*lh+8;\n"
        " let t0=D.t_min,t1=D.t_max;dg.in_flight.forEach(h=>{if(h.seconds!==null)t1=Math.max(t1,h.since_s+h.seconds);});if(!(t1>t0))t1=t0+1e-3;\n"
        " const x=t=>left+(t-t0)/(t1-t0)*(W-left-10);\n"
        " $('tl-note').textContent=D.timeline.note;\n"
        " ctx.font='12px system-ui,sans-serif';ctx.fillStyle='#5b6478';\n"
        " for(let i=0;i<=4;i++){const t=t0+(t1-t0)*i/4,xx=x(t);ctx.fillRect(xx,top-4,1,L*lh+4);"
        "ctx.fillText('+'+((t-t0)).toFixed(3)+' s',Math.min(xx+2,W-70),14);}\n"
        " D.lanes.forEach((l,i)=>{ctx.fillStyle=i%2?'#f7f8fb':'#eef1f6';ctx.fillRect(0,top+i*lh,W,lh);"
        "ctx.fillStyle='#1d2330';ctx.fillText('pid '+l.pid+' tid '+l.tid,6,top+i*lh+15);});\n"
        " const col=['#5b8bd0','#b8c4d6','#d32f2f','#ef8f00'];const hits=[];\n"
        " D.timeline.calls.forEach((k,i)=>{const [t,dur,line,lane,fn,st]=k;const x0=x(t),w=Math.max(2,x(t+dur)-x0);"
        "ctx.fillStyle=col[st];ctx.fillRect(x0,top+lane*lh+3,w,lh-6);hits.push([x0,x0+w,lane,i]);});\n"
        " const hungs=[];dg.in_flight.forEach(h=>{const li=D.lanes.findIndex(l=>l.pid===h.pid&&l.tid===h.tid);if(li<0)return;"
        "const x0=x(Math.max(h.since_s,t0));ctx.fillStyle='#ef8f00';ctx.fillRect(x0,top+li*lh+3,W-10-x0,lh-6);"
        "ctx.fillStyle='#000';ctx.fillText(h.fn+' in flight',Math.min(x0+4,W-120),top+li*lh+15);hungs.push([x0,W,li,h]);});\n"
        " const rec=$('rec');let pinned=false;\n"
        " function find(ev){const r=c.getBoundingClientRect(),mx=ev.clientX-r.left,my=ev.clientY-r.top;const lane=Math.floor((my-top)/lh);"
        "let best=null,bd=5;for(const h of hits){if(h[2]!==lane)continue;const d=mx<h[0]?h[0]-mx:mx>h[1]?mx-h[1]:0;if(d<bd){bd=d;best=h;}}"
        "if(best){const k=D.timeline.calls[best[3]];return 'line '+k[2]+' \\u2014 '+D.fns[k[4]]+' \\u2014 '+us(Math.round(k[1]*1e6))+'\\n'+D.timeline.text[best[3]];}"
        "for(const h of hungs){if(h[2]===lane&&mx>=h[0])return 'still in the backend: '+h[3].text;}return null;}\n"
        " c.addEventListener('mousemove',ev=>{if(pinned)return;const t=find(ev);if(t)rec.textContent=t;});\n"
        " c.addEventListener('click',ev=>{const t=find(ev);pinned=!!t;if(t)rec.textContent=t;});\n"
        "})();\n"
        "(function latency(){const t=el('table');const h=t.insertRow();['function','calls','failures','p50','p95','max']"
        ".forEach(s=>h.appendChild(el('th','',s)));\n"
        " D.latency.forEach(r=>{const tr=t.insertRow();if(r.failed)tr.className='bad';tr.appendChild(el('td','mono',r.fn));"
        "[r.calls.toLocaleString(),r.failed.toLocaleString(),us(r.p50),us(r.p95),us(r.max)].forEach(v=>tr.appendChild(el('td','n',v)));});\n"
        " $('latency-table').appendChild(t);$('latency-table').appendChild(el('p','muted','Counted over all '+D.records.toLocaleString()+' calls; failures exclude client probing.'));})();\n"
        "(function sessions(){const box=$('sessions-table');if(!D.sessions.length){box.appendChild(el('p','muted','No session was opened.'));return;}\n"
        " const t=el('table');const h=t.insertRow();['pid','session','slot','opened','closed','logins (user type, result)','line']"
        ".forEach(s=>h.appendChild(el('th','',s)));\n"
        " D.sessions.forEach(s=>{const tr=t.insertRow();if(/CKR_(?!OK)|no return/.test(s.logins))tr.className='bad';"
        "[s.pid,s.session,s.slot,iso(s.opened),s.closed>0?iso(s.closed):'open at the end',s.logins||'-',s.line].forEach((v,i)=>tr.appendChild(el('td',i<3||i==6?'n':'mono',String(v))));});\n"
        " box.appendChild(t);if(D.sessions_note)box.appendChild(el('p','muted',D.sessions_note));})();\n"
        "</script>\n</body></html>\n";

static void write_page(FILE *out, report *R, const char *name, char *diag_json, size_t diag_len)
{
	size_t i;
	char note[400];
	int64_t pids[MAX_LANES];
	size_t n_pids = 0, j;

	fputs(page_head, out);
	fputs("{\"file\":", out);
	js_str(out, name);
	fprintf(out, ",\"records\":%llu,\"t_min\":%.6f,\"t_max\":%.6f,\"lanes\":[",
	        (unsigned long long)R->records, R->t_min < 0 ? 0 : R->t_min, R->t_max);
	for (i = 0; i < R->n_lanes; i++) {
		fprintf(out, "%s{\"pid\":%lld,\"tid\":%lld}", i ? "," : "",
		        (long long)R->lanes[i].pid, (long long)R->lanes[i].tid);
		for (j = 0; j < n_pids && pids[j] != R->lanes[i].pid; j++)
			;
		if (j == n_pids)
			pids[n_pids++] = R->lanes[i].pid;
	}
	fprintf(out, "],\"processes\":%zu,\"fns\":[", n_pids);
	for (i = 0; i < R->n_fns; i++) {
		fputs(i ? "," : "", out);
		js_str(out, R->fns[i].name);
	}
	/* The diagnosis as `trace diagnose --json` has it; '<' and '&' only occur inside its strings. */
	fputs("],\"diagnosis\":", out);
	for (i = 0; i < diag_len; i++) {
		char ch = diag_json[i];
		if (ch == '<' || ch == '>' || ch == '&')
			fprintf(out, "\\u%04x", (unsigned char)ch);
		else if (ch != '\n')
			fputc(ch, out);
	}
	if (R->n_tl == R->records)
		snprintf(note, sizeof(note),
		         "All %llu calls, one bar each (width: duration, at least 2 pixels).",
		         (unsigned long long)R->records);
	else
		snprintf(note, sizeof(note),
		         "A sample: %zu of %llu calls, every failed call%s and every %llu%s of "
		         "the others (a page cannot draw more); the tables count all %llu calls.",
		         R->n_tl, (unsigned long long)R->records,
		         R->failed_dropped ? " up to 10,000" : "", (unsigned long long)R->stride,
		         R->stride == 2 ? "nd" :
		         R->stride == 3 ? "rd" :
		                          "th",
		         (unsigned long long)R->records);
	if (R->other_lane)
		snprintf(note + strlen(note), sizeof(note) - strlen(note),
		         " More than %d threads: the last row holds "
		         "the calls of the others.",
		         MAX_LANES);
	fputs(",\"timeline\":{\"note\":", out);
	js_str(out, note);
	fputs(",\"calls\":[", out);
	for (i = 0; i < R->n_tl; i++) {
		const tl_call *c = &R->tl[i];
		fprintf(out, "%s[%.6f,%.6f,%llu,%u,%u,%u]", i ? "," : "", c->t, c->dur,
		        (unsigned long long)c->line, c->lane, c->fn, c->status);
	}
	fputs("],\"text\":[", out);
	for (i = 0; i < R->n_tl; i++) {
		fputs(i ? "," : "", out);
		js_str(out, R->tl[i].text);
	}
	fputs("]},\"latency\":[", out);
	for (i = 0; i < R->n_fns; i++) {
		fn_lat *f = &R->fns[i];
		qsort(f->us, f->n_us, sizeof(*f->us), cmp_u32);
		fprintf(out, "%s{\"fn\":", i ? "," : "");
		js_str(out, f->name);
		fprintf(out, ",\"calls\":%llu,\"failed\":%llu,\"p50\":%u,\"p95\":%u,\"max\":%u}",
		        (unsigned long long)f->calls, (unsigned long long)f->failed, pct(f, 0.5),
		        pct(f, 0.95), f->n_us ? f->us[f->n_us - 1] : 0);
	}
	fputs("],\"sessions\":[", out);
	for (i = 0; i < R->n_sessions; i++) {
		const sess *s = &R->sessions[i];
		fprintf(out,
		        "%s{\"pid\":%lld,\"session\":%lld,\"slot\":%lld,\"opened\":%.6f,\"closed\":%.6f,\"line\":%llu,"
		        "\"logins\":",
		        i ? "," : "", (long long)s->pid, (long long)s->session, (long long)s->slot,
		        s->opened, s->closed, (unsigned long long)s->line);
		js_str(out, s->logins);
		fputc('}', out);
	}
	fputs("],\"sessions_note\":", out);
	if (R->sessions_dropped) {
		snprintf(note, sizeof(note), "The first %d sessions; %llu more are not listed.",
		         MAX_SESSIONS, (unsigned long long)R->sessions_dropped);
		js_str(out, note);
	} else {
		fputs("null", out);
	}
	fputs("}", out);
	fputs(page_tail, out);
}

static void report_usage(FILE *f)
{
	fprintf(f, "Usage: p11shim trace report [-o OUT.html] FILE\n"
	           "\n"
	           "Writes one self-contained HTML page about the trace, for a support engineer\n"
	           "who did not take it: the findings of 'trace diagnose' first, the calls still in\n"
	           "the backend, a timeline of the calls per process and thread (hover or click a\n"
	           "bar for its record), latency per function (count, failures, p50, p95, max) and\n"
	           "the sessions and logins. It loads nothing from the network. Beyond 20,000\n"
	           "calls the timeline shows a sample (every failed call, every k-th other one)\n"
	           "and says so; the tables count every call.\n"
	           "\n"
	           "  -o, --output OUT.html   where to write it (default: FILE.html; - for stdout)\n"
	           "\n"
	           "Exit status: 0 written, 2 FILE unreadable or OUT not writable.\n");
}

int trace_cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path, *output = NULL;
	char *outpath = NULL, *dj = NULL;
	size_t dj_len = 0;
	trace_reader *r = NULL;
	trace_diag *D = NULL;
	report *R = NULL;
	trace_record rec;
	FILE *dm = NULL, *out = NULL;
	int c, rc = TOOL_EXIT_USAGE;
	size_t i;

	while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'h': report_usage(stdout); return TOOL_EXIT_OK;
		default: return trace_getopt_error("report", c, argv);
		}
	}
	if ((path = trace_file_operand("report", argc, argv)) == NULL)
		return TOOL_EXIT_USAGE;
	if (output == NULL && strcmp(path, "-") == 0)
		output = "-";
	if (output == NULL) {
		outpath = malloc(strlen(path) + 6);
		if (outpath == NULL)
			goto oom;
		sprintf(outpath, "%s.html", path);
		output = outpath;
	}
	if ((r = trace_cmd_open(path)) == NULL)
		goto out;
	R = calloc(1, sizeof(*R));
	D = trace_diag_new();
	if (R == NULL || D == NULL || (R->tl = malloc(TIMELINE_MAX * sizeof(*R->tl))) == NULL)
		goto oom;
	R->stride = 1;
	R->t_min = -1;
	while ((c = trace_next(r, &rec)) > 0) {
		trace_diag_add(D, &rec);
		report_add(R, &rec);
	}
	if (c < 0) {
		fprintf(stderr, "p11shim: %s\n", trace_error(r));
		goto out;
	}
	if (R->records == 0 && trace_damaged(r) > 0) {
		fprintf(stderr, "p11shim: %s: no trace record in it\n", trace_name(r));
		goto out;
	}
	trace_diag_finish(D, path);
	/* The diagnosis as `diagnose --json` prints it, through a temporary file (Windows has no open_memstream). */
	dm = tmpfile();
	if (dm == NULL) {
		fprintf(stderr, "p11shim: cannot make a temporary file: %s\n", strerror(errno));
		goto out;
	}
	trace_diag_json(D, dm, trace_name(r), trace_damaged(r));
	if (fflush(dm) != 0 || (long)(dj_len = (size_t)ftell(dm)) < 0 || fseek(dm, 0, SEEK_SET) != 0 ||
	    (dj = malloc(dj_len + 1)) == NULL || fread(dj, 1, dj_len, dm) != dj_len)
		goto oom;
	out = strcmp(output, "-") == 0 ? stdout : fopen(output, "w");
	if (out == NULL) {
		fprintf(stderr, "p11shim: cannot write %s: %s; name another file with -o\n", output,
		        strerror(errno));
		goto out;
	}
	write_page(out, R, trace_name(r), dj, dj_len);
	if (out != stdout ? fclose(out) != 0 : fflush(out) != 0) {
		out = NULL;
		fprintf(stderr, "p11shim: cannot write %s: %s\n", output, strerror(errno));
		goto out;
	}
	out = NULL;
	if (strcmp(output, "-") != 0)
		fprintf(stderr, "p11shim: report written to %s\n", output);
	rc = TOOL_EXIT_OK;
	goto out;
oom:
	fprintf(stderr, "p11shim: out of memory\n");
out:
	if (dm != NULL)
		fclose(dm);
	if (out != NULL && out != stdout)
		fclose(out);
	free(dj);
	if (R != NULL) {
		for (i = 0; i < R->n_fns; i++)
			free(R->fns[i].us);
		free(R->tl);
		free(R);
	}
	trace_diag_free(D);
	trace_close(r);
	free(outpath);
	return rc;
}
