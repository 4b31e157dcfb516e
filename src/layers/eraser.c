/*
 * The eraser layer: a Card Eraser object on every token, virtual where the
 * card has none.
 *
 * Nexus's Personal integration guide ("Card Eraser"): Personal deletes the whole token profile and
 * returns the card to the uninitialised state when the "Card Eraser" object
 * is destroyed, but that object exists only "on certain cards (for example,
 * CardOS 4.4, 5.x, certain Gemalto cards...)", and "an exception will be
 * thrown if the 'Card Eraser' object is not found". With [eraser]
 * CardEraser = true every token shows one, so an encoding description that
 * erases works on every card:
 *
 * - native: the backend has its own Card Eraser (CKO_DATA labelled "Card
 *   Eraser"). It is shown as the backend shows it, never beside a virtual
 *   one, and destroying it passes down: the card erases itself, by the rules
 *   of its card profile (CPF). Its refusals get an explanation.
 * - emulated: no native object. A virtual one (include/p11shim.h documents
 *   its attributes) joins every search whose template it matches, answers
 *   C_GetAttributeValue and C_GetObjectSize, refuses C_SetAttributeValue and
 *   C_CopyObject (CKR_ACTION_PROHIBITED: it is CKA_MODIFIABLE and
 *   CKA_COPYABLE false), and destroying it destroys every token object the
 *   session sees. The guide's login rule ("the highest of those is used to
 *   log in, otherwise, an attempt to delete anonymously is done") becomes:
 *   the erase runs with the credential the application logged in with
 *   (p11_session_cred), else anonymously; the shim holds no secret to log in
 *   with itself. What the backend refused to destroy is named, and its rv
 *   returned.
 *
 * Which of the two a token has is asked of the backend (a search for
 * CKO_DATA + "Card Eraser" in the client's session) when a search starts,
 * before the client's C_FindObjectsInit goes down, since a session has only
 * one active search (PKCS#11 v2.40 section 5.7, C_FindObjectsInit:
 * CKR_OPERATION_ACTIVE) and the client's must not be disturbed. Nothing is
 * kept beyond the session (the shim caches no card content: another session
 * or process may change the card, or it may be swapped): a use of the
 * virtual handle outside a search asks again.
 *
 * The virtual handle is a high value no known backend uses (the simulator
 * keeps 0x80000000 and up free; SoftHSM2 counts up from 1); every handle the
 * backend hands out through this layer is compared with it, and when the
 * backend ever uses the same value the virtual object moves to another.
 */
#include "config.h"

#include "p11-shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"
#include "p11-const.h"
#include "p11-session.h"
#include "p11shim.h"

/*
 * Virtual handles come from [HANDLE_LOW, HANDLE_TOP], downward. The window
 * fits a 32-bit CK_ULONG (Windows) and stays clear of 0xFFFFFFFF, which
 * some code takes for CK_UNAVAILABLE_INFORMATION or -1.
 */
#define HANDLE_TOP 0xFFFFFE00UL
#define HANDLE_LOW 0xFFFF0000UL
#define MAX_TAKEN 256

/* Objects listed by name in the error of an incomplete erase. */
#define MAX_NAMED 8

typedef enum {
	KIND_UNKNOWN,  /* not asked, or the backend could not answer */
	KIND_NATIVE,   /* the backend has its own Card Eraser */
	KIND_EMULATED, /* the virtual one stands in */
} eraser_kind;

/* A session that searched through this layer. */
typedef struct {
	CK_SESSION_HANDLE h;
	bool finding;     /* a search started here is active */
	bool pending;     /* the virtual object is still to be returned by it */
	eraser_kind kind; /* the answer of this session's last probe */
} session;

typedef struct {
	p11_shim_ctx *ctx;
	compat_mutex *lock; /* guards everything below; never held across a backend call */
	session *s;
	size_t n, cap;
	CK_OBJECT_HANDLE vhandle;          /* the virtual object's handle now */
	CK_OBJECT_HANDLE taken[MAX_TAKEN]; /* backend handles seen in the window */
	size_t n_taken;
} eraser;

/* ---- the virtual object ---- */

static const CK_OBJECT_CLASS v_class = CKO_DATA;
static const CK_BBOOL v_true = CK_TRUE, v_false = CK_FALSE;

static const struct {
	CK_ATTRIBUTE_TYPE type;
	const void *value;
	CK_ULONG len;
} v_attrs[] = {
	{ CKA_CLASS, &v_class, sizeof(v_class) },
	{ CKA_TOKEN, &v_true, sizeof(CK_BBOOL) },
	{ CKA_PRIVATE, &v_false, sizeof(CK_BBOOL) },
	{ CKA_MODIFIABLE, &v_false, sizeof(CK_BBOOL) },
	{ CKA_COPYABLE, &v_false, sizeof(CK_BBOOL) },
	{ CKA_DESTROYABLE, &v_true, sizeof(CK_BBOOL) },
	{ CKA_LABEL, P11SHIM_CARD_ERASER_LABEL, sizeof(P11SHIM_CARD_ERASER_LABEL) - 1 },
	{ CKA_APPLICATION, P11SHIM_CARD_ERASER_APPLICATION,
	  sizeof(P11SHIM_CARD_ERASER_APPLICATION) - 1 },
	{ CKA_OBJECT_ID, "", 0 },
	{ CKA_VALUE, "", 0 },
};
#define N_VATTRS (sizeof(v_attrs) / sizeof(v_attrs[0]))

static int vattr(CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < N_VATTRS; i++)
		if (v_attrs[i].type == type)
			return (int)i;
	return -1;
}

/* PKCS#11 v2.40 section 5.7, C_FindObjectsInit: every template attribute
 * must be present with an equal value; an empty template matches. */
static bool template_matches(const CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_ULONG i;
	int a;

	for (i = 0; i < n; i++) {
		a = vattr(t[i].type);
		if (a < 0 || t[i].ulValueLen != v_attrs[a].len)
			return false;
		if (v_attrs[a].len > 0 && (t[i].pValue == NULL ||
		                           memcmp(t[i].pValue, v_attrs[a].value, v_attrs[a].len) != 0))
			return false;
	}
	return true;
}

/* PKCS#11 v2.40 section 5.7, C_GetAttributeValue: the five cases per attribute. */
static CK_RV get_attributes(CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = CKR_OK;
	CK_ULONG i;
	int a;

	for (i = 0; i < n; i++) {
		a = vattr(t[i].type);
		if (a < 0) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (t[i].pValue == NULL) {
			t[i].ulValueLen = v_attrs[a].len;
		} else if (t[i].ulValueLen >= v_attrs[a].len) {
			memcpy(t[i].pValue, v_attrs[a].value, v_attrs[a].len);
			t[i].ulValueLen = v_attrs[a].len;
		} else {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		}
	}
	return rv;
}

/* ---- state ---- */

static session *find_inlock(eraser *e, CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (e->s[i].h == h)
			return &e->s[i];
	return NULL;
}

static session *add_inlock(eraser *e, CK_SESSION_HANDLE h)
{
	session *s = find_inlock(e, h), *mem;

	if (s != NULL)
		return s;
	if (e->n == e->cap) {
		mem = realloc(e->s, (e->cap ? e->cap * 2 : 16) * sizeof(*mem));
		if (mem == NULL)
			return NULL;
		e->s = mem;
		e->cap = e->cap ? e->cap * 2 : 16;
	}
	s = &e->s[e->n++];
	memset(s, 0, sizeof(*s));
	s->h = h;
	return s;
}

static void drop_inlock(eraser *e, CK_SESSION_HANDLE h)
{
	session *s = find_inlock(e, h);

	if (s != NULL)
		*s = e->s[--e->n];
}

static bool taken_inlock(eraser *e, CK_OBJECT_HANDLE h)
{
	size_t i;

	for (i = 0; i < e->n_taken; i++)
		if (e->taken[i] == h)
			return true;
	return false;
}

/*
 * Handles the backend handed out. One in the window is remembered, so the
 * virtual object never moves onto it; one equal to the virtual handle moves
 * the virtual object, so that a handle the client holds names one object
 * only.
 */
static void seen(eraser *e, const CK_OBJECT_HANDLE *h, CK_ULONG n)
{
	CK_OBJECT_HANDLE old, v = 0;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		if (h[i] < HANDLE_LOW || h[i] > HANDLE_TOP)
			continue;
		compat_mutex_lock(e->lock);
		if (!taken_inlock(e, h[i]) && e->n_taken < MAX_TAKEN)
			e->taken[e->n_taken++] = h[i];
		old = e->vhandle;
		if (h[i] == old) {
			for (v = HANDLE_TOP; v > HANDLE_LOW && (v == old || taken_inlock(e, v)); v--)
				;
			e->vhandle = v;
		}
		compat_mutex_unlock(e->lock);
		if (h[i] == old)
			p11_note("eraser: the backend uses handle 0x%lx too: the virtual Card Eraser "
			         "moves to 0x%lx",
			         (unsigned long)old, (unsigned long)v);
	}
}

static CK_OBJECT_HANDLE vhandle(eraser *e)
{
	CK_OBJECT_HANDLE v;

	compat_mutex_lock(e->lock);
	v = e->vhandle;
	compat_mutex_unlock(e->lock);
	return v;
}

/* "with the PUK", "anonymously": how an erase runs. */
static const char *cred_name(p11_cred c)
{
	static const char *const with[] = {
		[P11_CRED_USER] = "with the user PIN",
		[P11_CRED_PUK] = "with the PUK",
		[P11_CRED_OPERATOR] = "with the operator PIN",
	};

	return c != P11_CRED_NONE && c < sizeof(with) / sizeof(with[0]) ? with[c] : "anonymously";
}

/* ---- asking the backend ---- */

/*
 * Whether the session's token has a native Card Eraser: a search of its
 * own in the client's session. The caller makes sure no search of the
 * client is active there.
 */
static eraser_kind probe(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *native)
{
	eraser *e = self->data;
	CK_OBJECT_CLASS klass = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_LABEL, (void *)P11SHIM_CARD_ERASER_LABEL,
		  sizeof(P11SHIM_CARD_ERASER_LABEL) - 1 },
	};
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n = 0;
	CK_RV rv;

	if (P11_NEXT(self, FindObjectsInit, h, t, 2) != CKR_OK)
		return KIND_UNKNOWN;
	rv = P11_NEXT(self, FindObjects, h, found, 4, &n);
	P11_NEXT(self, FindObjectsFinal, h);
	if (rv != CKR_OK || n > 4) /* more than it had room for: a lie */
		return KIND_UNKNOWN;
	seen(e, found, n);
	if (n > 0 && native != NULL)
		*native = found[0];
	return n > 0 ? KIND_NATIVE : KIND_EMULATED;
}

/* The session's slot for a note; -1 when the backend does not know it. */
static CK_SLOT_ID session_slot(p11_layer *self, CK_SESSION_HANDLE h)
{
	CK_SLOT_ID slot;
	bool logged_in;

	return p11_session_slot(self, h, &slot, &logged_in) ? slot : (CK_SLOT_ID)-1;
}

/*
 * Whether hObject is the virtual Card Eraser in this session: it has the
 * virtual handle and the token has no native one. During a search of the
 * client the answer of that search's probe counts; otherwise the backend is
 * asked now.
 */
static bool is_virtual(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	eraser *e = self->data;
	eraser_kind kind = KIND_UNKNOWN;
	bool finding = false;
	session *s;

	compat_mutex_lock(e->lock);
	if (obj != e->vhandle) {
		compat_mutex_unlock(e->lock);
		return false;
	}
	s = find_inlock(e, h);
	if (s != NULL && s->finding) {
		finding = true;
		kind = s->kind;
	}
	compat_mutex_unlock(e->lock);
	if (!finding)
		kind = probe(self, h, NULL);
	return kind == KIND_EMULATED;
}

/* ---- searches ---- */

static CK_RV eraser_C_FindObjectsInit(p11_layer *self, CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
                                      CK_ULONG n)
{
	eraser *e = self->data;
	eraser_kind kind = KIND_UNKNOWN;
	CK_OBJECT_HANDLE native = CK_INVALID_HANDLE;
	bool active, wanted;
	session *s;
	CK_RV rv;

	if (t == NULL && n > 0)
		return P11_NEXT(self, FindObjectsInit, h, t, n);
	compat_mutex_lock(e->lock);
	s = find_inlock(e, h);
	active = s != NULL && s->finding;
	compat_mutex_unlock(e->lock);
	/* One search per session: the backend answers CKR_OPERATION_ACTIVE, untouched. */
	if (active)
		return P11_NEXT(self, FindObjectsInit, h, t, n);

	/* Only a search the Card Eraser can match costs a probe. */
	wanted = template_matches(t, n);
	if (wanted) {
		kind = probe(self, h, &native);
		if (kind == KIND_NATIVE)
			p11_note("eraser: slot %lu has a native Card Eraser (handle 0x%lx): shown instead "
			         "of the virtual one",
			         (unsigned long)session_slot(self, h), (unsigned long)native);
		else if (kind == KIND_EMULATED)
			p11_note("eraser: slot %lu has no native Card Eraser: the virtual one (handle "
			         "0x%lx) joins this search",
			         (unsigned long)session_slot(self, h), (unsigned long)vhandle(e));
	}
	rv = P11_NEXT(self, FindObjectsInit, h, t, n);
	if (rv != CKR_OK)
		return rv;
	if (wanted && kind == KIND_UNKNOWN)
		p11_note("eraser: the backend did not answer whether this token has a native Card "
		         "Eraser: no virtual one in this search");
	compat_mutex_lock(e->lock);
	s = add_inlock(e, h);
	if (s != NULL) {
		s->finding = true;
		s->pending = wanted && kind == KIND_EMULATED;
		/* A search that did not probe keeps the session's last answer. */
		if (wanted)
			s->kind = kind;
	}
	compat_mutex_unlock(e->lock);
	if (s == NULL)
		p11_message("eraser: out of memory: no virtual Card Eraser in this search");
	return CKR_OK;
}

static CK_RV eraser_C_FindObjects(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out,
                                  CK_ULONG max, CK_ULONG_PTR count)
{
	eraser *e = self->data;
	session *s;
	CK_RV rv;

	rv = P11_NEXT(self, FindObjects, h, out, max, count);
	/* A count over max is the backend's lie: passed on, not read (the trace notes it). */
	if (rv != CKR_OK || out == NULL || count == NULL || *count > max)
		return rv;
	seen(e, out, *count);
	/* After the backend's objects, where the answer has room (5.2: at most max). */
	compat_mutex_lock(e->lock);
	s = find_inlock(e, h);
	if (s != NULL && s->finding && s->pending && *count < max) {
		out[(*count)++] = e->vhandle;
		s->pending = false;
	}
	compat_mutex_unlock(e->lock);
	return rv;
}

static void end_search(eraser *e, CK_SESSION_HANDLE h)
{
	session *s;

	compat_mutex_lock(e->lock);
	s = find_inlock(e, h);
	if (s != NULL)
		s->finding = s->pending = false;
	compat_mutex_unlock(e->lock);
}

static CK_RV eraser_C_FindObjectsFinal(p11_layer *self, CK_SESSION_HANDLE h)
{
	CK_RV rv = P11_NEXT(self, FindObjectsFinal, h);

	end_search(self->data, h);
	return rv;
}

/* PKCS#11 3.0 section 5.6: C_SessionCancel with CKF_FIND_OBJECTS ends the search. */
static CK_RV eraser_C_SessionCancel(p11_layer *self, CK_SESSION_HANDLE h, CK_FLAGS flags)
{
	CK_RV rv = P11_NEXT(self, SessionCancel, h, flags);

	if (rv == CKR_OK && (flags & CKF_FIND_OBJECTS))
		end_search(self->data, h);
	return rv;
}

static CK_RV eraser_C_CloseSession(p11_layer *self, CK_SESSION_HANDLE h)
{
	eraser *e = self->data;
	CK_RV rv = P11_NEXT(self, CloseSession, h);

	if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED) {
		compat_mutex_lock(e->lock);
		drop_inlock(e, h);
		compat_mutex_unlock(e->lock);
	}
	return rv;
}

/* The sessions of that slot are gone: forget those the backend no longer knows. */
static CK_RV eraser_C_CloseAllSessions(p11_layer *self, CK_SLOT_ID slot)
{
	eraser *e = self->data;
	CK_RV rv = P11_NEXT(self, CloseAllSessions, slot);
	CK_SESSION_HANDLE *hs = NULL;
	CK_SESSION_INFO si;
	size_t i, n = 0;

	if (rv != CKR_OK)
		return rv;
	compat_mutex_lock(e->lock);
	if (e->n > 0 && (hs = malloc(e->n * sizeof(*hs))) != NULL)
		for (n = 0; n < e->n; n++)
			hs[n] = e->s[n].h;
	compat_mutex_unlock(e->lock);
	for (i = 0; i < n; i++) {
		CK_RV r = P11_NEXT(self, GetSessionInfo, hs[i], &si);
		if (r == CKR_SESSION_HANDLE_INVALID || r == CKR_SESSION_CLOSED) {
			compat_mutex_lock(e->lock);
			drop_inlock(e, hs[i]);
			compat_mutex_unlock(e->lock);
		}
	}
	free(hs);
	return rv;
}

/* ---- the object's functions ---- */

static CK_RV eraser_C_GetAttributeValue(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                        CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	if (!is_virtual(self, h, obj))
		return P11_NEXT(self, GetAttributeValue, h, obj, t, n);
	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	return get_attributes(t, n);
}

static CK_RV eraser_C_GetObjectSize(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                    CK_ULONG_PTR size)
{
	CK_ULONG total = 0;
	size_t i;

	if (!is_virtual(self, h, obj))
		return P11_NEXT(self, GetObjectSize, h, obj, size);
	if (size == NULL)
		return CKR_ARGUMENTS_BAD;
	/* "An approximation of the amount of memory" (5.7): its attribute values. */
	for (i = 0; i < N_VATTRS; i++)
		total += v_attrs[i].len;
	*size = total;
	return CKR_OK;
}

static CK_RV eraser_C_SetAttributeValue(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                        CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	if (!is_virtual(self, h, obj))
		return P11_NEXT(self, SetAttributeValue, h, obj, t, n);
	/* CKA_MODIFIABLE false: 4.4.1 and 5.7 answer CKR_ACTION_PROHIBITED. */
	p11_note("eraser: the virtual Card Eraser cannot be modified");
	return CKR_ACTION_PROHIBITED;
}

static CK_RV eraser_C_CopyObject(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                 CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	eraser *e = self->data;
	CK_RV rv;

	if (is_virtual(self, h, obj)) {
		/* CKA_COPYABLE false: 4.4.1 and 5.7 answer CKR_ACTION_PROHIBITED. */
		p11_note("eraser: the virtual Card Eraser cannot be copied");
		return CKR_ACTION_PROHIBITED;
	}
	rv = P11_NEXT(self, CopyObject, h, obj, t, n, out);
	if (rv == CKR_OK && out != NULL)
		seen(e, out, 1);
	return rv;
}

/* New backend objects: their handles count against the virtual one too. */
static CK_RV eraser_C_CreateObject(p11_layer *self, CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
                                   CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	CK_RV rv = P11_NEXT(self, CreateObject, h, t, n, out);

	if (rv == CKR_OK && out != NULL)
		seen(self->data, out, 1);
	return rv;
}

static CK_RV eraser_C_GenerateKey(p11_layer *self, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
                                  CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	CK_RV rv = P11_NEXT(self, GenerateKey, h, m, t, n, out);

	if (rv == CKR_OK && out != NULL)
		seen(self->data, out, 1);
	return rv;
}

static CK_RV eraser_C_GenerateKeyPair(p11_layer *self, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
                                      CK_ATTRIBUTE_PTR pt, CK_ULONG pn, CK_ATTRIBUTE_PTR qt,
                                      CK_ULONG qn, CK_OBJECT_HANDLE_PTR pub,
                                      CK_OBJECT_HANDLE_PTR priv)
{
	CK_RV rv = P11_NEXT(self, GenerateKeyPair, h, m, pt, pn, qt, qn, pub, priv);

	if (rv == CKR_OK && pub != NULL && priv != NULL) {
		seen(self->data, pub, 1);
		seen(self->data, priv, 1);
	}
	return rv;
}

static CK_RV eraser_C_UnwrapKey(p11_layer *self, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
                                CK_OBJECT_HANDLE k, CK_BYTE_PTR w, CK_ULONG wn, CK_ATTRIBUTE_PTR t,
                                CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	CK_RV rv = P11_NEXT(self, UnwrapKey, h, m, k, w, wn, t, n, out);

	if (rv == CKR_OK && out != NULL)
		seen(self->data, out, 1);
	return rv;
}

static CK_RV eraser_C_DeriveKey(p11_layer *self, CK_SESSION_HANDLE h, CK_MECHANISM_PTR m,
                                CK_OBJECT_HANDLE k, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                                CK_OBJECT_HANDLE_PTR out)
{
	CK_RV rv = P11_NEXT(self, DeriveKey, h, m, k, t, n, out);

	if (rv == CKR_OK && out != NULL)
		seen(self->data, out, 1);
	return rv;
}

/* ---- erasing ---- */

/* "private key 'Signing key'" for the error of an incomplete erase. */
static void describe(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, char *buf, size_t len)
{
	CK_OBJECT_CLASS klass = (CK_OBJECT_CLASS)-1;
	char label[65] = "";
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_LABEL, label, sizeof(label) - 1 },
	};
	const char *cn;

	/* Either attribute may fail alone (5.7); each keeps its own length. */
	P11_NEXT(self, GetAttributeValue, h, obj, t, 2);
	if (t[1].ulValueLen == CK_UNAVAILABLE_INFORMATION || t[1].ulValueLen >= sizeof(label))
		t[1].ulValueLen = 0;
	label[t[1].ulValueLen] = '\0';
	cn = t[0].ulValueLen == sizeof(klass) ? p11_const_name(P11_CONST_CLASS, klass) : NULL;
	if (t[1].ulValueLen > 0)
		snprintf(buf, len, "%s '%s'", cn ? cn : "object", label);
	else
		snprintf(buf, len, "%s 0x%lx without label", cn ? cn : "object", (unsigned long)obj);
}

/* Errors after which the session or the token is gone: the rest is not tried. */
static bool fatal(CK_RV rv)
{
	return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED ||
	       rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT ||
	       rv == CKR_CRYPTOKI_NOT_INITIALIZED;
}

/*
 * The emulated erase: every token object the session sees is destroyed.
 * Session objects are left alone: they are not on the card and go with
 * their session. The destroys go on past a refusal, so that as little as
 * possible remains, and the error names what did.
 */
static CK_RV erase_emulated(p11_layer *self, CK_SESSION_HANDLE h)
{
	eraser *e = self->data;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE t = { CKA_TOKEN, &yes, sizeof(yes) };
	CK_OBJECT_HANDLE *all = NULL, *mem;
	CK_OBJECT_HANDLE failed[MAX_NAMED];
	CK_RV rv, first = CKR_OK, r;
	CK_ULONG n = 0, cap = 0, got, i, destroyed = 0, remain = 0;
	CK_SESSION_INFO si;
	char msg[900], what[128], rvbuf[32];
	size_t used, nf = 0;
	p11_cred cred;
	session *s;
	bool finding;

	rv = P11_NEXT(self, GetSessionInfo, h, &si);
	if (rv != CKR_OK)
		return rv;
	cred = p11_session_cred(e->ctx->login, self, h, NULL);
	if (!(si.flags & CKF_RW_SESSION)) {
		p11_event(P11_EV_ERASER_REFUSED, si.slotID,
		          "eraser: slot %lu not erased: destroying the Card Eraser needs a "
		          "read/write session (CKF_RW_SESSION)",
		          (unsigned long)si.slotID);
		return CKR_SESSION_READ_ONLY;
	}
	compat_mutex_lock(e->lock);
	s = find_inlock(e, h);
	finding = s != NULL && s->finding;
	compat_mutex_unlock(e->lock);
	if (finding) {
		/* Listing the objects needs this session's one search (5.7). */
		p11_event(P11_EV_ERASER_REFUSED, si.slotID,
		          "eraser: slot %lu not erased: a search is active in this session; call "
		          "C_FindObjectsFinal before destroying the Card Eraser",
		          (unsigned long)si.slotID);
		return CKR_FUNCTION_FAILED;
	}
	p11_note("eraser: erasing slot %lu %s (emulated: the token has no native Card Eraser)",
	         (unsigned long)si.slotID, cred_name(cred));

	rv = P11_NEXT(self, FindObjectsInit, h, &t, 1);
	if (rv != CKR_OK) {
		p11_event(P11_EV_ERASER_REFUSED, si.slotID,
		          "eraser: slot %lu not erased: listing its objects failed with %s",
		          (unsigned long)si.slotID, p11_rv_name(rv, rvbuf, sizeof(rvbuf)));
		/* Not a code C_DestroyObject may return (5.7): the search was ours. */
		return rv == CKR_OPERATION_ACTIVE ? CKR_FUNCTION_FAILED : rv;
	}
	for (;;) {
		if (n == cap) {
			mem = realloc(all, (cap + 64) * sizeof(*all));
			if (mem == NULL) {
				rv = CKR_HOST_MEMORY;
				break;
			}
			all = mem;
			cap += 64;
		}
		got = 0;
		rv = P11_NEXT(self, FindObjects, h, all + n, cap - n, &got);
		if (rv == CKR_OK && got > cap - n) {
			/* More objects than there was room for: a lying backend.
			 * Nothing is destroyed on a list that cannot be true. */
			rv = CKR_DEVICE_ERROR;
			break;
		}
		if (rv != CKR_OK || got == 0)
			break;
		n += got;
	}
	P11_NEXT(self, FindObjectsFinal, h);
	if (rv != CKR_OK) {
		p11_event(P11_EV_ERASER_REFUSED, si.slotID,
		          "eraser: slot %lu not erased: listing its objects failed with %s",
		          (unsigned long)si.slotID, p11_rv_name(rv, rvbuf, sizeof(rvbuf)));
		goto out;
	}
	seen(e, all, n);

	for (i = 0; i < n; i++) {
		r = P11_NEXT(self, DestroyObject, h, all[i]);
		/* Gone already: destroyed with an object destroyed before it. */
		if (r == CKR_OK || r == CKR_OBJECT_HANDLE_INVALID) {
			destroyed++;
			continue;
		}
		if (first == CKR_OK)
			first = r;
		if (nf < MAX_NAMED)
			failed[nf++] = all[i];
		remain++;
		if (fatal(r)) {
			remain += n - i - 1;
			break;
		}
	}

	if (first == CKR_OK) {
		if (cred == P11_CRED_USER)
			p11_event(P11_EV_ERASER_USED, si.slotID,
			          "eraser: slot %lu erased %s: %lu token object%s destroyed",
			          (unsigned long)si.slotID, cred_name(cred),
			          (unsigned long)destroyed, destroyed == 1 ? "" : "s");
		else
			/* PKCS#11 4.4 (CKA_PRIVATE): only the normal user sees private objects,
			 * so the guide's "highest" credential, the PUK, sees no more than an
			 * anonymous session. The card is not what the client expects: say so. */
			p11_event(P11_EV_ERASER_WARNING, si.slotID,
			          "eraser: slot %lu erased %s: %lu token object%s destroyed; private "
			          "objects (CKA_PRIVATE) are seen only after a login with the user PIN, "
			          "and any there are remain",
			          (unsigned long)si.slotID, cred_name(cred),
			          (unsigned long)destroyed, destroyed == 1 ? "" : "s");
		rv = CKR_OK;
		goto out;
	}
	used = (size_t)snprintf(msg, sizeof(msg),
	                        "eraser: slot %lu not fully erased (emulated, %s): "
	                        "%lu of %lu token objects remain:",
	                        (unsigned long)si.slotID, cred_name(cred), (unsigned long)remain,
	                        (unsigned long)n);
	for (i = 0; i < nf && used < sizeof(msg); i++) {
		describe(self, h, failed[i], what, sizeof(what));
		used += (size_t)snprintf(msg + used, sizeof(msg) - used, "%s %s", i ? "," : "", what);
	}
	if (remain > nf && used < sizeof(msg))
		used += (size_t)snprintf(msg + used, sizeof(msg) - used, ", ...");
	if (used < sizeof(msg))
		snprintf(msg + used, sizeof(msg) - used, "; the backend answered %s%s",
		         p11_rv_name(first, rvbuf, sizeof(rvbuf)),
		         first == CKR_ACTION_PROHIBITED ?
		                 " (the object forbids it, e.g. CKA_DESTROYABLE "
		                 "false)" :
		         first == CKR_USER_NOT_LOGGED_IN ?
		                 " (log in with a credential that may destroy "
		                 "them and destroy the Card Eraser again)" :
		                 "");
	p11_event(P11_EV_ERASER_REFUSED, si.slotID, "%s", msg);
	rv = first;
out:
	free(all);
	return rv;
}

/* Whether obj is the backend's own Card Eraser (asked, not remembered). */
static bool is_native(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	CK_OBJECT_CLASS klass = (CK_OBJECT_CLASS)-1;
	char label[sizeof(P11SHIM_CARD_ERASER_LABEL)];
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &klass, sizeof(klass) },
		{ CKA_LABEL, label, sizeof(label) },
	};

	return P11_NEXT(self, GetAttributeValue, h, obj, t, 2) == CKR_OK && klass == CKO_DATA &&
	       t[1].ulValueLen == sizeof(P11SHIM_CARD_ERASER_LABEL) - 1 &&
	       memcmp(label, P11SHIM_CARD_ERASER_LABEL, t[1].ulValueLen) == 0;
}

static CK_RV eraser_C_DestroyObject(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	eraser *e = self->data;
	char rvbuf[32];
	CK_SLOT_ID slot = (CK_SLOT_ID)-1;
	p11_cred cred;
	CK_RV rv;

	if (is_virtual(self, h, obj))
		return erase_emulated(self, h);
	if (!is_native(self, h, obj))
		return P11_NEXT(self, DestroyObject, h, obj);

	cred = p11_session_cred(e->ctx->login, self, h, &slot);
	rv = P11_NEXT(self, DestroyObject, h, obj);
	if (rv == CKR_OK) {
		p11_event(P11_EV_ERASER_USED, slot,
		          "eraser: slot %lu erased %s by its native Card Eraser",
		          (unsigned long)slot, cred_name(cred));
	} else if (rv == CKR_FUNCTION_FAILED) {
		p11_event(P11_EV_ERASER_REFUSED, slot,
		          "eraser: slot %lu not erased: the card refused (CKR_FUNCTION_FAILED); "
		          "Nexus's Personal integration guide (\"Card Eraser\"): a card whose "
		          "profile (CPF) has BurnFuse() at the end but no MakeCardEraseable() at "
		          "the start cannot be erased",
		          (unsigned long)slot);
	} else if (rv == CKR_USER_NOT_LOGGED_IN) {
		p11_event(P11_EV_ERASER_REFUSED, slot,
		          "eraser: slot %lu not erased %s: the card needs the operator PIN to be "
		          "erased (Nexus's Personal integration guide: \"a third credential "
		          "(operator PIN), which Personal Desktop Client requires to delete the "
		          "card\"); log in with CKU_SO where it is the SO credential, else with "
		          "CKU_P11SHIM_OPERATOR_PIN",
		          (unsigned long)slot, cred_name(cred));
	} else {
		p11_event(P11_EV_ERASER_REFUSED, slot,
		          "eraser: slot %lu not erased %s: its native Card Eraser answered %s",
		          (unsigned long)slot, cred_name(cred),
		          p11_rv_name(rv, rvbuf, sizeof(rvbuf)));
	}
	return rv;
}

static const p11_ops eraser_ops = {
	.C_FindObjectsInit = eraser_C_FindObjectsInit,
	.C_FindObjects = eraser_C_FindObjects,
	.C_FindObjectsFinal = eraser_C_FindObjectsFinal,
	.C_SessionCancel = eraser_C_SessionCancel,
	.C_CloseSession = eraser_C_CloseSession,
	.C_CloseAllSessions = eraser_C_CloseAllSessions,
	.C_GetAttributeValue = eraser_C_GetAttributeValue,
	.C_GetObjectSize = eraser_C_GetObjectSize,
	.C_SetAttributeValue = eraser_C_SetAttributeValue,
	.C_CopyObject = eraser_C_CopyObject,
	.C_DestroyObject = eraser_C_DestroyObject,
	.C_CreateObject = eraser_C_CreateObject,
	.C_GenerateKey = eraser_C_GenerateKey,
	.C_GenerateKeyPair = eraser_C_GenerateKeyPair,
	.C_UnwrapKey = eraser_C_UnwrapKey,
	.C_DeriveKey = eraser_C_DeriveKey,
};

static void eraser_destroy(p11_layer *self)
{
	eraser *e = self->data;

	compat_mutex_free(e->lock);
	free(e->s);
	free(e);
}

p11_layer *p11_eraser_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	p11_layer *layer;
	eraser *e;
	bool on = false;

	err[0] = '\0';
	if (!p11_config_bool(ctx->cfg, P11_KEY_CARD_ERASER, &on, err, errlen)) {
		if (err[0] == '\0')
			snprintf(err, errlen, "config: [eraser] CardEraser = %s is not true or false",
			         p11_config_raw(ctx->cfg, P11_KEY_CARD_ERASER, NULL, NULL, NULL));
		return NULL;
	}
	if (!on)
		return NULL; /* switched off: the layer stays out of the call path */
	layer = calloc(1, sizeof(*layer));
	e = calloc(1, sizeof(*e));
	if (layer == NULL || e == NULL || (e->lock = compat_mutex_new()) == NULL) {
		free(layer);
		free(e);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	e->ctx = ctx;
	e->vhandle = HANDLE_TOP;
	layer->name = "eraser";
	layer->ops = &eraser_ops;
	layer->data = e;
	layer->destroy = eraser_destroy;
	return layer;
}
