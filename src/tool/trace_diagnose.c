/*
 * `p11shim trace diagnose`: the vendor's troubleshooting table
 * (the middleware vendor's "Mandatory middleware configuration" and the
 * error list after it) applied to a trace. Each finding comes with its evidence (line
 * numbers of records) and the fix: which file, section, key and value.
 *
 * It reads the trace once, in constant memory: what it must remember
 * across records (which slot is a virtual reader, which session belongs to
 * which slot, whether the SO is logged in, the last calls of each process)
 * lives in fixed-size tables. The direct-mapped ones may forget an entry
 * on a collision; that can only cost a finding's evidence, never memory.
 *
 * Some causes cannot be told apart record by record: a C_InitToken failing
 * with CKR_FUNCTION_FAILED points to the PIN-encryption certificate unless
 * another card was initialised fine in the same trace, which shows that
 * the middleware set-up works and the card (its CPF) is the difference.
 * Such failures are kept (a bounded list) and classified at the end.
 */
#include "config.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_trace.h"
#include "json.h"
#include "p11-text.h"
#include "p11-trace-schema.h"
#include "tool.h"
#include "trace_read.h"
#include "trace_render.h"
#include "trace_hung.h"

enum {
	F_CONFIG,
	F_CLIENT_64,
	F_BACKEND_PATH,
	F_CACHING,
	F_VIRTUAL_READER,
	F_PIN_ENC,
	F_CPF,
	F_SO_CRED,
	F_PUK,
	F_ERASER_MISSING,
	F_ERASER_REFUSED,
	F_SERIAL,
	F_POLICY,
	F_CRASH,
	F_HUNG,
	F_COUNT
};

enum { SEV_INFO, SEV_WARNING, SEV_ERROR };
static const char *const sev_name[] = { "info", "warning", "error" };

typedef struct {
	const char *file;
	const char *section; /* NULL: the file has no sections */
	const char *key;
	const char *value; /* NULL: the finding's computed value */
} fix_def;

typedef struct {
	const char *id;
	const char *title;
	const char *why;
	fix_def fix[3];
	const char *check;
} finding_def;

#define PERSONAL_CFG "C:\\Program Files (x86)\\Personal\\config\\Personal.cfg"
#define PERSONAL_USER_CFG "%APPDATA%\\Personal\\config\\Personal.cfg"
#define DSC "encoding description (DSC)"
#define SHIM_DLL_VALUE "the 32-bit p11shim.dll, and no PKCS11Library or PKCS11LibraryWindows64 line"

static const finding_def defs[F_COUNT] = {
	[F_CONFIG] = {
		"config", "p11shim's configuration has an error",
		"A configuration error makes C_Initialize fail with CKR_GENERAL_ERROR; the shim uses "
		"nothing of a configuration it could not read whole. The note names file, line and key.",
		{ { "the p11shim.conf the note names", NULL, NULL, "correct the key on the line the note names, as it says" } },
		"p11shim doctor shows every effective value and where it came from",
	},
	[F_CLIENT_64] = {
		"client-64-bit", "The client process is 64-bit and cannot load the 32-bit middleware",
		"A 64-bit JRE cannot load 32-bit DLLs, and the 64-bit Nexus Personal DLL cannot initialise "
		"cards: JPKIEncoder must run on a 32-bit JRE and load 32-bit DLLs only. (Smart ID "
		"Desktop app does not use Java.)",
		{ { "environment of JPKIEncoder (Identity Manager)", NULL, "JAVA_HOME", "the root folder of a 32-bit JRE" },
		  { DSC, NULL, "PKCS11LibraryWindows32", SHIM_DLL_VALUE } },
		"p11shim doctor checks JAVA_HOME's word size",
	},
	[F_BACKEND_PATH] = {
		"backend-path", "The middleware DLL could not be loaded or initialised: wrong path or wrong DLL",
		"The shim loads the real middleware named in its [backend] section; only the 32-bit "
		"personal.dll initialises cards, and the shim loads nothing of the other word size.",
		{ { "p11shim.conf", "backend", "PKCS11LibraryWindows32", "C:/Program Files (x86)/Personal/bin/personal.dll" },
		  { DSC, NULL, "PKCS11LibraryWindows32", SHIM_DLL_VALUE } },
		"p11shim doctor checks the backend: file, word size, loading, C_GetInfo",
	},
	[F_CACHING] = {
		"caching", "The middleware caches card content",
		"Caching gives outdated data during encoding, so Nexus Personal's caching must be off. The "
		"per-user Personal.cfg wins over the system one where both set it.",
		{ { PERSONAL_CFG, "Cache", "CacheValidity", "0" },
		  { PERSONAL_USER_CFG, "Cache", "CacheValidity", "0, or no such line" } },
		"p11shim doctor reads both Personal.cfg files",
	},
	[F_VIRTUAL_READER] = {
		"virtual-reader", "A virtual smart-card reader confuses the middleware",
		"Nexus Personal can get confused by virtual smart cards on Windows and then answers "
		"CKR_GENERAL_ERROR; exclude their readers by name, in the middleware and in the shim.",
		{ { PERSONAL_CFG " (or the per-user " PERSONAL_USER_CFG ")", NULL, "SkipReader", NULL },
		  { "p11shim.conf", "readers", "SkipReader", NULL } },
		"p11shim doctor lists each slot as shown or hidden, and by which pattern",
	},
	[F_PIN_ENC] = {
		"pin-encryption", "The middleware's PIN-encryption certificate is not configured or not readable",
		"Nexus Personal encrypts PINs with the certificate named in iD2ppa.cfg; without a readable "
		"one, initialising a card fails with CKR_GENERAL_ERROR, CKR_FUNCTION_FAILED or "
		"CKR_DEVICE_ERROR. Any certificate will do, a dummy one too, unless another use needs a "
		"specific one.",
		{ { "C:\\Program Files (x86)\\Personal\\config\\iD2ppa.cfg", "PIN Encryption", "File",
		    "the path of a readable X.509 certificate" } },
		"p11shim doctor checks the certificate (set, readable, X.509, expiry)",
	},
	[F_CPF] = {
		"card-profile", "The card profile (CPF) does not match the card",
		"A CPF is made for one card type; initialising a card of another type with it fails.",
		{ { DSC " in Identity Manager", NULL, NULL, "use a card profile (CPF) made for this card type" } },
		NULL,
	},
	[F_SO_CRED] = {
		"so-credential", "SO login failed: the card may take the other SO credential",
		"Depending on the card profile (CPF) it was initialised with, a Nexus Personal card takes "
		"either the PUK or the operator PIN as SO (CKU_SO) credential. The default, false, sends "
		"the PUK, as the standard Identity Manager PCM encodings expect. If the card does take "
		"the PUK, the PUK given was wrong: check it before the card blocks (CKR_PIN_LOCKED).",
		{ { "p11shim.conf", "login", "OperatorPinIsSOCredential", NULL },
		  { DSC, NULL, "OperatorPinIsSOCredential", NULL } },
		"a mapped field (${FIELD}) sets it per card when cards of both kinds are encoded",
	},
	[F_PUK] = {
		"puk-change", "PUK change not supported by this middleware or card",
		"Nexus Personal Desktop Client 5.7.1 and lower cannot change the PUK; 5.7.2 and higher "
		"can, on Cosmo 7 and Cosmo 8.2 cards only, and Identity Manager needs 21.04.3 or higher "
		"for it.",
		{ { DSC, NULL, NULL, "leave the PUK change out for this card type and middleware version" },
		  { "p11shim.conf", "puk", "PukChange", "auto (refuses an unsupported change before the card is touched)" } },
		"Nexus Personal Desktop Client 5.7.2 or higher with a Cosmo 7 or Cosmo 8.2 card can change it",
	},
	[F_ERASER_MISSING] = {
		"card-eraser-missing", "The card has no Card Eraser object",
		"The virtual \"Card Eraser\" object exists on some cards only (CardOS 4.4 and 5.x, certain "
		"Gemalto cards); the encoder throws an exception when it is not found.",
		{ { "p11shim.conf", "eraser", "CardEraser", "true (the shim provides the Card Eraser object)" },
		  { DSC, NULL, NULL, "leave the Card Eraser flag out for cards without one" } },
		NULL,
	},
	[F_ERASER_REFUSED] = {
		"card-eraser-refused", "Erasing the card through the Card Eraser was refused",
		"Whether a card can be erased anonymously depends on the CPF it was initialised with: "
		"MakeCardEraseable() at the start and BurnFuse() at the end, or neither, allow it; "
		"BurnFuse() without MakeCardEraseable() does not. PIN or PUK do not help: Nexus Personal "
		"needs the operator PIN, which Identity Manager does not log in with.",
		{ { "the card profile (CPF) for new cards", NULL, NULL, "call MakeCardEraseable() at the start when BurnFuse() is at the end" } },
		"cards made with BurnFuse() alone are erased with the operator PIN in Nexus Personal's own tools",
	},
	[F_SERIAL] = {
		"serial", "The card serial number policy reported a problem",
		"The serial comes from a number range and must be the same on the card, in its "
		"certificates and in the CM token.",
		{ { "p11shim.conf", "serial", NULL, "the key the note names, as it says" } },
		NULL,
	},
	[F_POLICY] = {
		"policy", "A policy of the shim refused a call or reported a problem",
		"The shim's policy layers refuse what the middleware is known to get wrong, with a note "
		"saying why.",
		{ { "p11shim.conf", NULL, NULL, "the section of the layer the note names (its tag), as the note says" } },
		NULL,
	},
	[F_CRASH] = {
		"crash", "The process ended inside a call (crash, hang or kill)",
		"The record was written when the call began and never got its return value: the process "
		"died in the middleware, or was killed while waiting for it. The calls before it show "
		"what led there.",
		{ { "the middleware's logs: %APPDATA%\\Personal\\log\\ (Nexus Personal)", NULL, NULL, "send them with this trace to the vendor" } },
		NULL,
	},
	[F_HUNG] = {
		"hung-call", "A call never returned: it was still in the middleware when the trace ended",
		"A call that does not return is the middleware waiting: for a dialog on the desktop that "
		"nobody answers (a PIN prompt or a message of Nexus Personal, perhaps behind other "
		"windows), for a reader (a virtual smart-card reader the middleware talks to, a card "
		"pulled out), or on a PIN-encryption certificate it cannot read. The calls before it "
		"show what led there; FILE.inflight beside the trace names the call.",
		{ { "the encoding station's desktop", NULL, NULL, "look for a dialog of the middleware waiting for input" },
		  { "p11shim.conf", "readers", "SkipReader", NULL },
		  { "C:\\Program Files (x86)\\Personal\\config\\iD2ppa.cfg", "PIN Encryption", "File",
		    "the path of a readable X.509 certificate" } },
		"p11shim doctor lists the readers and checks the certificate; [trace] SlowCall notes a hang as it happens",
	},
};

#define EVID_LINES 8
#define TEXT_MAX 400
#define RING 5
#define RING_TEXT 300
#define MAX_PIDS 256
#define PID_SLOTS 512
#define SLOT_TABLE 1024
#define SESSION_TABLE 4096
#define HANDLE_TABLE 1024
#define MAX_DEFERRED 64
#define MAX_GROUPS 32
#define MAX_MODELS 16
#define MODEL_MAX 48

typedef struct {
	uint64_t line;
	char text[RING_TEXT];
} ring_entry;

typedef struct {
	ring_entry e[RING + 1]; /* the calls before, and the call itself */
	size_t n;
} context;

typedef struct {
	uint64_t count;
	uint64_t last_line;         /* not twice for one record */
	uint64_t lines[EVID_LINES]; /* the first ones, ascending */
	size_t n_lines;
	char first[TEXT_MAX]; /* the first evidence record, rendered */
	uint64_t first_line;
	int severity;
	struct {
		char fn[40];
		char rv[48];
		uint64_t n;
	} rvs[4];
	size_t n_rvs;
	char note[TEXT_MAX];   /* the first note that pointed here */
	char detail[TEXT_MAX]; /* what this trace adds to the text */
	char value[160];       /* the computed fix value */
	context ctx;           /* crash: the calls before */
} finding;

typedef struct {
	int64_t pid;
	int used;
	uint64_t so_login_line; /* last CKU_SO login that succeeded, not logged out */
	ring_entry ring[RING];
	size_t ring_n, ring_pos;
} pid_state;

typedef struct {
	int64_t pid, slot;
	int used, virt;
	char reader[64];
	char model[MODEL_MAX];
} slot_entry;

typedef struct {
	int64_t pid, session, slot;
	int used;
	uint64_t eraser_find_line; /* C_FindObjectsInit for "Card Eraser" on it */
} session_entry;

typedef struct {
	int64_t pid, handle;
	int used;
} handle_entry;

typedef struct {
	uint64_t line;
	int is_init;
	int not_recognized;
	char rv[48];
	char model[MODEL_MAX];
	context ctx; /* the call last, the calls before it first */
} deferred;

typedef struct {
	int is_init, not_recognized;
	char rv[48];
	char model[MODEL_MAX];
	uint64_t count, first_line;
} deferred_group;

struct trace_diag {
	finding f[F_COUNT];

	pid_state pids[MAX_PIDS];
	uint16_t pid_slot[PID_SLOTS];
	size_t n_pids;
	slot_entry slots[SLOT_TABLE];
	session_entry sessions[SESSION_TABLE];
	handle_entry erasers[HANDLE_TABLE];

	deferred def[MAX_DEFERRED];
	size_t n_def;
	deferred_group more[MAX_GROUPS]; /* beyond def[]: counted, not kept */
	size_t n_more;
	char ok_models[MAX_MODELS][MODEL_MAX];
	size_t n_ok_models;
	uint64_t init_ok, login_ok, initialize_ok;
	int so_setting; /* OperatorPinIsSOCredential as login notes give it, -1 unknown */

	uint64_t records, failed, unexplained;
	trace_failures fails; /* the failed calls in summary's words */
	trace_hangs *hangs;   /* calls still in the backend at the end */
	const trace_hung *hung;
	size_t n_hung;
	int have_first_fail;
	context first_fail;
};
typedef struct trace_diag diag;

/* ---- small helpers ---- */

static int contains(const char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle), i, j;

	/* Case-insensitive: notes are prose, and "Caching" starts sentences too. */
	for (i = 0; i + m <= n; i++) {
		for (j = 0; j < m; j++) {
			char a = s[i + j], b = needle[j];
			if (a >= 'A' && a <= 'Z')
				a = (char)(a - 'A' + 'a');
			if (b >= 'A' && b <= 'Z')
				b = (char)(b - 'A' + 'a');
			if (a != b)
				break;
		}
		if (j == m)
			return 1;
	}
	return 0;
}

static int rv_is(const trace_record *rec, const char *name)
{
	return trace_streq(rec->rv, rec->rv_len, name);
}

static int fn_is(const trace_record *rec, const char *name)
{
	return trace_streq(rec->fn, rec->fn_len, name);
}

static int arg_int(const trace_record *rec, const char *key, int64_t *out)
{
	return json_int(trace_arg(rec, key), out);
}

static int is_ok(const trace_record *rec)
{
	return rv_is(rec, "CKR_OK");
}

/* CKR_OK, or a client's ordinary probing (trace_is_probing): not a failure to explain. */
static int benign(const trace_record *rec)
{
	return is_ok(rec) || trace_is_probing(rec);
}

static uint32_t mix(int64_t a, int64_t b)
{
	uint64_t x = (uint64_t)a * 0x9e3779b97f4a7c15ull ^ (uint64_t)b * 0xc2b2ae3d27d4eb4full;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(x >> 32);
}

static pid_state *pid_get(diag *D, int64_t pid)
{
	size_t i;

	for (i = mix(pid, 1) & (PID_SLOTS - 1);; i = (i + 1) & (PID_SLOTS - 1)) {
		uint16_t e = D->pid_slot[i];
		if (e == 0)
			break;
		if (D->pids[e - 1].pid == pid)
			return &D->pids[e - 1];
	}
	if (D->n_pids == MAX_PIDS)
		return NULL; /* more processes than tracked: no context for the rest */
	D->pid_slot[i] = (uint16_t)(D->n_pids + 1);
	D->pids[D->n_pids].pid = pid;
	D->pids[D->n_pids].used = 1;
	return &D->pids[D->n_pids++];
}

/*
 * Fixed tables with a few linear probes: two slots (or sessions) of one
 * process whose hashes collide must not overwrite each other; when every
 * probe is taken, the first place is reused (bounded memory wins).
 */
#define PROBES 8

static slot_entry *slot_get(diag *D, int64_t pid, int64_t slot, int create)
{
	uint32_t h = mix(pid, slot);
	slot_entry *e, *free_e = NULL;
	unsigned i;

	for (i = 0; i < PROBES; i++) {
		e = &D->slots[(h + i) & (SLOT_TABLE - 1)];
		if (e->used && e->pid == pid && e->slot == slot)
			return e;
		if (!e->used && free_e == NULL)
			free_e = e;
	}
	if (!create)
		return NULL;
	e = free_e ? free_e : &D->slots[h & (SLOT_TABLE - 1)];
	memset(e, 0, sizeof(*e));
	e->used = 1;
	e->pid = pid;
	e->slot = slot;
	return e;
}

static session_entry *session_get(diag *D, int64_t pid, int64_t h, int create)
{
	uint32_t k = mix(pid, h ^ 0x5e55);
	session_entry *e, *free_e = NULL;
	unsigned i;

	for (i = 0; i < PROBES; i++) {
		e = &D->sessions[(k + i) & (SESSION_TABLE - 1)];
		if (e->used && e->pid == pid && e->session == h)
			return e;
		if (!e->used && free_e == NULL)
			free_e = e;
	}
	if (!create)
		return NULL;
	e = free_e ? free_e : &D->sessions[k & (SESSION_TABLE - 1)];
	memset(e, 0, sizeof(*e));
	e->used = 1;
	e->pid = pid;
	e->session = h;
	e->slot = -1;
	return e;
}

/* The slot a call works on: its slotID, or the slot its session was opened on. */
static slot_entry *call_slot(diag *D, const trace_record *rec)
{
	int64_t v;
	session_entry *s;

	if (arg_int(rec, "slotID", &v))
		return slot_get(D, rec->pid, v, 0);
	if (arg_int(rec, "hSession", &v) && (s = session_get(D, rec->pid, v, 0)) && s->slot >= 0)
		return slot_get(D, rec->pid, s->slot, 0);
	return NULL;
}

static int is_virtual_reader(const char *s, size_t n)
{
	return contains(s, n, "virtual") || contains(s, n, "windows hello");
}

/* ---- evidence ---- */

static void render_into(char *out, size_t cap, const trace_record *rec)
{
	render_call(rec, out, cap, 160);
}

static void add_rv(finding *f, const trace_record *rec, uint64_t weight)
{
	const char *rv = rec->rv ? rec->rv : "no return";
	size_t rv_len = rec->rv ? rec->rv_len : 9;
	size_t i;

	for (i = 0; i < f->n_rvs; i++) {
		if (trace_streq(rec->fn, rec->fn_len, f->rvs[i].fn) &&
		    trace_streq(rv, rv_len, f->rvs[i].rv)) {
			f->rvs[i].n += weight;
			return;
		}
	}
	if (f->n_rvs == sizeof(f->rvs) / sizeof(f->rvs[0]))
		return;
	trace_copy_text(f->rvs[f->n_rvs].fn, sizeof(f->rvs[0].fn), rec->fn, rec->fn_len);
	trace_copy_text(f->rvs[f->n_rvs].rv, sizeof(f->rvs[0].rv), rv, rv_len);
	f->rvs[f->n_rvs].n = weight;
	f->n_rvs++;
}

static void add_line(finding *f, uint64_t line, const char *text, uint64_t weight)
{
	size_t i;

	f->count += weight;
	if (f->first_line == 0 || line < f->first_line) {
		f->first_line = line;
		snprintf(f->first, sizeof(f->first), "%s", text);
	}
	/* Keep the EVID_LINES smallest, sorted: deferred evidence arrives late. */
	if (f->n_lines == EVID_LINES && line >= f->lines[EVID_LINES - 1])
		return;
	i = f->n_lines < EVID_LINES ? f->n_lines++ : EVID_LINES - 1;
	while (i > 0 && f->lines[i - 1] > line) {
		f->lines[i] = f->lines[i - 1];
		i--;
	}
	f->lines[i] = line;
}

/*
 * A record is evidence for finding id; note: the note that pointed here, or
 * NULL. weight: how many records it stands for (a group of deferred ones).
 */
static void evidence_w(diag *D, int id, const trace_record *rec, const char *note, size_t note_len,
                       int severity, uint64_t weight)
{
	finding *f = &D->f[id];
	char text[TEXT_MAX];

	if (severity > f->severity)
		f->severity = severity;
	if (note && f->note[0] == '\0')
		trace_copy_text(f->note, sizeof(f->note), note, note_len);
	if (f->count && f->last_line == rec->line)
		return;
	f->last_line = rec->line;
	/* Only calls this finding explains are listed as its failures. */
	if (!benign(rec) && severity == SEV_ERROR)
		add_rv(f, rec, weight);
	if (f->first_line == 0 || rec->line < f->first_line)
		render_into(text, sizeof(text), rec);
	else
		text[0] = '\0';
	add_line(f, rec->line, text, weight);
}

static void evidence(diag *D, int id, const trace_record *rec, const char *note, size_t note_len,
                     int severity)
{
	evidence_w(D, id, rec, note, note_len, severity, 1);
}

/* The first detail text wins: it describes the first evidence. */
static void detail(diag *D, int id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void detail(diag *D, int id, const char *fmt, ...)
{
	finding *f = &D->f[id];
	va_list ap;

	if (f->detail[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
}

static void keep_context(diag *D, const trace_record *rec, context *ctx)
{
	pid_state *p = pid_get(D, rec->pid);
	size_t i;

	ctx->n = 0;
	if (p) {
		size_t start = (p->ring_pos + RING - p->ring_n) % RING;
		for (i = 0; i < p->ring_n; i++)
			ctx->e[ctx->n++] = p->ring[(start + i) % RING];
	}
	ctx->e[ctx->n].line = rec->line;
	render_into(ctx->e[ctx->n].text, RING_TEXT, rec);
	ctx->n++;
}

/* ---- what the notes of the policy layers say ---- */

static int any_of(const char *s, size_t n, const char *const *words)
{
	for (; *words; words++) {
		if (contains(s, n, *words))
			return 1;
	}
	return 0;
}

static const char *const problem_words[] = { "refus",    "fail",    "error",     "cannot",
	                                     "can't",    "invalid", "unknown",   "missing",
	                                     "not set",  "unset",   "not found", "denied",
	                                     "mismatch", "differ",  "exhausted", "not support",
	                                     NULL };

/*
 * The pattern after "SkipReader" in quotes, from "readers: slot 3
 * 'Microsoft Virtual Smart Card 0' hidden by SkipReader 'Microsoft Virtual
 * Smart Card .*' (Personal.cfg)"; the first quoted text when there is no
 * "SkipReader".
 */
static void skipreader_pattern(const char *s, size_t n, char *out, size_t cap)
{
	const char *from = s, *a, *b;
	size_t i;

	out[0] = '\0';
	for (i = 0; i + 10 <= n; i++) {
		if (contains(s + i, 10, "skipreader")) {
			from = s + i;
			break;
		}
	}
	a = memchr(from, '\'', n - (size_t)(from - s));
	if (a == NULL)
		return;
	b = memchr(a + 1, '\'', n - (size_t)(a + 1 - s));
	if (b)
		trace_copy_text(out, cap, a + 1, (size_t)(b - a - 1));
}

/* The value a note gives for OperatorPinIsSOCredential ("= false", "(now true)"): 1, 0, or -1. */
static int so_setting(const char *s, size_t n)
{
	static const char key[] = "operatorpinissocredential";
	size_t i, k = sizeof(key) - 1;

	for (i = 0; i + k <= n; i++) {
		if (contains(s + i, k, key)) {
			size_t rest = n - i - k;
			if (rest > 16)
				rest = 16;
			if (contains(s + i + k, rest, "true"))
				return 1;
			if (contains(s + i + k, rest, "false"))
				return 0;
			return -1;
		}
	}
	return -1;
}

/*
 * What a note of a policy layer says. Notes are prose, written by the
 * layers named by their tag; a note on a failing call is that call's
 * explanation, a note on a successful one is mostly information. Returns 1
 * when the note explains the call (a finding took the record).
 */
static int note_rule(diag *D, const trace_record *rec, const char *s, size_t n)
{
	size_t tag = 0;
	int failed = !is_ok(rec);
	int sev = failed ? SEV_ERROR : SEV_WARNING;
	int v;

	while (tag < n && tag < 32 && s[tag] != ':')
		tag++;
	if (tag == n || tag == 32)
		tag = 0;

#define TAG(name) (tag == strlen(name) && memcmp(s, name, tag) == 0)
	if (TAG("config")) {
		/* A configuration error fails C_Initialize, and the note says where. */
		if (failed || any_of(s, n, problem_words)) {
			evidence(D, F_CONFIG, rec, s, n, sev);
			return failed;
		}
	} else if (TAG("backend")) {
		if (contains(s, n, "architecture") || contains(s, n, "-bit")) {
			/* "wrong architecture: ELF 32-bit i386, the shim is 64-bit x86-64" */
			if (contains(s, n, "shim is 64")) {
				evidence(D, F_CLIENT_64, rec, s, n, SEV_ERROR);
			} else {
				evidence(D, F_BACKEND_PATH, rec, s, n, SEV_ERROR);
				detail(D, F_BACKEND_PATH,
				       "The module named is of another word size than the "
				       "client: name the 32-bit personal.dll.");
			}
			return 1;
		}
		if (failed &&
		    (any_of(s, n, problem_words) || contains(s, n, "no such file") ||
		     contains(s, n, "no pkcs#11 module") || contains(s, n, "not a pkcs#11"))) {
			evidence(D, F_BACKEND_PATH, rec, s, n, SEV_ERROR);
			return 1;
		}
	} else if (TAG("middleware")) {
		if (contains(s, n, "caching is on") || contains(s, n, "caching on") ||
		    (contains(s, n, "cach") && contains(s, n, "enabled"))) {
			evidence(D, F_CACHING, rec, s, n, sev);
			return failed;
		}
		/* The layer's findings say "refused:", "warning:" or "ignored (...)": with
		 * Enforce = warn or off the calls go on, and the note is all there is. */
		if ((contains(s, n, "pin-encryption") || contains(s, n, "pin encryption") ||
		     contains(s, n, "id2ppa")) &&
		    (any_of(s, n, problem_words) || contains(s, n, "expired") ||
		     contains(s, n, "refused") || contains(s, n, "warning") ||
		     contains(s, n, "ignored"))) {
			evidence(D, F_PIN_ENC, rec, s, n, sev);
			return failed;
		}
		if (failed && contains(s, n, "refused")) {
			evidence(D, F_POLICY, rec, s, n, SEV_ERROR);
			return 1;
		}
	} else if (TAG("readers")) {
		if (contains(s, n, "hidden") || contains(s, n, "skipreader") ||
		    contains(s, n, "virtual")) {
			char pat[120];
			/* Hidden by the shim: the client is safe, the middleware still sees the reader. */
			evidence(D, F_VIRTUAL_READER, rec, s, n,
			         contains(s, n, "hidden") ? SEV_INFO : SEV_WARNING);
			skipreader_pattern(s, n, pat, sizeof(pat));
			if (pat[0] && D->f[F_VIRTUAL_READER].value[0] == '\0')
				snprintf(D->f[F_VIRTUAL_READER].value, sizeof(D->f[0].value), "%s",
				         pat);
			return 0;
		}
	} else if (TAG("login")) {
		/* "login: CKU_SO sent as ...: ... ([login] OperatorPinIsSOCredential = false)" */
		if ((v = so_setting(s, n)) >= 0)
			D->so_setting = v;
		if (contains(s, n, "fail") || (failed && any_of(s, n, problem_words))) {
			evidence(D, F_SO_CRED, rec, s, n, SEV_ERROR);
			return 1;
		}
	} else if (TAG("puk")) {
		if (contains(s, n, "refus") || contains(s, n, "< 5.7.2") ||
		    (failed && any_of(s, n, problem_words))) {
			evidence(D, F_PUK, rec, s, n, SEV_ERROR);
			return 1;
		}
	} else if (TAG("eraser")) {
		if (!failed)
			return 0; /* "erased", "the virtual one is shown": what happened, not a problem */
		if (contains(s, n, "not found") || contains(s, n, "missing") ||
		    contains(s, n, "no card eraser"))
			evidence(D, F_ERASER_MISSING, rec, s, n, SEV_ERROR);
		else
			evidence(D, F_ERASER_REFUSED, rec, s, n, SEV_ERROR);
		return 1;
	} else if (TAG("serial")) {
		/* "not applied: C_InitToken failed" follows a failure, it does not explain it. */
		if (contains(s, n, "refus") || contains(s, n, "mismatch") ||
		    contains(s, n, "is not the") || contains(s, n, "differ") ||
		    contains(s, n, "exhaust")) {
			evidence(D, F_SERIAL, rec, s, n, sev);
			return failed;
		}
	} else if (failed && any_of(s, n, problem_words)) {
		evidence(D, F_POLICY, rec, s, n, SEV_ERROR);
		return 1;
	}
#undef TAG
	return 0;
}

/* ---- what the calls say ---- */

static int general_failure(const trace_record *rec)
{
	return rv_is(rec, "CKR_GENERAL_ERROR") || rv_is(rec, "CKR_FUNCTION_FAILED") ||
	       rv_is(rec, "CKR_DEVICE_ERROR");
}

static void defer(diag *D, const trace_record *rec, int is_init)
{
	deferred *d;
	slot_entry *se = call_slot(D, rec);

	if (D->n_def == MAX_DEFERRED) {
		/* Full: the same classification needs only these few fields. */
		deferred_group *g = NULL;
		size_t i;

		for (i = 0; i < D->n_more && g == NULL; i++) {
			g = &D->more[i];
			if (g->is_init != is_init || !trace_streq(rec->rv, rec->rv_len, g->rv) ||
			    strcmp(g->model, se ? se->model : "") != 0)
				g = NULL;
		}
		if (g == NULL) {
			g = &D->more[D->n_more < MAX_GROUPS ? D->n_more++ : MAX_GROUPS - 1];
			if (g->count == 0) {
				g->is_init = is_init;
				g->not_recognized = rv_is(rec, "CKR_TOKEN_NOT_RECOGNIZED");
				trace_copy_text(g->rv, sizeof(g->rv), rec->rv, rec->rv_len);
				snprintf(g->model, sizeof(g->model), "%s", se ? se->model : "");
				g->first_line = rec->line;
			}
		}
		g->count++;
		return;
	}
	d = &D->def[D->n_def++];
	d->line = rec->line;
	d->is_init = is_init;
	d->not_recognized = rv_is(rec, "CKR_TOKEN_NOT_RECOGNIZED");
	trace_copy_text(d->rv, sizeof(d->rv), rec->rv, rec->rv_len);
	snprintf(d->model, sizeof(d->model), "%s", se ? se->model : "");
	keep_context(D, rec, &d->ctx);
}

/* A template that selects label "Card Eraser", the label as text or as hex. */
static int template_is_eraser(const json_value *tmpl)
{
	static const char label[] = "Card Eraser";
	const json_value *a;
	uint32_t i;

	if (tmpl == NULL || tmpl->type != JSON_ARRAY)
		return 0;
	for (i = 0, a = json_first(tmpl); a && i < tmpl->len; i++, a = json_next(a)) {
		const json_value *v = json_get(a, P11_TF_VALUE);
		const json_value *hex;
		size_t k;

		if (!json_is_str(json_get(a, P11_TF_TYPE), "CKA_LABEL") || v == NULL)
			continue;
		if (json_is_str(v, label))
			return 1;
		hex = json_get(v, P11_TF_HEX);
		if (hex && hex->type == JSON_STRING && hex->len == 2 * (sizeof(label) - 1)) {
			for (k = 0; k < sizeof(label) - 1; k++) {
				char h[3] = { hex->str[2 * k], hex->str[2 * k + 1], 0 };
				if (strtoul(h, NULL, 16) != (unsigned char)label[k])
					break;
			}
			if (k == sizeof(label) - 1)
				return 1;
		}
	}
	return 0;
}

static void put_handle(diag *D, int64_t pid, int64_t h)
{
	handle_entry *e = &D->erasers[mix(pid, h ^ 0xe4a5e) & (HANDLE_TABLE - 1)];

	e->used = 1;
	e->pid = pid;
	e->handle = h;
}

static int is_eraser_handle(diag *D, int64_t pid, int64_t h)
{
	handle_entry *e = &D->erasers[mix(pid, h ^ 0xe4a5e) & (HANDLE_TABLE - 1)];

	return e->used && e->pid == pid && e->handle == h;
}

static void remember_ok_model(diag *D, const char *model)
{
	size_t i;

	for (i = 0; i < D->n_ok_models; i++) {
		if (strcmp(D->ok_models[i], model) == 0)
			return;
	}
	if (D->n_ok_models < MAX_MODELS)
		snprintf(D->ok_models[D->n_ok_models++], MODEL_MAX, "%s", model);
}

/* Returns 1 when the call is explained by a finding (or deferred to one). */
static int call_rule(diag *D, const trace_record *rec, pid_state *p)
{
	int64_t v, h;
	const json_value *info;
	slot_entry *se;
	session_entry *ss;
	int failed = !is_ok(rec);

	if (rec->rv == NULL) {
		finding *f = &D->f[F_CRASH];
		int first = f->count == 0;
		evidence(D, F_CRASH, rec, NULL, 0, SEV_ERROR);
		if (first) {
			keep_context(D, rec, &f->ctx);
			char sig[40], fn[64];
			trace_copy_text(sig, sizeof(sig), rec->crash ? rec->crash : "",
			                rec->crash_len);
			trace_copy_text(fn, sizeof(fn), rec->fn, rec->fn_len);
			if (rec->crash)
				detail(D, F_CRASH, "The process died of %s inside %s.", sig, fn);
			else
				detail(D, F_CRASH,
				       "%s never returned and no crash was recorded: a hang, "
				       "or the process was killed.",
				       fn);
		}
		return 1;
	}

	if (fn_is(rec, "C_Initialize")) {
		if (is_ok(rec))
			D->initialize_ok++;
		if (p)
			p->so_login_line = 0;
		/*
		 * A failed C_Initialize is the backend's path only when the shim says
		 * it could not load the backend (note_rule, "backend:"); a test
		 * client's bad arguments, or a backend that loaded and failed, are not.
		 */
		return 0;
	}
	if (fn_is(rec, "C_Finalize") && p)
		p->so_login_line = 0;

	if (fn_is(rec, "C_GetSlotInfo") && !failed && arg_int(rec, "slotID", &v) &&
	    (info = trace_arg(rec, "pInfo")) != NULL) {
		const json_value *desc = json_get(info, "slotDescription");
		if (desc && desc->type == JSON_STRING && (se = slot_get(D, rec->pid, v, 1))) {
			size_t n = desc->len;
			while (n > 0 && desc->str[n - 1] == ' ')
				n--; /* blank-padded, as PKCS#11 has it */
			trace_copy_text(se->reader, sizeof(se->reader), desc->str, n);
			se->virt = is_virtual_reader(desc->str, desc->len);
		}
		return 0;
	}
	if (fn_is(rec, "C_GetTokenInfo") && !failed && arg_int(rec, "slotID", &v) &&
	    (info = trace_arg(rec, "pInfo")) != NULL) {
		const json_value *model = json_get(info, "model");
		if (model && model->type == JSON_STRING && (se = slot_get(D, rec->pid, v, 1))) {
			size_t n = model->len;
			while (n > 0 && model->str[n - 1] == ' ')
				n--;
			trace_copy_text(se->model, sizeof(se->model), model->str, n);
		}
		return 0;
	}
	if (fn_is(rec, "C_OpenSession") && !failed && arg_int(rec, "slotID", &v) &&
	    arg_int(rec, "phSession", &h)) {
		if ((ss = session_get(D, rec->pid, h, 1)))
			ss->slot = v;
		return 0;
	}
	if (fn_is(rec, "C_CloseSession") && arg_int(rec, "hSession", &h)) {
		if ((ss = session_get(D, rec->pid, h, 0)))
			ss->used = 0;
	}

	/* A virtual reader answering CKR_GENERAL_ERROR: the guide's own example. */
	if (rv_is(rec, "CKR_GENERAL_ERROR") && (se = call_slot(D, rec)) && se->virt) {
		evidence(D, F_VIRTUAL_READER, rec, NULL, 0, SEV_ERROR);
		detail(D, F_VIRTUAL_READER, "The failing slot's reader is \"%s\".", se->reader);
		if (D->f[F_VIRTUAL_READER].value[0] == '\0') {
			/* "Microsoft Virtual Smart Card 0" -> "Microsoft Virtual Smart Card .*" */
			char pat[96];
			size_t n = strlen(se->reader);
			snprintf(pat, sizeof(pat), "%s", se->reader);
			while (n > 0 && pat[n - 1] >= '0' && pat[n - 1] <= '9')
				n--;
			if (n < strlen(pat) && n + 2 < sizeof(pat))
				strcpy(pat + n, ".*");
			snprintf(D->f[F_VIRTUAL_READER].value, sizeof(D->f[0].value), "%s", pat);
		}
		return 1;
	}

	if (fn_is(rec, "C_InitToken")) {
		if (!failed) {
			D->init_ok++;
			se = call_slot(D, rec);
			remember_ok_model(D, se ? se->model : "");
			return 0;
		}
		if (general_failure(rec) || rv_is(rec, "CKR_TOKEN_NOT_RECOGNIZED")) {
			defer(D, rec, 1);
			return 1;
		}
		return 0;
	}

	if (fn_is(rec, "C_Login")) {
		const json_value *ut = trace_arg(rec, "userType");
		int so = json_is_str(ut, "CKU_SO");

		if (!failed) {
			D->login_ok++;
			if (so && p)
				p->so_login_line = rec->line;
			return 0;
		}
		if (so && (rv_is(rec, "CKR_PIN_INCORRECT") || rv_is(rec, "CKR_PIN_LEN_RANGE") ||
		           rv_is(rec, "CKR_PIN_INVALID"))) {
			const json_value *pin = trace_arg(rec, "pPin");
			evidence(D, F_SO_CRED, rec, NULL, 0, SEV_ERROR);
			unsigned long len;
			/* "<redacted 8 bytes>": the length is all the trace keeps of a secret. */
			if (pin && pin->type == JSON_STRING && pin->len > 10 && pin->len < 40) {
				char tmp[40];
				trace_copy_text(tmp, sizeof(tmp), pin->str, pin->len);
				if (sscanf(tmp, "<redacted %lu byte", &len) == 1)
					detail(D, F_SO_CRED,
					       "The SO secret sent was %lu bytes long: is that the "
					       "length of this card's PUK or of its operator PIN?",
					       len);
			}
			return 1;
		}
		if (general_failure(rec)) {
			defer(D, rec, 0);
			return 1;
		}
		return 0;
	}
	if (fn_is(rec, "C_Logout") || fn_is(rec, "C_CloseAllSessions")) {
		if (p)
			p->so_login_line = 0;
		return 0;
	}

	if (fn_is(rec, "C_SetPIN") && failed && p && p->so_login_line &&
	    !(rv_is(rec, "CKR_PIN_INCORRECT") || rv_is(rec, "CKR_PIN_LEN_RANGE") ||
	      rv_is(rec, "CKR_PIN_INVALID"))) {
		char line[32];
		snprintf(line, sizeof(line), "%llu", (unsigned long long)p->so_login_line);
		evidence(D, F_PUK, rec, NULL, 0, SEV_ERROR);
		detail(D, F_PUK,
		       "C_SetPIN failed after the SO login of line %s: with the SO logged in, "
		       "C_SetPIN changes the PUK.",
		       line);
		return 1;
	}

	if (fn_is(rec, "C_FindObjectsInit") && arg_int(rec, "hSession", &h)) {
		if ((ss = session_get(D, rec->pid, h, 1)))
			ss->eraser_find_line =
			        template_is_eraser(trace_arg(rec, "pTemplate")) ? rec->line : 0;
		return 0;
	}
	if (fn_is(rec, "C_FindObjects") && arg_int(rec, "hSession", &h) &&
	    (ss = session_get(D, rec->pid, h, 0)) && ss->eraser_find_line) {
		const json_value *objs = trace_arg(rec, "phObject");
		int64_t count = -1;

		if (failed)
			return 0;
		if (!arg_int(rec, "pulObjectCount", &count) && objs && objs->type == JSON_ARRAY)
			count = objs->len;
		if (objs && objs->type == JSON_ARRAY) {
			const json_value *o;
			uint32_t i;
			for (i = 0, o = json_first(objs); o && i < objs->len; i++, o = json_next(o)) {
				if (json_int(o, &v))
					put_handle(D, rec->pid, v);
			}
		}
		if (count == 0) {
			char line[32];
			snprintf(line, sizeof(line), "%llu",
			         (unsigned long long)ss->eraser_find_line);
			evidence(D, F_ERASER_MISSING, rec, NULL, 0, SEV_ERROR);
			detail(D, F_ERASER_MISSING,
			       "The search for label \"Card Eraser\" (line %s) found "
			       "no object.",
			       line);
		}
		ss->eraser_find_line = 0;
		return count == 0;
	}
	if (fn_is(rec, "C_DestroyObject") && failed && arg_int(rec, "hObject", &v) &&
	    is_eraser_handle(D, rec->pid, v)) {
		evidence(D, F_ERASER_REFUSED, rec, NULL, 0, SEV_ERROR);
		return 1;
	}
	return 0;
}

static void diag_add(diag *D, const trace_record *rec)
{
	pid_state *p = pid_get(D, rec->pid);
	int explained = 0;
	int failing;

	if (D->hangs)
		trace_hangs_add(D->hangs, rec);
	if (rec->pending_us >= 0)
		return; /* a SlowCall note on a call, not a call: see the hung calls at the end */
	D->records++;
	trace_failures_add(&D->fails, rec);
	failing = !benign(rec);
	if (!is_ok(rec))
		D->failed++;
	if (rec->notes) {
		const json_value *c;
		uint32_t i;
		for (i = 0, c = rec->notes + 1; i < rec->notes->len; i++, c = json_next(c)) {
			if (c->type == JSON_STRING)
				explained |= note_rule(D, rec, c->str, c->len);
		}
	}
	if (fn_is(rec, "C_Initialize") && explained) {
		/* The note said why (config, word size); the generic backend finding adds nothing. */
		if (is_ok(rec))
			D->initialize_ok++;
	} else {
		explained |= call_rule(D, rec, p);
	}
	if (failing && !explained) {
		D->unexplained++;
		if (!D->have_first_fail) {
			D->have_first_fail = 1;
			keep_context(D, rec, &D->first_fail);
		}
	}
	if (p) {
		ring_entry *e = &p->ring[p->ring_pos];
		e->line = rec->line;
		render_into(e->text, sizeof(e->text), rec);
		p->ring_pos = (p->ring_pos + 1) % RING;
		if (p->ring_n < RING)
			p->ring_n++;
	}
}

/*
 * Which finding explains a C_InitToken (is_init) or C_Login that failed
 * with a general error, now that the whole trace is known; -1: none.
 */
static int classify(diag *D, int is_init, int not_recognized, const char *model)
{
	const char *other = NULL;
	char buf[MODEL_MAX + 2];
	size_t k;

	if (!is_init)
		/* A login elsewhere or an initialisation worked: the certificate is fine. */
		return D->login_ok || D->init_ok ? -1 : F_PIN_ENC;
	if (not_recognized) {
		detail(D, F_CPF,
		       "The middleware does not recognise the card %s%s for this initialisation "
		       "(CKR_TOKEN_NOT_RECOGNIZED).",
		       model[0] ? "model " : "", model);
		return F_CPF;
	}
	if (D->init_ok == 0) {
		if (D->initialize_ok)
			detail(D, F_PIN_ENC,
			       "Nexus's Personal integration guide names three causes of a failing "
			       "initialisation. "
			       "C_Initialize worked, which rules out a 64-bit JRE or a wrong DLL path; the "
			       "certificate is the usual one. If it is fine, check that the CPF is made "
			       "for %s%s.",
			       model[0] ? "the card model " : "this card type", model);
		else
			detail(D, F_PIN_ENC,
			       "Nexus's Personal integration guide names three causes of a failing "
			       "initialisation: this "
			       "certificate, a CPF that does not match the card (%s%s), a 64-bit JRE or a "
			       "wrong DLL path.",
			       model[0] ? "model " : "type", model);
		return F_PIN_ENC;
	}
	/* Some card was initialised: the middleware set-up is fine, this card differs. */
	for (k = 0; k < D->n_ok_models && other == NULL; k++) {
		if (model[0] && D->ok_models[k][0] && strcmp(D->ok_models[k], model) != 0)
			other = D->ok_models[k];
	}
	if (other) {
		snprintf(buf, sizeof(buf), "\"%s\"", other);
		detail(D, F_CPF,
		       "C_InitToken worked on %s cards and failed on \"%s\" cards in this "
		       "trace: the CPF fits the former, use one made for the latter.",
		       buf, model);
	} else {
		detail(D, F_CPF,
		       "Another card was initialised in this trace, so the middleware set-up "
		       "(certificate, DLL, JRE) works; this card differs. Compare its token info (model "
		       "%s) with the card that worked; a card of another type, or already personalised, "
		       "needs another CPF.",
		       model[0] ? model : "unknown");
	}
	return F_CPF;
}

/* The last calls of a hung call's process, as its context (no record of its own). */
static void keep_hung_context(diag *D, const trace_hung *h, context *ctx)
{
	pid_state *p = pid_get(D, (int64_t)h->e.pid);
	size_t i;

	ctx->n = 0;
	if (p == NULL)
		return;
	for (i = 0; i < p->ring_n; i++)
		ctx->e[ctx->n++] = p->ring[(p->ring_pos + RING - p->ring_n + i) % RING];
}

/* The failures whose cause shows only at the end (see the top of this file). */
static void diag_finish(diag *D)
{
	size_t i;

	for (i = 0; i < D->n_def + D->n_more; i++) {
		int is_group = i >= D->n_def;
		deferred *d = is_group ? NULL : &D->def[i];
		deferred_group *g = is_group ? &D->more[i - D->n_def] : NULL;
		int is_init = d ? d->is_init : g->is_init;
		uint64_t line = d ? d->line : g->first_line;
		uint64_t weight = d ? 1 : g->count;
		trace_record fake;
		int id;

		/* Evidence from what was kept: a record stand-in with the line, function and rv. */
		memset(&fake, 0, sizeof(fake));
		fake.line = line;
		fake.fn = is_init ? "C_InitToken" : "C_Login";
		fake.fn_len = (uint32_t)strlen(fake.fn);
		fake.rv = d ? d->rv : g->rv;
		fake.rv_len = (uint32_t)strlen(fake.rv);

		id = classify(D, is_init, d ? d->not_recognized : g->not_recognized,
		              d ? d->model : g->model);
		if (id < 0) {
			D->unexplained += weight;
			if (d && (!D->have_first_fail ||
			          line < D->first_fail.e[D->first_fail.n - 1].line)) {
				D->first_fail = d->ctx;
				D->have_first_fail = 1;
			}
			continue;
		}
		evidence_w(D, id, &fake, NULL, 0, SEV_ERROR, weight);
		/* evidence() rendered the stand-in; the stored rendering is the real one. */
		if (d && D->f[id].first_line == line)
			trace_copy_text(D->f[id].first, sizeof(D->f[id].first),
			                d->ctx.e[d->ctx.n - 1].text,
			                strlen(d->ctx.e[d->ctx.n - 1].text));
	}

	/* Calls that never returned (FILE.inflight, SlowCall notes). */
	for (i = 0; i < D->n_hung; i++) {
		const trace_hung *h = &D->hung[i];
		trace_record fake;
		finding *f = &D->f[F_HUNG];
		char text[TEXT_MAX];
		int first = f->count == 0;

		memset(&fake, 0, sizeof(fake));
		fake.line = h->note_line ? h->note_line : h->before_line;
		fake.fn = h->e.fn;
		fake.fn_len = (uint32_t)strlen(h->e.fn);
		fake.pid = (int64_t)h->e.pid;
		trace_hung_describe(h, text, sizeof(text));
		if (fake.line == 0)
			fake.line = 1;
		evidence(D, F_HUNG, &fake, NULL, 0, SEV_ERROR);
		if (first) {
			detail(D, F_HUNG, "Still in the backend: %s.", text);
			snprintf(f->first, sizeof(f->first), "%s", text);
			f->first_line = fake.line;
			/* The calls of that process before it, ending with its last record. */
			keep_hung_context(D, h, &f->ctx);
		}
	}
	if (D->f[F_HUNG].count && D->f[F_HUNG].value[0] == '\0')
		snprintf(D->f[F_HUNG].value, sizeof(D->f[0].value),
		         "Microsoft Virtual Smart Card .*, and any other virtual reader's name");

	/* The SO-credential fix: the other value than the one in use. */
	snprintf(D->f[F_SO_CRED].value, sizeof(D->f[0].value), "%s",
	         D->so_setting == 1 ?
	                 "false (now true: the card may take the PUK)" :
	         D->so_setting == 0 ?
	                 "true (now false: the card may take the operator PIN)" :
	                 "true if the card's profile takes the operator PIN (false, the default, sends the PUK)");
	if (D->f[F_VIRTUAL_READER].value[0] == '\0')
		snprintf(D->f[F_VIRTUAL_READER].value, sizeof(D->f[0].value),
		         "Microsoft Virtual Smart Card .*");
}

/* ---- output ---- */

/* Word-wrapped at 78 columns, every line indented by ind spaces. */
static void wrap(FILE *f, int ind, const char *s)
{
	int col = 0;

	while (*s) {
		size_t w = strcspn(s, " ");
		if (col && col + 1 + (int)w > 78 - ind) {
			putc('\n', f);
			col = 0;
		}
		if (col == 0)
			fprintf(f, "%*s", ind, "");
		else
			putc(' ', f), col++;
		fwrite(s, 1, w, f);
		col += (int)w;
		s += w;
		while (*s == ' ')
			s++;
	}
	if (col)
		putc('\n', f);
}

/* The value to write; a computed one (a SkipReader pattern) holds a trace's text: escaped. */
static const char *fix_value(const finding *f, const fix_def *x)
{
	static char shown[sizeof(f->value) * 4];

	return x->value ? x->value : p11_text_safe(shown, sizeof(shown), f->value);
}

static size_t n_findings(const diag *D, int *exit_worthy)
{
	size_t n = 0;
	int i;

	*exit_worthy = 0;
	for (i = 0; i < F_COUNT; i++) {
		if (D->f[i].count) {
			n++;
			if (D->f[i].severity > SEV_INFO)
				*exit_worthy = 1;
		}
	}
	return n;
}

static void print_context(FILE *out, const context *ctx, int ind)
{
	size_t i;

	for (i = 0; i < ctx->n; i++)
		fprintf(out, "%*sline %llu: %s%s\n", ind, "", (unsigned long long)ctx->e[i].line,
		        ctx->e[i].text, i + 1 == ctx->n ? "   <-" : "");
}

static void print_text(diag *D, const char *name, uint64_t damaged)
{
	size_t n, k, idx = 0;
	int worthy, i;
	char buf[TEXT_MAX * 2];

	n = n_findings(D, &worthy);
	printf("trace     %s\n", name);
	printf("records   %llu, %llu failed", (unsigned long long)D->records,
	       (unsigned long long)D->failed);
	if (damaged)
		printf(", %llu damaged line%s skipped (see stderr)", (unsigned long long)damaged,
		       damaged == 1 ? "" : "s");
	trace_failures_sentence(&D->fails, buf, sizeof(buf));
	printf("\nfailures  %s\n", buf);
	printf("findings  %zu\n", n);

	for (i = 0; i < F_COUNT; i++) {
		finding *f = &D->f[i];
		const finding_def *d = &defs[i];

		if (f->count == 0)
			continue;
		printf("\n[%zu] %s: %s (%s)\n", ++idx, sev_name[f->severity], d->title, d->id);
		if (f->n_rvs) {
			int len = 0;
			for (k = 0; k < f->n_rvs; k++)
				len += snprintf(buf + len, sizeof(buf) - (size_t)len,
				                "%s%s -> %s (%llu)", k ? ", " : "", f->rvs[k].fn,
				                f->rvs[k].rv, (unsigned long long)f->rvs[k].n);
			printf("    failed: %s\n", buf);
		}
		if (f->note[0]) {
			printf("    note: ");
			render_plain(stdout, f->note, strlen(f->note));
			printf("\n");
		}
		if (f->detail[0])
			wrap(stdout, 4, f->detail);
		wrap(stdout, 4, d->why);
		printf("    evidence: %llu record%s, line%s", (unsigned long long)f->count,
		       f->count == 1 ? "" : "s", f->n_lines == 1 ? "" : "s");
		for (k = 0; k < f->n_lines; k++)
			printf("%s %llu", k ? "," : "", (unsigned long long)f->lines[k]);
		if (f->count > f->n_lines)
			printf(", ...");
		printf("\n      line %llu: %s\n", (unsigned long long)f->first_line, f->first);
		if (f->ctx.n > 1) {
			printf("    the calls of that process before it:\n");
			print_context(stdout, &f->ctx, 6);
		}
		for (k = 0; k < 3 && d->fix[k].file; k++) {
			const fix_def *x = &d->fix[k];
			printf("    fix: %s\n", x->file);
			if (x->section)
				printf("         [%s] %s%s%s\n", x->section, x->key ? x->key : "",
				       x->key ? " = " : "", fix_value(f, x));
			else if (x->key)
				printf("         %s = %s\n", x->key, fix_value(f, x));
			else
				printf("         %s\n", fix_value(f, x));
		}
		if (d->check) {
			snprintf(buf, sizeof(buf), "check: %s", d->check);
			wrap(stdout, 4, buf);
		}
	}

	if (n == 0 && D->have_first_fail) {
		printf("\nNo known pattern matched. The first failing call (%llu failing call%s in all), "
		       "with the calls of its process before it:\n",
		       (unsigned long long)D->unexplained, D->unexplained == 1 ? "" : "s");
		print_context(stdout, &D->first_fail, 2);
		printf("'p11shim trace show -v --pid PID FILE' shows them with every argument.\n");
	} else if (n == 0 && D->fails.failed) {
		trace_failures_sentence(&D->fails, buf, sizeof(buf));
		printf("\nNothing to diagnose: %s; nothing the policy layers warned about.\n", buf);
	} else if (n == 0) {
		printf("\nNo failing call and nothing the policy layers warned about.\n");
	} else if (D->unexplained) {
		printf("\n%llu other failing call%s matched no pattern; the first is on line %llu:\n  %s\n",
		       (unsigned long long)D->unexplained, D->unexplained == 1 ? "" : "s",
		       (unsigned long long)D->first_fail.e[D->first_fail.n - 1].line,
		       D->first_fail.e[D->first_fail.n - 1].text);
	}
}

static void jstr(FILE *out, const char *s)
{
	json_write_str(out, s, strlen(s));
}

static void jctx(FILE *out, const context *ctx)
{
	size_t i;

	fprintf(out, "[");
	for (i = 0; i < ctx->n; i++) {
		fprintf(out, "%s{\"line\":%llu,\"call\":", i ? "," : "",
		        (unsigned long long)ctx->e[i].line);
		jstr(out, ctx->e[i].text);
		fprintf(out, "}");
	}
	fprintf(out, "]");
}

static void print_json(FILE *out, diag *D, const char *name, uint64_t damaged)
{
	int i, first = 1, worthy;
	size_t k;

	char buf[600];

	(void)n_findings(D, &worthy);
	fprintf(out, "{\"file\":");
	jstr(out, name);
	fprintf(out, ",\"records\":%llu,\"failed\":%llu,\"probing\":%llu,\"failures\":",
	        (unsigned long long)D->records, (unsigned long long)D->failed,
	        (unsigned long long)D->fails.probing);
	trace_failures_sentence(&D->fails, buf, sizeof(buf));
	jstr(out, buf);
	fprintf(out, ",\"damaged_lines\":%llu,\"findings\":[", (unsigned long long)damaged);
	for (i = 0; i < F_COUNT; i++) {
		finding *f = &D->f[i];
		const finding_def *d = &defs[i];

		if (f->count == 0)
			continue;
		fprintf(out, "%s{\"id\":", first ? "" : ",");
		first = 0;
		jstr(out, d->id);
		fprintf(out, ",\"severity\":");
		jstr(out, sev_name[f->severity]);
		fprintf(out, ",\"title\":");
		jstr(out, d->title);
		fprintf(out, ",\"detail\":");
		jstr(out, f->detail);
		fprintf(out, ",\"why\":");
		jstr(out, d->why);
		fprintf(out, ",\"note\":");
		if (f->note[0])
			jstr(out, f->note);
		else
			fprintf(out, "null");
		fprintf(out, ",\"failed\":[");
		for (k = 0; k < f->n_rvs; k++) {
			fprintf(out, "%s{\"fn\":", k ? "," : "");
			jstr(out, f->rvs[k].fn);
			fprintf(out, ",\"rv\":");
			jstr(out, f->rvs[k].rv);
			fprintf(out, ",\"count\":%llu}", (unsigned long long)f->rvs[k].n);
		}
		fprintf(out, "],\"evidence\":{\"records\":%llu,\"lines\":[",
		        (unsigned long long)f->count);
		for (k = 0; k < f->n_lines; k++)
			fprintf(out, "%s%llu", k ? "," : "", (unsigned long long)f->lines[k]);
		fprintf(out,
		        "],\"first\":{\"line\":%llu,\"call\":", (unsigned long long)f->first_line);
		jstr(out, f->first);
		fprintf(out, "}");
		if (f->ctx.n > 1) {
			fprintf(out, ",\"before\":");
			jctx(out, &f->ctx);
		}
		fprintf(out, "},\"fix\":[");
		for (k = 0; k < 3 && d->fix[k].file; k++) {
			fprintf(out, "%s{\"file\":", k ? "," : "");
			jstr(out, d->fix[k].file);
			fprintf(out, ",\"section\":");
			if (d->fix[k].section)
				jstr(out, d->fix[k].section);
			else
				fprintf(out, "null");
			fprintf(out, ",\"key\":");
			if (d->fix[k].key)
				jstr(out, d->fix[k].key);
			else
				fprintf(out, "null");
			fprintf(out, ",\"value\":");
			jstr(out, fix_value(f, &d->fix[k]));
			fprintf(out, "}");
		}
		fprintf(out, "],\"check\":");
		if (d->check)
			jstr(out, d->check);
		else
			fprintf(out, "null");
		fprintf(out, "}");
	}
	fprintf(out, "],\"in_flight\":");
	trace_json_hung(out, D->hung, D->n_hung);
	fprintf(out, ",\"unexplained_failures\":%llu,\"first_unexplained\":",
	        (unsigned long long)D->unexplained);
	if (D->have_first_fail)
		jctx(out, &D->first_fail);
	else
		fprintf(out, "null");
	fprintf(out, "}\n");
}

/* ---- for `trace report` (cmd_trace.h) ---- */

trace_diag *trace_diag_new(void)
{
	diag *D = calloc(1, sizeof(*D));

	if (D == NULL)
		return NULL;
	D->so_setting = -1;
	D->hangs = trace_hangs_new();
	return D;
}

void trace_diag_add(trace_diag *D, const trace_record *rec)
{
	diag_add(D, rec);
}

void trace_diag_finish(trace_diag *D, const char *path)
{
	if (D->hangs)
		D->n_hung = trace_hangs_finish(D->hangs, path, &D->hung);
	diag_finish(D);
}

void trace_diag_json(trace_diag *D, FILE *out, const char *name, uint64_t damaged)
{
	print_json(out, D, name, damaged);
}

const trace_hung *trace_diag_hung(const trace_diag *D, size_t *n)
{
	*n = D->n_hung;
	return D->hung;
}

void trace_diag_free(trace_diag *D)
{
	if (D == NULL)
		return;
	trace_hangs_free(D->hangs);
	free(D);
}

static void diagnose_usage(FILE *f)
{
	fprintf(f, "Usage: p11shim trace diagnose [--json] FILE\n"
	           "\n"
	           "Applies the middleware vendor's troubleshooting list to a trace. Each finding\n"
	           "names its evidence (line numbers in FILE) and the fix: file, section, key and\n"
	           "value. It looks for: a configuration error of the shim; a 64-bit client or a\n"
	           "wrong middleware DLL; card-content caching; a virtual smart-card reader; a\n"
	           "missing PIN-encryption certificate; a card profile (CPF) that does not match\n"
	           "the card; an SO login with the other SO credential; an unsupported PUK change;\n"
	           "a missing or refused Card Eraser; a crash inside the middleware; a call still\n"
	           "in the middleware when the trace ended (FILE.inflight). When nothing\n"
	           "matches, it shows the first failing call and the calls before it.\n"
	           "FILE may be gzip-compressed; - reads stdin.\n"
	           "\n"
	           "  --json   one JSON document instead of text\n"
	           "\n"
	           "Exit status: 0 nothing found, 1 findings or failing calls, 2 FILE unreadable.\n");
}

int trace_cmd_diagnose(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, c, rc, worthy;
	const char *path;
	trace_reader *r;
	trace_record rec;
	diag *D;

	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json = 1; break;
		case 'h': diagnose_usage(stdout); return TOOL_EXIT_OK;
		default: return trace_getopt_error("diagnose", c, argv);
		}
	}
	if ((path = trace_file_operand("diagnose", argc, argv)) == NULL)
		return TOOL_EXIT_USAGE;
	if ((r = trace_cmd_open(path)) == NULL)
		return TOOL_EXIT_USAGE;
	D = trace_diag_new();
	if (D == NULL) {
		fprintf(stderr, "p11shim: out of memory\n");
		trace_close(r);
		return TOOL_EXIT_USAGE;
	}
	while ((c = trace_next(r, &rec)) > 0)
		diag_add(D, &rec);
	trace_diag_finish(D, path);
	rc = n_findings(D, &worthy) && worthy ? TOOL_EXIT_FOUND : TOOL_EXIT_OK;
	if (D->have_first_fail)
		rc = TOOL_EXIT_FOUND;
	if (c < 0) {
		fprintf(stderr, "p11shim: %s; the diagnosis covers the records before it\n",
		        trace_error(r));
		rc = TOOL_EXIT_USAGE;
	} else if (D->records == 0 && trace_damaged(r) > 0) {
		fprintf(stderr, "p11shim: %s: no trace record in it\n", trace_name(r));
		rc = TOOL_EXIT_USAGE;
	}
	if (json)
		print_json(stdout, D, trace_name(r), trace_damaged(r));
	else
		print_text(D, trace_name(r), trace_damaged(r));
	trace_diag_free(D);
	trace_close(r);
	if (fflush(stdout) != 0)
		rc = TOOL_EXIT_USAGE;
	return rc;
}
