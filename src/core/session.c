/*
 * Sessions and logins as the policies see them (include/p11-session.h).
 *
 * PKCS#11 login state is per application and token (section 5.6), so the
 * credential is kept per slot. The table is small and fixed: a station has
 * a few readers; a slot past MAX_TOKENS is not recorded, and reads as
 * "nothing" (the eraser then erases anonymously, which is the safe side).
 */
#include "config.h"

#include "p11-session.h"

#include <stdlib.h>

#include "p11-compat.h"

#define MAX_TOKENS 64

struct p11_login_state {
	compat_mutex *lock;
	struct {
		CK_SLOT_ID slot;
		p11_cred cred;
	} tok[MAX_TOKENS];
	size_t n;
};

const char *p11_cred_name(p11_cred c)
{
	switch (c) {
	case P11_CRED_USER: return "user PIN";
	case P11_CRED_PUK: return "PUK";
	case P11_CRED_OPERATOR: return "operator PIN";
	default: return "nothing";
	}
}

bool p11_session_slot(p11_layer *self, CK_SESSION_HANDLE h, CK_SLOT_ID *slot, bool *logged_in)
{
	CK_SESSION_INFO si;

	if (P11_NEXT(self, GetSessionInfo, h, &si) != CKR_OK)
		return false;
	*slot = si.slotID;
	*logged_in = si.state != CKS_RO_PUBLIC_SESSION && si.state != CKS_RW_PUBLIC_SESSION;
	return true;
}

p11_login_state *p11_login_state_new(void)
{
	p11_login_state *st = calloc(1, sizeof(*st));

	if (st != NULL && (st->lock = compat_mutex_new()) == NULL) {
		free(st);
		st = NULL;
	}
	return st;
}

void p11_login_state_free(p11_login_state *st)
{
	if (st == NULL)
		return;
	compat_mutex_free(st->lock);
	free(st);
}

void p11_login_state_set(p11_login_state *st, CK_SLOT_ID slot, p11_cred cred)
{
	size_t i;

	compat_mutex_lock(st->lock);
	for (i = 0; i < st->n && st->tok[i].slot != slot; i++)
		;
	if (i == st->n && st->n < MAX_TOKENS)
		st->tok[st->n++].slot = slot;
	if (i < st->n)
		st->tok[i].cred = cred;
	compat_mutex_unlock(st->lock);
}

p11_cred p11_login_state_get(p11_login_state *st, CK_SLOT_ID slot)
{
	p11_cred c = P11_CRED_NONE;
	size_t i;

	compat_mutex_lock(st->lock);
	for (i = 0; i < st->n; i++)
		if (st->tok[i].slot == slot)
			c = st->tok[i].cred;
	compat_mutex_unlock(st->lock);
	return c;
}

p11_cred p11_session_cred(p11_login_state *st, p11_layer *self, CK_SESSION_HANDLE h, CK_SLOT_ID *slot)
{
	CK_SLOT_ID s;
	bool logged_in;

	if (slot != NULL)
		*slot = (CK_SLOT_ID)-1; /* the backend does not know the session */
	if (!p11_session_slot(self, h, &s, &logged_in))
		return P11_CRED_NONE;
	if (slot != NULL)
		*slot = s;
	return st != NULL && logged_in ? p11_login_state_get(st, s) : P11_CRED_NONE;
}
