/*
 * The readers layer: slots whose reader name fully matches a SkipReader
 * pattern are invisible. Nexus's Personal integration guide: virtual smart
 * cards make Personal fail with GENERAL_ERROR.
 *
 * Patterns ([readers] SkipReader, and with ReadPersonalSkipReader the
 * SkipReader lines of Personal.cfg) are PCRE2, compiled once when the layer
 * is made; a bad one fails C_Initialize naming the file, line and PCRE2's
 * message. A slot is judged once per slot ID, by its slotDescription with
 * the blank padding trimmed, and noted once in the trace. Hidden slots:
 * - C_GetSlotList leaves them out (both tokenPresent values, the length
 *   query, CKR_BUFFER_TOO_SMALL); slot IDs are not renumbered (renumbering
 *   cost p11-kit PR #120/#282);
 * - every function that takes a slot ID answers CKR_SLOT_ID_INVALID (the
 *   gate is generated from p11fn.def for every A_SLOT argument);
 * - C_WaitForSlotEvent never reports them (filtered, not refused).
 */
#include "config.h"

#include "p11-shim.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"
#include "p11-personal.h"
#include "p11-trace.h"

#define MAX_PATTERNS 64
#define MAX_SLOTS 256

typedef struct {
	pcre2_code *re; /* NULL: a literal pattern (literal_form) */
	size_t lit_len; /* a literal pattern: the bytes of text the name starts with */
	bool lit_tail;  /* ... and ".*" after them: the rest holds no newline */
	char text[512];
	char origin[600]; /* "FILE:LINE" or "default" */
} pattern;

typedef struct {
	CK_SLOT_ID id;
	bool hidden;
} judged;

/*
 * Judged slots: an append-only array. Every slot function looks its slot up
 * here, so lookups take no lock: an entry is written before n_slot is
 * raised past it (release), and entries never change once published. The
 * lock only serialises judging (the match data) and appending.
 */
typedef struct {
	pattern *pat; /* as many as configured (1 KiB each), not MAX_PATTERNS */
	size_t n_pat;
	pcre2_match_data *md;      /* used under lock; NULL while every pattern is literal */
	pcre2_match_context *mctx; /* explicit match and depth limits */
	compat_mutex *lock;
	judged slot[MAX_SLOTS];
	atomic_size_t n_slot;
	p11_ops ops;
} readers;

/*
 * The match data and the limits. PCRE2's defaults (ten million steps) let a
 * pattern with nested quantifiers take seconds on a 64-byte name inside
 * C_GetSlotList; past these limits the match is an error, and the reader
 * is hidden (match_inlock).
 */
#define MATCH_LIMIT 100000
#define DEPTH_LIMIT 1000

static int new_matcher(readers *r)
{
	if (r->md != NULL)
		return 0;
	r->md = pcre2_match_data_create(1, NULL);
	r->mctx = pcre2_match_context_create(NULL);
	if (r->md == NULL || r->mctx == NULL)
		return -1;
	pcre2_set_match_limit(r->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(r->mctx, DEPTH_LIMIT);
	return 0;
}

/*
 * The defaults ("Microsoft Virtual Smart Card .*") and most patterns are a
 * literal name or a literal prefix and ".*". Those are matched here without
 * PCRE2, which then is never called: its code is not paged in (about 250
 * KiB resident, issue 15). A pattern is literal when it holds none of
 * PCRE2's metacharacters outside a class (\ ^ $ . [ ] | ( ) ? * + { }),
 * except one ".*" at its very end, and is valid UTF-8 (else PCRE2 gives
 * the error). With the options compile uses, such a pattern fully matches
 * a name exactly when the name starts with the literal bytes and, with
 * ".*", nothing after them is a newline: "." matches any character but a
 * newline, and PCRE2_NEWLINE_LF is set for every compiled pattern, so a
 * newline is LF alone in both paths. tests/unit/test_layer_readers.c
 * (test_literal_patterns_match_as_pcre2) holds both paths to the same
 * answers.
 */
static bool literal_form(const char *text, size_t *len, bool *tail)
{
	size_t n = strlen(text), i, k;

	*tail = n >= 2 && text[n - 2] == '.' && text[n - 1] == '*';
	if (*tail)
		n -= 2;
	for (i = 0; i < n; i += k) {
		if (strchr("\\^$.[]|()?*+{}", text[i]) != NULL)
			return false;
		k = (unsigned char)text[i] < 0x80 ?
		            1 :
		            p11_utf8_len((const unsigned char *)text + i, n - i);
		if (k == 0)
			return false;
	}
	*len = n;
	return true;
}

static bool literal_match(const pattern *p, const char *name, size_t n)
{
	if (n < p->lit_len || memcmp(name, p->text, p->lit_len) != 0)
		return false;
	if (!p->lit_tail)
		return n == p->lit_len;
	return memchr(name + p->lit_len, '\n', n - p->lit_len) == NULL;
}

static pcre2_code *compile_pcre2(const char *text, int *code, PCRE2_SIZE *off)
{
	pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
	pcre2_code *re;

	if (cc == NULL) {
		*code = PCRE2_ERROR_NOMEMORY;
		*off = 0;
		return NULL;
	}
	pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
	/* Full match, as Personal's own SkipReader: anchored at both ends. */
	/* PCRE2_MATCH_INVALID_UTF: a subject is never an error for its
	 * encoding (names are converted to UTF-8 first; this is the backstop). */
	re = pcre2_compile((PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED,
	                   PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
	                   code, off, cc);
	pcre2_compile_context_free(cc);
	return re;
}

/* section: "[readers] " for the shim's own lines, NULL for Personal.cfg's. */
static int compile(readers *r, const char *text, const char *file, unsigned line,
                   const char *section, char *err, size_t errlen)
{
	pattern *p;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	if (r->n_pat == MAX_PATTERNS) {
		snprintf(err, errlen, "more than %d SkipReader patterns", MAX_PATTERNS);
		return -1;
	}
	/* Grown one at a time: a few patterns are usual, and C_Initialize
	 * is not on any hot path. */
	p = realloc(r->pat, (r->n_pat + 1) * sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->pat = p;
	p = &r->pat[r->n_pat];
	p->re = NULL;
	if (!(strlen(text) < sizeof(p->text) && literal_form(text, &p->lit_len, &p->lit_tail)) &&
	    (p->re = compile_pcre2(text, &code, &off)) == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, errlen,
		         "%s:%u: %sSkipReader = %s: PCRE2 error at offset %lu: %s; fix the pattern",
		         file ? file : "default", line, section ? section : "", text,
		         (unsigned long)off, (const char *)msg);
		return -1;
	}
	if (p->re != NULL && new_matcher(r) != 0) {
		pcre2_code_free(p->re);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(p->text, sizeof(p->text), "%s", text);
	if (file != NULL)
		snprintf(p->origin, sizeof(p->origin), "%s:%u", file, line);
	else
		snprintf(p->origin, sizeof(p->origin), "default");
	r->n_pat++;
	return 0;
}

/*
 * A reader name as UTF-8. Reader names are bytes from the middleware; a
 * Windows reader name in a legacy code page ("Lecteur \xe0 puce") is not
 * UTF-8, and PCRE2 in UTF mode would refuse to match it at all, so a name
 * that is not valid UTF-8 is taken as Latin-1 (ISO 8859-1) and converted:
 * "à" then matches "à" and ".". out holds 2 * n + 1 bytes.
 */
static size_t name_utf8(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0, len;

	for (i = 0; i < n; i += len) {
		len = in[i] < 0x80 ? 1 : p11_utf8_len(in + i, n - i);
		if (len == 0)
			break;
	}
	if (i >= n) {
		memcpy(out, in, n);
		out[n] = '\0';
		return n;
	}
	for (i = 0; i < n; i++) {
		if (in[i] < 0x80) {
			out[o++] = (char)in[i];
		} else {
			out[o++] = (char)(0xc0 | in[i] >> 6);
			out[o++] = (char)(0x80 | (in[i] & 0x3f));
		}
	}
	out[o] = '\0';
	return o;
}

/*
 * Judges a description (already UTF-8): the pattern that hides it in *p,
 * or *p NULL and a PCRE2 error code in *error when a pattern could not be
 * matched (its match or depth limit, say). A pattern that cannot say "no"
 * hides the reader: failing closed, an unknown reader must not reach the
 * encoder. Returns whether it is hidden. Caller holds the lock.
 */
static bool match_inlock(readers *r, const char *desc, size_t n, const pattern **p, int *error)
{
	size_t i;
	int rc;

	*p = NULL;
	*error = 0;
	for (i = 0; i < r->n_pat; i++) {
		if (r->pat[i].re == NULL)
			rc = literal_match(&r->pat[i], desc, n) ? 0 : PCRE2_ERROR_NOMATCH;
		else
			rc = pcre2_match(r->pat[i].re, (PCRE2_SPTR)desc, n, 0, 0, r->md, r->mctx);
		if (rc >= 0) {
			*p = &r->pat[i];
			return true;
		}
		if (rc != PCRE2_ERROR_NOMATCH && *error == 0) {
			*p = &r->pat[i];
			*error = rc;
		}
	}
	return *error != 0;
}

/* Lock-free: 1 hidden, 0 shown, -1 not judged yet. */
static inline int lookup(readers *r, CK_SLOT_ID id)
{
	size_t i, n = atomic_load_explicit(&r->n_slot, memory_order_acquire);

	for (i = 0; i < n; i++)
		if (r->slot[i].id == id)
			return r->slot[i].hidden;
	return -1;
}

/*
 * Whether a slot is hidden: judged once per slot ID. The backend is asked
 * for the slot description outside the lock, as every call to the backend
 * is made: a slow or blocked backend must not hold up other threads' calls
 * (nor deadlock one that calls back).
 */
static bool hidden(p11_layer *self, CK_SLOT_ID id)
{
	readers *r = self->data;
	const pattern *p;
	CK_SLOT_INFO info;
	char name[2 * sizeof(info.slotDescription) + 1];
	PCRE2_UCHAR msg[128];
	size_t i, n, judged_n;
	int known = lookup(r, id), error;
	bool h = false;

	if (known >= 0)
		return known;
	if (P11_NEXT(self, GetSlotInfo, id, &info) != CKR_OK)
		return false; /* an invalid slot stays the backend's to answer */
	n = sizeof(info.slotDescription);
	while (n > 0 && (info.slotDescription[n - 1] == ' ' || info.slotDescription[n - 1] == '\0'))
		n--;
	n = name_utf8(info.slotDescription, n, name);

	compat_mutex_lock(r->lock);
	h = match_inlock(r, name, n, &p, &error);
	judged_n = atomic_load_explicit(&r->n_slot, memory_order_relaxed);
	for (i = 0; i < judged_n && r->slot[i].id != id; i++)
		;
	if (i == judged_n && judged_n < MAX_SLOTS) {
		r->slot[judged_n].id = id;
		r->slot[judged_n].hidden = h;
		atomic_store_explicit(&r->n_slot, judged_n + 1, memory_order_release);
		if (h && error != 0) {
			pcre2_get_error_message(error, msg, sizeof(msg));
			/* A refusal, not an action: a stderr line too (1xx). */
			p11_event(P11_EV_ERROR, id,
			          "readers: slot %lu '%s' hidden: SkipReader '%s' (%s) could not be matched "
			          "against it: %s; simplify the pattern",
			          (unsigned long)id, name, p->text, p->origin, (const char *)msg);
		} else if (h) {
			p11_event(P11_EV_READER_HIDDEN, id,
			          "readers: slot %lu '%s' hidden by SkipReader '%s' (%s)",
			          (unsigned long)id, name, p->text, p->origin);
		}
	}
	compat_mutex_unlock(r->lock);
	return h;
}

/* Removes the hidden slots of list[0..n) in place; returns how many remain. */
static CK_ULONG keep_visible(p11_layer *self, CK_SLOT_ID_PTR list, CK_ULONG n)
{
	CK_ULONG i, visible = 0;

	for (i = 0; i < n; i++)
		if (!hidden(self, list[i]))
			list[visible++] = list[i];
	return visible;
}

/*
 * A backend may answer CKR_OK with a count larger than the list it was
 * given (a lie, or a bug of the middleware): only what the list holds is
 * read, and the lie is noted. The count the client then sees is the one
 * this layer built from what it read.
 */
static CK_ULONG believable(const char *where, CK_ULONG said, CK_ULONG room)
{
	if (said <= room)
		return said;
	p11_note("backend: C_GetSlotList answered %lu slots for a list of %lu (%s); only %lu read",
	         (unsigned long)said, (unsigned long)room, where, (unsigned long)room);
	return room;
}

/*
 * p11-kit calls C_GetSlotList about 145 times for one listing, so the
 * common cases make one backend call and no allocation: a list the client's
 * buffer holds is filtered in place; a length query (or a buffer too small
 * for all slots, hidden ones included) goes through a buffer on the stack.
 */
static CK_RV readers_C_GetSlotList(p11_layer *self, CK_BBOOL present, CK_SLOT_ID_PTR list,
                                   CK_ULONG_PTR count)
{
	CK_SLOT_ID stack[64];
	CK_SLOT_ID_PTR all = NULL;
	CK_ULONG n = 0, i, visible = 0, room;
	CK_RV rv;
	int tries;

	if (count == NULL)
		return P11_NEXT(self, GetSlotList, present, list, count);
	if (list != NULL) {
		n = *count;
		rv = P11_NEXT(self, GetSlotList, present, list, &n);
		if (rv == CKR_OK) {
			n = believable("the client's", n, *count);
			visible = keep_visible(self, list, n);
			for (i = visible; i < n; i++)
				list[i] = 0; /* no hidden ID left behind */
			*count = visible;
			return CKR_OK;
		}
		if (rv != CKR_BUFFER_TOO_SMALL)
			return rv;
		/* Too small for every slot; maybe not for the visible ones. */
	}
	/* Zeroed: after a lying count, no stack garbage becomes a slot ID. */
	memset(stack, 0, sizeof(stack));
	n = sizeof(stack) / sizeof(stack[0]);
	rv = P11_NEXT(self, GetSlotList, present, stack, &n);
	if (rv == CKR_OK) {
		n = believable("the shim's", n, sizeof(stack) / sizeof(stack[0]));
		visible = keep_visible(self, stack, n);
		goto answer;
	}
	if (rv != CKR_BUFFER_TOO_SMALL)
		return rv;
	/* More than 64 slots: the whole list, on the heap. Readers come and
	 * go, so retry when the list grew in between. */
	for (tries = 0; tries < 4; tries++) {
		rv = P11_NEXT(self, GetSlotList, present, NULL, &n);
		if (rv != CKR_OK)
			goto out;
		free(all);
		all = calloc(n ? n : 1, sizeof(*all));
		if (all == NULL) {
			rv = CKR_HOST_MEMORY;
			goto out;
		}
		room = n;
		rv = P11_NEXT(self, GetSlotList, present, all, &n);
		if (rv == CKR_OK)
			n = believable("the shim's", n, room);
		if (rv != CKR_BUFFER_TOO_SMALL)
			break;
	}
	if (rv != CKR_OK)
		goto out;
	visible = keep_visible(self, all, n);
answer:
	/* PKCS#11 5.2: length query, too small, or filled. */
	if (list == NULL) {
		rv = CKR_OK;
	} else if (*count < visible) {
		rv = CKR_BUFFER_TOO_SMALL;
	} else {
		memcpy(list, all != NULL ? all : stack, visible * sizeof(*all));
		rv = CKR_OK;
	}
	*count = visible;
out:
	free(all);
	return rv;
}

static CK_RV readers_C_WaitForSlotEvent(p11_layer *self, CK_FLAGS flags, CK_SLOT_ID_PTR slot,
                                        CK_VOID_PTR reserved)
{
	CK_RV rv;

	for (;;) {
		rv = P11_NEXT(self, WaitForSlotEvent, flags, slot, reserved);
		if (rv != CKR_OK || slot == NULL || !hidden(self, *slot))
			return rv;
		/* An event on a hidden reader is swallowed; with CKF_DONT_BLOCK
		 * the next pending event, or CKR_NO_EVENT, answers instead. */
	}
}

/*
 * The slot gate: every function with a slot argument (the slot gate column
 * of include/p11kinds.def, A_SLOT) refuses a hidden reader's slot.
 */
#define GATE_1(s)            \
	if (hidden(self, s)) \
	return CKR_SLOT_ID_INVALID
#define GATE_0(s)
#define GATE_(is_slot, s) GATE__(is_slot, s)
#define GATE__(is_slot, s) GATE_##is_slot(s)
#define P11_GATE(t) GATE_(P11_SLOT_GATE(t), P11_SLOT_NAME(t))
#define P11_PLUS() +

#define P11FN(name, ...)                                                     \
	static CK_RV gate_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__)) \
	{                                                                    \
		P11_MAP(P11_GATE, P11_SEMI, __VA_ARGS__);                    \
		return P11_NEXT(self, name, P11_ARGS(__VA_ARGS__));          \
	}
#define P11FN_SPECIAL(name, ...)
#define P11FN_LIFE(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_LIFE

static void fill_ops(p11_ops *ops)
{
#define P11FN(name, ...) \
	ops->C_##name = (P11_MAP(P11_SLOT_GATE, P11_PLUS, __VA_ARGS__)) ? gate_C_##name : NULL;
#define P11FN_SPECIAL(name, ...)
#define P11FN_LIFE(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_LIFE
	ops->C_GetSlotList = readers_C_GetSlotList;
	ops->C_WaitForSlotEvent = readers_C_WaitForSlotEvent;
}

/* PCRE2 is not called when it never was (literal_form): its code stays out of memory. */
static void free_patterns(readers *r)
{
	size_t i;

	for (i = 0; i < r->n_pat; i++)
		if (r->pat[i].re != NULL)
			pcre2_code_free(r->pat[i].re);
	free(r->pat);
	if (r->md != NULL)
		pcre2_match_data_free(r->md);
	if (r->mctx != NULL)
		pcre2_match_context_free(r->mctx);
}

static void readers_destroy(p11_layer *self)
{
	readers *r = self->data;

	free_patterns(r);
	compat_mutex_free(r->lock);
	free(r);
}

/*
 * Compiles the patterns: [readers] SkipReader, then with
 * ReadPersonalSkipReader the SkipReader lines of Personal.cfg. Shared by
 * the layer and p11_skip_new (`p11shim doctor`). 0, or -1 with err set.
 */
static int load_patterns(readers *r, const p11_config *cfg, char *err, size_t errlen)
{
	p11_personal_cfg *pc = NULL;
	bool from_personal = false;
	const char *text, *file;
	unsigned line;
	size_t i;
	int rc = -1;

	for (i = 0; i < p11_config_count(cfg, P11_KEY_SKIP_READER); i++) {
		text = p11_config_item(cfg, P11_KEY_SKIP_READER, i, NULL, &file, &line);
		if (compile(r, text, file, line, "[readers] ", err, errlen) != 0)
			goto out;
	}
	if (!p11_config_bool(cfg, P11_KEY_READ_PERSONAL_SKIP_READER, &from_personal, err, errlen))
		goto out;
	if (from_personal) {
		pc = malloc(sizeof(*pc));
		if (pc == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		if (!p11_personal_cfg_read(cfg, pc, err, errlen))
			goto out;
		for (i = 0; i < pc->n_skip; i++)
			if (compile(r, pc->skip[i].pattern, pc->skip[i].file, pc->skip[i].line,
			            NULL, err, errlen) != 0)
				goto out;
	}
	rc = 0;
out:
	free(pc);
	return rc;
}

p11_layer *p11_readers_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	p11_layer *layer = NULL;
	readers *r = NULL;

	r = calloc(1, sizeof(*r));
	layer = calloc(1, sizeof(*layer));
	if (r == NULL || layer == NULL || (r->lock = compat_mutex_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	layer->data = r;
	if (load_patterns(r, ctx->cfg, err, errlen) != 0)
		goto fail;
	if (r->n_pat == 0) {
		/* No pattern: the layer stays out of the call path. */
		readers_destroy(layer);
		free(layer);
		err[0] = '\0';
		return NULL;
	}
	layer->name = "readers";
	fill_ops(&r->ops);
	layer->ops = &r->ops;
	layer->destroy = readers_destroy;
	return layer;
fail:
	if (r != NULL && layer != NULL && layer->data == r)
		readers_destroy(layer);
	else
		free(r);
	free(layer);
	return NULL;
}

/* The patterns alone, for `p11shim doctor` (include/p11-shim.h). */
struct p11_skip {
	readers r;
};

p11_skip *p11_skip_new(const p11_config *cfg, char *err, size_t errlen)
{
	p11_skip *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (load_patterns(&s->r, cfg, err, errlen) != 0) {
		p11_skip_free(s);
		return NULL;
	}
	return s;
}

size_t p11_skip_count(const p11_skip *s)
{
	return s->r.n_pat;
}

const char *p11_skip_pattern(const p11_skip *s, size_t i, const char **origin)
{
	if (i >= s->r.n_pat)
		return NULL;
	if (origin != NULL)
		*origin = s->r.pat[i].origin;
	return s->r.pat[i].text;
}

int p11_skip_match(p11_skip *s, const char *desc, size_t n)
{
	char name[2 * 64 + 1];
	const pattern *p;
	int error;

	/* Judged as the layer judges: the blank padding trimmed, as UTF-8;
	 * a pattern that fails to match hides the reader too. */
	while (n > 0 && (desc[n - 1] == ' ' || desc[n - 1] == '\0'))
		n--;
	if (n > 64)
		n = 64;
	n = name_utf8((const unsigned char *)desc, n, name);
	if (!match_inlock(&s->r, name, n, &p, &error))
		return -1;
	return (int)(p - s->r.pat);
}

bool p11_skip_literal(const p11_skip *s, size_t i)
{
	return i < s->r.n_pat && s->r.pat[i].re == NULL;
}

void p11_skip_free(p11_skip *s)
{
	if (s == NULL)
		return;
	free_patterns(&s->r);
	free(s);
}
