/*
 * What several policies need to know about sessions and logins, in one
 * place of the core (src/core/session.c), so that no policy reaches into
 * another: a session's slot and login state (asked of the layers below),
 * and which credential the application logged in with per slot (recorded
 * by the login layer, read by the eraser layer and any other policy).
 */
#ifndef P11_SESSION_H
#define P11_SESSION_H

#include <stdbool.h>

#include "p11-layer.h"

typedef enum {
	P11_CRED_NONE,
	P11_CRED_USER,
	P11_CRED_PUK,
	P11_CRED_OPERATOR,
} p11_cred;

/* "user PIN", "PUK", "operator PIN", "nothing". */
const char *p11_cred_name(p11_cred c);

/*
 * The session's slot and whether any user is logged in there, asked of the
 * layers below self (C_GetSessionInfo). false when the backend does not know
 * the session.
 */
bool p11_session_slot(p11_layer *self, CK_SESSION_HANDLE h, CK_SLOT_ID *slot, bool *logged_in);

/* Per slot, the credential the application logged in with. */
typedef struct p11_login_state p11_login_state;
p11_login_state *p11_login_state_new(void);
void p11_login_state_free(p11_login_state *st);
void p11_login_state_set(p11_login_state *st, CK_SLOT_ID slot, p11_cred cred);
p11_cred p11_login_state_get(p11_login_state *st, CK_SLOT_ID slot);

/*
 * The credential a session is logged in with: none for a public session or
 * when no login layer records them (st NULL); the session's slot in *slot
 * when slot is not NULL.
 */
p11_cred p11_session_cred(p11_login_state *st, p11_layer *self, CK_SESSION_HANDLE h,
                          CK_SLOT_ID *slot);

#endif /* P11_SESSION_H */
