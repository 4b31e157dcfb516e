/*
 * The scripted in-memory backend of the unit tests (mock.h).
 *
 * Every function is generated from p11fn.def: record the call with its
 * arguments by kind, apply the script (delay, forced answer, Nth-call
 * failure), then act through the mock's own implementation, or answer
 * CKR_FUNCTION_NOT_SUPPORTED where it has none. The record is
 * kind-agnostic (each argument keeps the kind's name and its values), so a
 * function or a kind added to p11fn.def needs nothing here.
 *
 * One lock guards the world; it is never held across the script's delay.
 */
#include "config.h"

#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"

#define MAX_SLOTS 8
#define MAX_PINS 4
#define MAX_SESSIONS 64
#define MAX_EVENTS 16
#define NOBODY ((CK_USER_TYPE)-1)

typedef struct {
	CK_ATTRIBUTE_TYPE type;
	unsigned char *value;
	CK_ULONG len;
} attr;

typedef struct {
	CK_OBJECT_HANDLE h;
	CK_SLOT_ID slot;
	CK_SESSION_HANDLE session; /* 0 for a token object */
	attr *a;
	size_t n;
} object;

typedef struct {
	CK_SLOT_ID id;
	char reader[65];
	bool present;
	CK_TOKEN_INFO ti;
	struct {
		CK_USER_TYPE user;
		char pin[64];
	} pin[MAX_PINS];
	size_t n_pin;
	CK_USER_TYPE login;
} slot;

typedef struct {
	CK_SESSION_HANDLE h; /* 0: free */
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	bool finding;
	CK_OBJECT_HANDLE *found;
	size_t n_found, pos;
} session;

typedef struct {
	bool answer; /* every call answers answer_rv */
	CK_RV answer_rv;
	unsigned long nth; /* the call count that fails; 0: none */
	CK_RV nth_rv;
	unsigned delay_ms;
} script;

struct mock {
	p11_layer layer;
	p11_ops ops;
	compat_mutex *lock;
	bool initialized;
	CK_INFO info;
	slot slot[MAX_SLOTS];
	size_t n_slot;
	session sess[MAX_SESSIONS];
	CK_SESSION_HANDLE next_session;
	object *obj;
	size_t n_obj, cap_obj;
	CK_OBJECT_HANDLE next_object;
	CK_SLOT_ID event[MAX_EVENTS];
	size_t n_event;
	script script[P11_FN_COUNT];
	unsigned long calls[P11_FN_COUNT];
	mock_call *rec;
	size_t n_rec, cap_rec;
};

/* ---- helpers ---- */

static void pad(CK_UTF8CHAR *field, size_t size, const char *text)
{
	size_t n = text ? strlen(text) : 0;

	memset(field, ' ', size);
	memcpy(field, text ? text : "", n < size ? n : size);
}

static void trimmed(const CK_UTF8CHAR *field, size_t size, char *out)
{
	while (size > 0 && field[size - 1] == ' ')
		size--;
	memcpy(out, field, size);
	out[size] = '\0';
}

static slot *find_slot(mock *m, CK_SLOT_ID id)
{
	size_t i;

	for (i = 0; i < m->n_slot; i++)
		if (m->slot[i].id == id)
			return &m->slot[i];
	return NULL;
}

static session *find_session(mock *m, CK_SESSION_HANDLE h)
{
	size_t i;

	for (i = 0; h != 0 && i < MAX_SESSIONS; i++)
		if (m->sess[i].h == h)
			return &m->sess[i];
	return NULL;
}

static size_t count_sessions(mock *m, CK_SLOT_ID id, bool ro_only)
{
	size_t i, n = 0;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (m->sess[i].h != 0 && m->sess[i].slot == id &&
		    (!ro_only || !(m->sess[i].flags & CKF_RW_SESSION)))
			n++;
	return n;
}

static const attr *get_attr(const object *o, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (o->a[i].type == type)
			return &o->a[i];
	return NULL;
}

static bool attr_bool(const object *o, CK_ATTRIBUTE_TYPE type, bool dflt)
{
	const attr *a = get_attr(o, type);

	return a != NULL && a->len == sizeof(CK_BBOOL) ? *a->value != 0 : dflt;
}

static CK_RV set_attr(object *o, CK_ATTRIBUTE_TYPE type, const void *value, CK_ULONG len)
{
	attr *a = (attr *)get_attr(o, type), *mem;
	unsigned char *copy = malloc(len ? len : 1);

	if (copy == NULL)
		return CKR_HOST_MEMORY;
	if (len > 0)
		memcpy(copy, value, len);
	if (a == NULL) {
		mem = realloc(o->a, (o->n + 1) * sizeof(*mem));
		if (mem == NULL) {
			free(copy);
			return CKR_HOST_MEMORY;
		}
		o->a = mem;
		a = &o->a[o->n++];
		a->type = type;
	} else {
		free(a->value);
	}
	a->value = copy;
	a->len = len;
	return CKR_OK;
}

static void free_object(object *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		free(o->a[i].value);
	free(o->a);
}

static void remove_object(mock *m, size_t i)
{
	free_object(&m->obj[i]);
	m->obj[i] = m->obj[--m->n_obj];
}

static object *new_object(mock *m, CK_SLOT_ID id, CK_SESSION_HANDLE s)
{
	object *mem;

	if (m->n_obj == m->cap_obj) {
		mem = realloc(m->obj, (m->cap_obj + 16) * sizeof(*mem));
		if (mem == NULL)
			return NULL;
		m->obj = mem;
		m->cap_obj += 16;
	}
	mem = &m->obj[m->n_obj++];
	memset(mem, 0, sizeof(*mem));
	mem->h = m->next_object++;
	mem->slot = id;
	mem->session = s;
	return mem;
}

static object *find_object(mock *m, CK_OBJECT_HANDLE h, size_t *index)
{
	size_t i;

	for (i = 0; i < m->n_obj; i++)
		if (m->obj[i].h == h) {
			if (index != NULL)
				*index = i;
			return &m->obj[i];
		}
	return NULL;
}

/* PKCS#11 4.4 (CKA_PRIVATE): private objects only after a user login. */
static bool visible(mock *m, const session *s, const object *o)
{
	const slot *sl = find_slot(m, s->slot);

	if (o->slot != s->slot || (o->session != 0 && find_session(m, o->session) == NULL))
		return false;
	return !attr_bool(o, CKA_PRIVATE, false) || (sl != NULL && sl->login == CKU_USER);
}

static const char *pin_of(const slot *sl, CK_USER_TYPE user)
{
	size_t i;

	for (i = 0; i < sl->n_pin; i++)
		if (sl->pin[i].user == user)
			return sl->pin[i].pin;
	return NULL;
}

static void close_session(mock *m, session *s)
{
	slot *sl = find_slot(m, s->slot);
	size_t i;

	/* Session objects go with their session. */
	for (i = m->n_obj; i-- > 0;)
		if (m->obj[i].session == s->h)
			remove_object(m, i);
	free(s->found);
	memset(s, 0, sizeof(*s));
	/* PKCS#11 5.6: the last session's close logs the token out. */
	if (sl != NULL && count_sessions(m, sl->id, false) == 0)
		sl->login = NOBODY;
}

static CK_RV store_pin(slot *sl, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	size_t i;

	if (pin == NULL || len >= sizeof(sl->pin[0].pin))
		return pin == NULL ? CKR_ARGUMENTS_BAD : CKR_PIN_LEN_RANGE;
	for (i = 0; i < sl->n_pin && sl->pin[i].user != user; i++)
		;
	if (i == sl->n_pin) {
		if (sl->n_pin == MAX_PINS)
			return CKR_DEVICE_MEMORY;
		sl->n_pin++;
		sl->pin[i].user = user;
	}
	memcpy(sl->pin[i].pin, pin, len);
	sl->pin[i].pin[len] = '\0';
	return CKR_OK;
}

/* ---- the implementations (called with the lock held) ---- */

static CK_RV mock_C_Initialize(p11_layer *self, CK_VOID_PTR args)
{
	mock *m = self->data;

	(void)args;
	if (m->initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	m->initialized = true;
	return CKR_OK;
}

static CK_RV mock_C_Finalize(p11_layer *self, CK_VOID_PTR reserved)
{
	mock *m = self->data;
	size_t i;

	if (reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < MAX_SESSIONS; i++)
		if (m->sess[i].h != 0)
			close_session(m, &m->sess[i]);
	m->initialized = false;
	return CKR_OK;
}

static CK_RV mock_C_GetInfo(p11_layer *self, CK_INFO_PTR info)
{
	mock *m = self->data;

	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	*info = m->info;
	return CKR_OK;
}

static CK_RV mock_C_GetSlotList(p11_layer *self, CK_BBOOL present, CK_SLOT_ID_PTR list,
                                CK_ULONG_PTR count)
{
	mock *m = self->data;
	CK_ULONG n = 0;
	size_t i;

	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < m->n_slot; i++)
		if (!present || m->slot[i].present)
			n++;
	/* PKCS#11 5.2: length query, too small, or filled. */
	if (list == NULL) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	n = 0;
	for (i = 0; i < m->n_slot; i++)
		if (!present || m->slot[i].present)
			list[n++] = m->slot[i].id;
	*count = n;
	return CKR_OK;
}

static CK_RV mock_C_GetSlotInfo(p11_layer *self, CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	slot *sl = find_slot(self->data, id);

	if (sl == NULL)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	pad(info->slotDescription, sizeof(info->slotDescription), sl->reader);
	pad(info->manufacturerID, sizeof(info->manufacturerID), "p11shim mock");
	info->flags = CKF_HW_SLOT | CKF_REMOVABLE_DEVICE | (sl->present ? CKF_TOKEN_PRESENT : 0);
	return CKR_OK;
}

static CK_RV mock_C_GetTokenInfo(p11_layer *self, CK_SLOT_ID id, CK_TOKEN_INFO_PTR info)
{
	slot *sl = find_slot(self->data, id);

	if (sl == NULL)
		return CKR_SLOT_ID_INVALID;
	if (!sl->present)
		return CKR_TOKEN_NOT_PRESENT;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	*info = sl->ti;
	return CKR_OK;
}

static CK_RV mock_C_GetMechanismList(p11_layer *self, CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list,
                                     CK_ULONG_PTR count)
{
	slot *sl = find_slot(self->data, id);

	(void)list;
	if (sl == NULL)
		return CKR_SLOT_ID_INVALID;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	*count = 0; /* no mechanisms: the policies never need one */
	return CKR_OK;
}

static CK_RV mock_C_GetMechanismInfo(p11_layer *self, CK_SLOT_ID id, CK_MECHANISM_TYPE type,
                                     CK_MECHANISM_INFO_PTR info)
{
	(void)type;
	(void)info;
	return find_slot(self->data, id) == NULL ? CKR_SLOT_ID_INVALID : CKR_MECHANISM_INVALID;
}

static CK_RV mock_C_InitToken(p11_layer *self, CK_SLOT_ID id, CK_UTF8CHAR_PTR pin, CK_ULONG len,
                              CK_UTF8CHAR_PTR label)
{
	mock *m = self->data;
	slot *sl = find_slot(m, id);
	const char *so;
	size_t i;

	if (sl == NULL)
		return CKR_SLOT_ID_INVALID;
	if (!sl->present)
		return CKR_TOKEN_NOT_PRESENT;
	if (pin == NULL || label == NULL)
		return CKR_ARGUMENTS_BAD;
	if (count_sessions(m, id, false) > 0)
		return CKR_SESSION_EXISTS;
	so = pin_of(sl, CKU_SO);
	if ((sl->ti.flags & CKF_TOKEN_INITIALIZED) && so != NULL &&
	    (strlen(so) != len || memcmp(so, pin, len) != 0))
		return CKR_PIN_INCORRECT;
	if (len >= sizeof(sl->pin[0].pin))
		return CKR_PIN_LEN_RANGE;
	for (i = m->n_obj; i-- > 0;)
		if (m->obj[i].slot == id)
			remove_object(m, i);
	memcpy(sl->ti.label, label, sizeof(sl->ti.label));
	sl->ti.flags = (sl->ti.flags | CKF_TOKEN_INITIALIZED) & ~(CK_FLAGS)CKF_USER_PIN_INITIALIZED;
	/* The SO PIN given becomes the SO's; the user PIN is to be set again. */
	mock_set_pin(m, id, CKU_USER, NULL);
	return store_pin(sl, CKU_SO, pin, len);
}

static CK_RV mock_C_OpenSession(p11_layer *self, CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app,
                                CK_NOTIFY notify, CK_SESSION_HANDLE_PTR out)
{
	mock *m = self->data;
	slot *sl = find_slot(m, id);
	size_t i;

	(void)app;
	(void)notify;
	if (sl == NULL)
		return CKR_SLOT_ID_INVALID;
	if (!sl->present)
		return CKR_TOKEN_NOT_PRESENT;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (!(flags & CKF_RW_SESSION) && sl->login != NOBODY && sl->login != CKU_USER)
		return CKR_SESSION_READ_WRITE_SO_EXISTS;
	for (i = 0; i < MAX_SESSIONS && m->sess[i].h != 0; i++)
		;
	if (i == MAX_SESSIONS)
		return CKR_SESSION_COUNT;
	m->sess[i].h = m->next_session++;
	m->sess[i].slot = id;
	m->sess[i].flags = flags;
	*out = m->sess[i].h;
	return CKR_OK;
}

static CK_RV mock_C_CloseSession(p11_layer *self, CK_SESSION_HANDLE h)
{
	mock *m = self->data;
	session *s = find_session(m, h);

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	close_session(m, s);
	return CKR_OK;
}

static CK_RV mock_C_CloseAllSessions(p11_layer *self, CK_SLOT_ID id)
{
	mock *m = self->data;
	size_t i;

	if (find_slot(m, id) == NULL)
		return CKR_SLOT_ID_INVALID;
	for (i = 0; i < MAX_SESSIONS; i++)
		if (m->sess[i].h != 0 && m->sess[i].slot == id)
			close_session(m, &m->sess[i]);
	return CKR_OK;
}

static CK_RV mock_C_GetSessionInfo(p11_layer *self, CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	slot *sl;
	bool rw;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	sl = find_slot(m, s->slot);
	rw = (s->flags & CKF_RW_SESSION) != 0;
	memset(info, 0, sizeof(*info));
	info->slotID = s->slot;
	info->flags = s->flags;
	if (sl->login == NOBODY)
		info->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
	else if (sl->login == CKU_USER)
		info->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	else
		info->state = CKS_RW_SO_FUNCTIONS; /* CKU_SO and the vendor admin types */
	return CKR_OK;
}

static CK_RV check_pin(const slot *sl, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	const char *want = pin_of(sl, user);

	if (want == NULL)
		return user == CKU_USER ? CKR_USER_PIN_NOT_INITIALIZED : CKR_USER_TYPE_INVALID;
	if (pin == NULL && len > 0)
		return CKR_ARGUMENTS_BAD;
	if (strlen(want) != len || (len > 0 && memcmp(want, pin, len) != 0))
		return CKR_PIN_INCORRECT;
	return CKR_OK;
}

static CK_RV mock_C_Login(p11_layer *self, CK_SESSION_HANDLE h, CK_USER_TYPE user,
                          CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	slot *sl;
	CK_RV rv;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	sl = find_slot(m, s->slot);
	if (user == CKU_CONTEXT_SPECIFIC)
		return sl->login == CKU_USER ? CKR_OK : CKR_USER_NOT_LOGGED_IN;
	if (sl->login == user)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (sl->login != NOBODY)
		return CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
	if (user != CKU_USER && pin_of(sl, user) != NULL && count_sessions(m, sl->id, true) > 0)
		return CKR_SESSION_READ_ONLY_EXISTS;
	rv = check_pin(sl, user, pin, len);
	if (rv == CKR_OK)
		sl->login = user;
	return rv;
}

static CK_RV mock_C_Logout(p11_layer *self, CK_SESSION_HANDLE h)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	slot *sl;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	sl = find_slot(m, s->slot);
	if (sl->login == NOBODY)
		return CKR_USER_NOT_LOGGED_IN;
	sl->login = NOBODY;
	return CKR_OK;
}

static CK_RV mock_C_InitPIN(p11_layer *self, CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	slot *sl;
	CK_RV rv;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	sl = find_slot(m, s->slot);
	if (sl->login != CKU_SO)
		return CKR_USER_NOT_LOGGED_IN;
	rv = store_pin(sl, CKU_USER, pin, len);
	if (rv == CKR_OK)
		sl->ti.flags |= CKF_USER_PIN_INITIALIZED;
	return rv;
}

static CK_RV mock_C_SetPIN(p11_layer *self, CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old_pin,
                           CK_ULONG old_len, CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	CK_USER_TYPE who;
	slot *sl;
	CK_RV rv;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (!(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	sl = find_slot(m, s->slot);
	/* PKCS#11 5.6: the logged-in user's PIN, else the normal user's. */
	who = sl->login == NOBODY ? CKU_USER : sl->login;
	rv = check_pin(sl, who, old_pin, old_len);
	if (rv == CKR_OK)
		rv = store_pin(sl, who, new_pin, new_len);
	return rv;
}

static CK_RV mock_C_CreateObject(p11_layer *self, CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n, CK_OBJECT_HANDLE_PTR out)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	object *o;
	CK_ULONG i;
	CK_RV rv = CKR_OK;
	bool token = false, priv = false;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if ((t == NULL && n > 0) || out == NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < n; i++) {
		if (t[i].pValue == NULL && t[i].ulValueLen > 0)
			return CKR_ATTRIBUTE_VALUE_INVALID;
		if (t[i].type == CKA_TOKEN && t[i].ulValueLen == sizeof(CK_BBOOL))
			token = *(CK_BBOOL *)t[i].pValue != 0;
		if (t[i].type == CKA_PRIVATE && t[i].ulValueLen == sizeof(CK_BBOOL))
			priv = *(CK_BBOOL *)t[i].pValue != 0;
	}
	if (token && !(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (priv && find_slot(m, s->slot)->login != CKU_USER)
		return CKR_USER_NOT_LOGGED_IN;
	o = new_object(m, s->slot, token ? 0 : h);
	if (o == NULL)
		return CKR_HOST_MEMORY;
	for (i = 0; i < n && rv == CKR_OK; i++)
		rv = set_attr(o, t[i].type, t[i].pValue, t[i].ulValueLen);
	if (rv != CKR_OK) {
		remove_object(m, m->n_obj - 1);
		return rv;
	}
	*out = o->h;
	return CKR_OK;
}

static CK_RV mock_C_DestroyObject(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	object *o;
	size_t i;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	o = find_object(m, obj, &i);
	if (o == NULL || !visible(m, s, o))
		return CKR_OBJECT_HANDLE_INVALID;
	if (o->session == 0 && !(s->flags & CKF_RW_SESSION))
		return CKR_SESSION_READ_ONLY;
	if (!attr_bool(o, CKA_DESTROYABLE, true))
		return CKR_ACTION_PROHIBITED;
	remove_object(m, i);
	return CKR_OK;
}

static CK_RV mock_C_GetObjectSize(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                  CK_ULONG_PTR size)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	object *o;
	size_t i;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	o = find_object(m, obj, NULL);
	if (o == NULL || !visible(m, s, o))
		return CKR_OBJECT_HANDLE_INVALID;
	if (size == NULL)
		return CKR_ARGUMENTS_BAD;
	*size = 0;
	for (i = 0; i < o->n; i++)
		*size += o->a[i].len;
	return CKR_OK;
}

/* PKCS#11 v2.40 section 5.7, C_GetAttributeValue: the cases per attribute. */
static CK_RV mock_C_GetAttributeValue(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                      CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	const attr *a;
	object *o;
	CK_RV rv = CKR_OK;
	CK_ULONG i;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	o = find_object(m, obj, NULL);
	if (o == NULL || !visible(m, s, o))
		return CKR_OBJECT_HANDLE_INVALID;
	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < n; i++) {
		a = get_attr(o, t[i].type);
		if (a == NULL) {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (t[i].pValue == NULL) {
			t[i].ulValueLen = a->len;
		} else if (t[i].ulValueLen >= a->len) {
			memcpy(t[i].pValue, a->value, a->len);
			t[i].ulValueLen = a->len;
		} else {
			t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		}
	}
	return rv;
}

static CK_RV mock_C_SetAttributeValue(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
                                      CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	object *o;
	CK_RV rv = CKR_OK;
	CK_ULONG i;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	o = find_object(m, obj, NULL);
	if (o == NULL || !visible(m, s, o))
		return CKR_OBJECT_HANDLE_INVALID;
	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	if (!attr_bool(o, CKA_MODIFIABLE, true))
		return CKR_ACTION_PROHIBITED;
	for (i = 0; i < n && rv == CKR_OK; i++)
		rv = set_attr(o, t[i].type, t[i].pValue, t[i].ulValueLen);
	return rv;
}

static bool matches(const object *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	const attr *a;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		a = get_attr(o, t[i].type);
		if (a == NULL || a->len != t[i].ulValueLen ||
		    (a->len > 0 && memcmp(a->value, t[i].pValue, a->len) != 0))
			return false;
	}
	return true;
}

static CK_RV mock_C_FindObjectsInit(p11_layer *self, CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
                                    CK_ULONG n)
{
	mock *m = self->data;
	session *s = find_session(m, h);
	size_t i;

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	if (s->finding)
		return CKR_OPERATION_ACTIVE;
	s->found = malloc((m->n_obj ? m->n_obj : 1) * sizeof(*s->found));
	if (s->found == NULL)
		return CKR_HOST_MEMORY;
	s->n_found = s->pos = 0;
	for (i = 0; i < m->n_obj; i++)
		if (visible(m, s, &m->obj[i]) && matches(&m->obj[i], t, n))
			s->found[s->n_found++] = m->obj[i].h;
	s->finding = true;
	return CKR_OK;
}

static CK_RV mock_C_FindObjects(p11_layer *self, CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out,
                                CK_ULONG max, CK_ULONG_PTR count)
{
	session *s = find_session(self->data, h);

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (out == NULL || count == NULL)
		return CKR_ARGUMENTS_BAD;
	*count = 0;
	while (*count < max && s->pos < s->n_found)
		out[(*count)++] = s->found[s->pos++];
	return CKR_OK;
}

static CK_RV mock_C_FindObjectsFinal(p11_layer *self, CK_SESSION_HANDLE h)
{
	session *s = find_session(self->data, h);

	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	free(s->found);
	s->found = NULL;
	s->finding = false;
	return CKR_OK;
}

static CK_RV mock_C_WaitForSlotEvent(p11_layer *self, CK_FLAGS flags, CK_SLOT_ID_PTR out,
                                     CK_VOID_PTR reserved)
{
	mock *m = self->data;

	(void)flags; /* never blocks: a test queues its events first */
	if (out == NULL || reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	if (m->n_event == 0)
		return CKR_NO_EVENT;
	*out = m->event[0];
	memmove(m->event, m->event + 1, --m->n_event * sizeof(m->event[0]));
	return CKR_OK;
}

static const p11_ops impl = {
	.C_Initialize = mock_C_Initialize,
	.C_Finalize = mock_C_Finalize,
	.C_GetInfo = mock_C_GetInfo,
	.C_GetSlotList = mock_C_GetSlotList,
	.C_GetSlotInfo = mock_C_GetSlotInfo,
	.C_GetTokenInfo = mock_C_GetTokenInfo,
	.C_GetMechanismList = mock_C_GetMechanismList,
	.C_GetMechanismInfo = mock_C_GetMechanismInfo,
	.C_InitToken = mock_C_InitToken,
	.C_InitPIN = mock_C_InitPIN,
	.C_SetPIN = mock_C_SetPIN,
	.C_OpenSession = mock_C_OpenSession,
	.C_CloseSession = mock_C_CloseSession,
	.C_CloseAllSessions = mock_C_CloseAllSessions,
	.C_GetSessionInfo = mock_C_GetSessionInfo,
	.C_Login = mock_C_Login,
	.C_Logout = mock_C_Logout,
	.C_CreateObject = mock_C_CreateObject,
	.C_DestroyObject = mock_C_DestroyObject,
	.C_GetObjectSize = mock_C_GetObjectSize,
	.C_GetAttributeValue = mock_C_GetAttributeValue,
	.C_SetAttributeValue = mock_C_SetAttributeValue,
	.C_FindObjectsInit = mock_C_FindObjectsInit,
	.C_FindObjects = mock_C_FindObjects,
	.C_FindObjectsFinal = mock_C_FindObjectsFinal,
	.C_WaitForSlotEvent = mock_C_WaitForSlotEvent,
};

/* ---- record and script, generated for every function ---- */

/*
 * One argument tuple of p11fn.def (include/p11kinds.def) becomes a
 * mock_arg: the kind's name as text and each name's value as a number.
 */
#define MOCK_STR_(k) #k
#define MOCK_STR(k) MOCK_STR_(k)
#define MOCK_KIND(t) MOCK_STR(P11_KIND(t))
#define MOCK_V1(a)                   \
	{                            \
		(uintptr_t)(a), 0, 0 \
	}
#define MOCK_V2(a, b)                             \
	{                                         \
		(uintptr_t)(a), (uintptr_t)(b), 0 \
	}
#define MOCK_V3(a, b, c)                                       \
	{                                                      \
		(uintptr_t)(a), (uintptr_t)(b), (uintptr_t)(c) \
	}
#define MOCK_VALS__(n, ...) MOCK_V##n(__VA_ARGS__)
#define MOCK_VALS_(n, ...) MOCK_VALS__(n, __VA_ARGS__)
#define MOCK_N(t) P11_NARG(P11_NAMES(t))
#define MOCK_ARG(t)                                                          \
	{                                                                    \
		MOCK_KIND(t), MOCK_N(t), MOCK_VALS_(MOCK_N(t), P11_NAMES(t)) \
	}

/* Records the call; returns true with *rv set when the script answers instead. */
static bool enter(mock *m, unsigned fn, const mock_arg *args, unsigned nargs, size_t *rec, CK_RV *rv)
{
	script *sc = &m->script[fn];
	mock_call *mem, *c;
	unsigned delay;
	bool answered = false;

	compat_mutex_lock(m->lock);
	m->calls[fn]++;
	*rec = (size_t)-1;
	if (m->n_rec == m->cap_rec) {
		mem = realloc(m->rec, (m->cap_rec + 256) * sizeof(*mem));
		if (mem != NULL) {
			m->rec = mem;
			m->cap_rec += 256;
		}
	}
	if (m->n_rec < m->cap_rec) {
		*rec = m->n_rec++;
		c = &m->rec[*rec];
		memset(c, 0, sizeof(*c));
		c->fn = fn;
		c->nargs = nargs < MOCK_MAX_ARGS ? nargs : MOCK_MAX_ARGS;
		memcpy(c->arg, args, c->nargs * sizeof(*args));
	}
	if (sc->nth != 0 && m->calls[fn] == sc->nth) {
		*rv = sc->nth_rv;
		sc->nth = 0;
		answered = true;
	} else if (sc->answer) {
		*rv = sc->answer_rv;
		answered = true;
	} else if (!m->initialized && fn != P11_FN_Initialize) {
		*rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		answered = true;
	}
	delay = sc->delay_ms;
	compat_mutex_unlock(m->lock);
	if (delay > 0)
		compat_sleep_us(delay * 1000UL);
	return answered;
}

static CK_RV leave(mock *m, size_t rec, CK_RV rv)
{
	compat_mutex_lock(m->lock);
	if (rec < m->n_rec)
		m->rec[rec].rv = rv;
	compat_mutex_unlock(m->lock);
	return rv;
}

#define P11FN(name, ...)                                                                      \
	static CK_RV rec_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__))                   \
	{                                                                                     \
		mock *m = self->data;                                                         \
		const mock_arg args[] = { P11_MAP(MOCK_ARG, P11_COMMA, __VA_ARGS__) };        \
		size_t rec;                                                                   \
		CK_RV rv;                                                                     \
		if (enter(m, P11_FN_##name, args, sizeof(args) / sizeof(args[0]), &rec, &rv)) \
			return leave(m, rec, rv);                                             \
		if (impl.C_##name == NULL)                                                    \
			return leave(m, rec, CKR_FUNCTION_NOT_SUPPORTED);                     \
		compat_mutex_lock(m->lock);                                                   \
		rv = impl.C_##name(self, P11_ARGS(__VA_ARGS__));                              \
		compat_mutex_unlock(m->lock);                                                 \
		return leave(m, rec, rv);                                                     \
	}
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL

static const p11_ops rec_ops = {
#define P11FN(name, ...) .C_##name = rec_C_##name,
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
};

/* ---- the API ---- */

mock *mock_new(void)
{
	mock *m = calloc(1, sizeof(*m));

	if (m == NULL || (m->lock = compat_mutex_new()) == NULL) {
		free(m);
		return NULL;
	}
	m->info.cryptokiVersion.major = 2;
	m->info.cryptokiVersion.minor = 40;
	pad(m->info.manufacturerID, sizeof(m->info.manufacturerID), "p11shim mock");
	pad(m->info.libraryDescription, sizeof(m->info.libraryDescription), "p11shim mock backend");
	m->info.libraryVersion.major = 1;
	/* Handles no slot ID shares: a session taken for a slot (or the
	 * reverse) names nothing. */
	m->next_session = 0x5001;
	m->next_object = 0x7001;
	m->ops = rec_ops;
	m->layer.name = "mock";
	m->layer.ops = &m->ops;
	m->layer.data = m;
	return m;
}

void mock_free(mock *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < MAX_SESSIONS; i++)
		free(m->sess[i].found);
	for (i = 0; i < m->n_obj; i++)
		free_object(&m->obj[i]);
	free(m->obj);
	free(m->rec);
	compat_mutex_free(m->lock);
	free(m);
}

p11_layer *mock_layer(mock *m)
{
	return &m->layer;
}

void mock_set_info(mock *m, const char *manufacturer, const char *description)
{
	pad(m->info.manufacturerID, sizeof(m->info.manufacturerID), manufacturer);
	pad(m->info.libraryDescription, sizeof(m->info.libraryDescription), description);
}

void mock_add_slot(mock *m, CK_SLOT_ID id, const char *reader)
{
	slot *sl;

	if (m->n_slot == MAX_SLOTS || find_slot(m, id) != NULL)
		return;
	sl = &m->slot[m->n_slot++];
	memset(sl, 0, sizeof(*sl));
	sl->id = id;
	snprintf(sl->reader, sizeof(sl->reader), "%s", reader);
	sl->login = NOBODY;
}

void mock_set_token(mock *m, CK_SLOT_ID id, const char *label, const char *model,
                    const char *serial, CK_FLAGS flags)
{
	slot *sl = find_slot(m, id);
	CK_TOKEN_INFO *ti;

	if (sl == NULL)
		return;
	sl->present = true;
	ti = &sl->ti;
	memset(ti, 0, sizeof(*ti));
	pad(ti->label, sizeof(ti->label), label);
	pad(ti->manufacturerID, sizeof(ti->manufacturerID), "p11shim mock");
	pad(ti->model, sizeof(ti->model), model);
	pad(ti->serialNumber, sizeof(ti->serialNumber), serial);
	ti->flags = flags;
	ti->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	ti->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	ti->ulMaxPinLen = 63;
	ti->ulMinPinLen = 4;
	ti->ulTotalPublicMemory = ti->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	ti->ulTotalPrivateMemory = ti->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
}

void mock_set_pin(mock *m, CK_SLOT_ID id, CK_USER_TYPE user, const char *pin)
{
	slot *sl = find_slot(m, id);
	size_t i;

	if (sl == NULL)
		return;
	for (i = 0; i < sl->n_pin && sl->pin[i].user != user; i++)
		;
	if (pin == NULL) {
		if (i < sl->n_pin)
			sl->pin[i] = sl->pin[--sl->n_pin];
		if (user == CKU_USER)
			sl->ti.flags &= ~(CK_FLAGS)CKF_USER_PIN_INITIALIZED;
		return;
	}
	store_pin(sl, user, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (user == CKU_USER)
		sl->ti.flags |= CKF_USER_PIN_INITIALIZED;
}

CK_OBJECT_HANDLE mock_add_object(mock *m, CK_SLOT_ID id, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	object *o = new_object(m, id, 0);
	CK_ULONG i;

	if (o == NULL)
		return CK_INVALID_HANDLE;
	for (i = 0; i < n; i++)
		set_attr(o, t[i].type, t[i].pValue, t[i].ulValueLen);
	return o->h;
}

size_t mock_object_count(mock *m, CK_SLOT_ID id)
{
	size_t i, n = 0;

	for (i = 0; i < m->n_obj; i++)
		if (m->obj[i].slot == id && m->obj[i].session == 0)
			n++;
	return n;
}

const void *mock_object_attr(mock *m, CK_SLOT_ID id, const char *label, CK_ATTRIBUTE_TYPE type,
                             CK_ULONG *len)
{
	const attr *l, *a;
	size_t i;

	for (i = 0; i < m->n_obj; i++) {
		if (m->obj[i].slot != id || m->obj[i].session != 0)
			continue;
		l = get_attr(&m->obj[i], CKA_LABEL);
		if (l == NULL || l->len != strlen(label) || memcmp(l->value, label, l->len) != 0)
			continue;
		a = get_attr(&m->obj[i], type);
		if (a == NULL)
			return NULL;
		if (len != NULL)
			*len = a->len;
		return a->value;
	}
	return NULL;
}

CK_USER_TYPE mock_logged_in(mock *m, CK_SLOT_ID id)
{
	slot *sl = find_slot(m, id);

	return sl != NULL ? sl->login : NOBODY;
}

const char *mock_token_label(mock *m, CK_SLOT_ID id)
{
	static char buf[sizeof(((CK_TOKEN_INFO *)0)->label) + 1];
	slot *sl = find_slot(m, id);

	if (sl == NULL)
		return NULL;
	trimmed(sl->ti.label, sizeof(sl->ti.label), buf);
	return buf;
}

void mock_push_event(mock *m, CK_SLOT_ID id)
{
	compat_mutex_lock(m->lock);
	if (m->n_event < MAX_EVENTS)
		m->event[m->n_event++] = id;
	compat_mutex_unlock(m->lock);
}

bool mock_initialized(mock *m)
{
	return m->initialized;
}

void mock_answer(mock *m, unsigned fn, CK_RV rv)
{
	compat_mutex_lock(m->lock);
	m->script[fn].answer = true;
	m->script[fn].answer_rv = rv;
	compat_mutex_unlock(m->lock);
}

void mock_fail_nth(mock *m, unsigned fn, unsigned nth, CK_RV rv)
{
	compat_mutex_lock(m->lock);
	m->script[fn].nth = m->calls[fn] + nth;
	m->script[fn].nth_rv = rv;
	compat_mutex_unlock(m->lock);
}

void mock_delay(mock *m, unsigned fn, unsigned ms)
{
	compat_mutex_lock(m->lock);
	m->script[fn].delay_ms = ms;
	compat_mutex_unlock(m->lock);
}

void mock_script_clear(mock *m)
{
	compat_mutex_lock(m->lock);
	memset(m->script, 0, sizeof(m->script));
	compat_mutex_unlock(m->lock);
}

size_t mock_calls(mock *m)
{
	return m->n_rec;
}

const mock_call *mock_call_at(mock *m, size_t i)
{
	return i < m->n_rec ? &m->rec[i] : NULL;
}

void mock_record_clear(mock *m)
{
	compat_mutex_lock(m->lock);
	m->n_rec = 0;
	compat_mutex_unlock(m->lock);
}

size_t mock_count(mock *m, unsigned fn)
{
	size_t i, n = 0;

	for (i = 0; i < m->n_rec; i++)
		n += m->rec[i].fn == fn;
	return n;
}

const mock_call *mock_last(mock *m, unsigned fn)
{
	size_t i;

	for (i = m->n_rec; i-- > 0;)
		if (m->rec[i].fn == fn)
			return &m->rec[i];
	return NULL;
}

bool mock_arg_value(const mock_call *c, const char *kind, unsigned which, uintptr_t *out)
{
	unsigned i;

	for (i = 0; c != NULL && i < c->nargs; i++)
		if (strcmp(c->arg[i].kind, kind) == 0 && which-- == 0) {
			*out = c->arg[i].v[0];
			return true;
		}
	return false;
}

size_t mock_count_naming(mock *m, const char *kind, uintptr_t value)
{
	size_t i, n = 0;
	unsigned k;
	uintptr_t v;

	for (i = 0; i < m->n_rec; i++)
		for (k = 0; mock_arg_value(&m->rec[i], kind, k, &v); k++)
			if (v == value) {
				n++;
				break;
			}
	return n;
}
