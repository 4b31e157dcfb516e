/*
 * The login layer: what CKU_SO means on this card, and the PUK-change rule.
 *
 * SO credential mapping (Nexus's Personal integration guide: "Use operator
 * PIN vs. PUK to log in"): the card profile (CPF) makes CKU_SO mean the PUK on some cards and the
 * operator PIN on others; [login] OperatorPinIsSOCredential says which
 * (true/false, or a mapped field read at each C_Login so that one
 * installation serves both profiles). A client that holds both secrets
 * names the one it means with CKU_P11SHIM_PUK or CKU_P11SHIM_OPERATOR_PIN:
 * the SO credential's type passes as CKU_SO, the other one as the backend's
 * [login] OtherAdminUserType (Personal's own unblock login). CKU_SO,
 * CKU_USER and CKU_CONTEXT_SPECIFIC pass unchanged.
 *
 * PUK change (the guide: "Change PUK"): a C_SetPIN in a session logged in with
 * the PUK changes the PUK. Personal 5.7.1 and lower cannot, and 5.7.2 only
 * on Cosmo 7 and Cosmo 8.2; a failed attempt can leave the card worse off,
 * so the change is refused before anything reaches the card, with the
 * version, the model and the rule.
 *
 * The layer remembers, per slot, which credential the application logged in
 * with (PKCS#11 login state is per application and token); the eraser layer
 * reads it through p11_session_cred() (include/p11-session.h).
 */
#include "config.h"

#include "p11-shim.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p11-compat.h"
#include "p11-const.h"
#include "p11-session.h"
#include "p11shim.h"

typedef struct {
	p11_shim_ctx *ctx;
	p11_login_state *state;
} login;

static const char *user_name(CK_USER_TYPE u, char *buf, size_t len)
{
	const char *n = p11_const_name(P11_CONST_USER, u);

	if (n != NULL)
		return n;
	snprintf(buf, len, "0x%lx", (unsigned long)u);
	return buf;
}

/* OtherAdminUserType: a number (0x80000001) or a CKU_ name. */
bool p11_parse_user_type(const char *text, CK_USER_TYPE *out)
{
	unsigned long v;
	char *end;

	if (p11_const_value(P11_CONST_USER, text, out) == 0)
		return true;
	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno != 0 || end == text || *end != '\0')
		return false;
	*out = v;
	return true;
}

/*
 * C_Login, and C_LoginUser (PKCS#11 3.0 section 5.6) when `v3`: the same SO
 * mapping, the same remembered credential; the user name passes unchanged.
 */
static CK_RV login_as(p11_layer *self, CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
                      CK_ULONG pin_len, bool v3, CK_UTF8CHAR_PTR username, CK_ULONG username_len)
{
	login *l = self->data;
	const p11_config *cfg = l->ctx->cfg;
	const char *other_text;
	CK_USER_TYPE sent = user, other;
	p11_cred cred = P11_CRED_NONE, so_cred;
	bool operator_is_so = false, logged_in;
	char err[1024], name[32];
	CK_SLOT_ID slot;
	CK_RV rv;

	if (user == CKU_SO || user == CKU_P11SHIM_PUK || user == CKU_P11SHIM_OPERATOR_PIN) {
		/* Read at each login: a mapped field follows the card being encoded. */
		if (!p11_config_bool(cfg, P11_KEY_OPERATOR_PIN_IS_SO, &operator_is_so, err,
		                     sizeof(err))) {
			p11_event(P11_EV_LOGIN_REFUSED, P11_NO_SLOT, "login: %s", err);
			return CKR_GENERAL_ERROR;
		}
		so_cred = operator_is_so ? P11_CRED_OPERATOR : P11_CRED_PUK;
		if (user == CKU_SO) {
			cred = so_cred;
		} else {
			cred = user == CKU_P11SHIM_PUK ? P11_CRED_PUK : P11_CRED_OPERATOR;
			if (cred == so_cred) {
				sent = CKU_SO;
			} else {
				other_text = p11_config_get(cfg, P11_KEY_OTHER_ADMIN_USER_TYPE, err,
				                            sizeof(err));
				if (other_text == NULL || !p11_parse_user_type(other_text, &other)) {
					if (other_text != NULL)
						p11_event(P11_EV_LOGIN_REFUSED, P11_NO_SLOT,
						          "login: [login] OtherAdminUserType = %s is not a user "
						          "type; write a number (0x80000001) or a CKU_ name",
						          other_text);
					else
						p11_event(P11_EV_LOGIN_REFUSED, P11_NO_SLOT,
						          "login: %s", err);
					return CKR_GENERAL_ERROR;
				}
				sent = other;
			}
			p11_event(P11_EV_SO_MAPPED, P11_NO_SLOT,
			          "login: %s sent as %s: the %s %s the SO credential "
			          "([login] OperatorPinIsSOCredential = %s)",
			          p11_const_name(P11_CONST_USER, user),
			          user_name(sent, name, sizeof(name)), p11_cred_name(cred),
			          cred == so_cred ? "is" : "is not",
			          operator_is_so ? "true" : "false");
		}
	} else if (user == CKU_USER) {
		cred = P11_CRED_USER;
	}
	if (v3)
		rv = P11_NEXT(self, LoginUser, h, sent, pin, pin_len, username, username_len);
	else
		rv = P11_NEXT(self, Login, h, sent, pin, pin_len);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		if (cred != P11_CRED_NONE && p11_session_slot(self, h, &slot, &logged_in))
			p11_login_state_set(l->state, slot, cred);
	} else if (sent == CKU_SO && (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE)) {
		p11_note("login: SO login with the %s failed with %s; the card's profile (CPF) may use "
		         "the %s as SO credential: check [login] OperatorPinIsSOCredential (now %s)",
		         p11_cred_name(cred), p11_const_name(P11_CONST_RV, rv),
		         cred == P11_CRED_PUK ? "operator PIN" : "PUK",
		         operator_is_so ? "true" : "false");
	}
	return rv;
}

static CK_RV login_C_Login(p11_layer *self, CK_SESSION_HANDLE h, CK_USER_TYPE user,
                           CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	return login_as(self, h, user, pin, pin_len, false, NULL, 0);
}

static CK_RV login_C_LoginUser(p11_layer *self, CK_SESSION_HANDLE h, CK_USER_TYPE user,
                               CK_UTF8CHAR_PTR pin, CK_ULONG pin_len, CK_UTF8CHAR_PTR username,
                               CK_ULONG username_len)
{
	return login_as(self, h, user, pin, pin_len, true, username, username_len);
}

static CK_RV login_C_Logout(p11_layer *self, CK_SESSION_HANDLE h)
{
	login *l = self->data;
	bool logged_in;
	CK_SLOT_ID slot;
	bool known = p11_session_slot(self, h, &slot, &logged_in);
	CK_RV rv = P11_NEXT(self, Logout, h);

	if (rv == CKR_OK && known)
		p11_login_state_set(l->state, slot, P11_CRED_NONE);
	return rv;
}

static CK_RV login_C_CloseAllSessions(p11_layer *self, CK_SLOT_ID slot)
{
	login *l = self->data;
	CK_RV rv = P11_NEXT(self, CloseAllSessions, slot);

	if (rv == CKR_OK)
		p11_login_state_set(l->state, slot, P11_CRED_NONE);
	return rv;
}

/* "5.7.10" >= "5.7.2": numeric, component by component (include/p11-shim.h). */
int p11_version_cmp(const char *a, const char *b)
{
	while (*a != '\0' || *b != '\0') {
		unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);
		if (x != y)
			return x < y ? -1 : 1;
		if (*a == '.')
			a++;
		if (*b == '.')
			b++;
		if ((*a != '\0' && !isdigit((unsigned char)*a)) ||
		    (*b != '\0' && !isdigit((unsigned char)*b)))
			break;
	}
	return 0;
}

static bool model_listed(const char *list, const char *model)
{
	const char *p = list;

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && isspace((unsigned char)*p)) {
			p++;
			len--;
		}
		while (len > 0 && isspace((unsigned char)p[len - 1]))
			len--;
		if (len == strlen(model) && strncasecmp(p, model, len) == 0)
			return true;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return false;
}

static CK_RV login_C_SetPIN(p11_layer *self, CK_SESSION_HANDLE h, CK_UTF8CHAR_PTR old_pin,
                            CK_ULONG old_len, CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len)
{
	login *l = self->data;
	p11_shim_ctx *ctx = l->ctx;
	const char *mode, *models;
	CK_TOKEN_INFO ti;
	char model[sizeof(ti.model) + 1], err[512];
	bool logged_in;
	CK_SLOT_ID slot;
	size_t n;

	if (!p11_session_slot(self, h, &slot, &logged_in) || !logged_in ||
	    p11_login_state_get(l->state, slot) != P11_CRED_PUK)
		return P11_NEXT(self, SetPIN, h, old_pin, old_len, new_pin, new_len);

	/* A PUK change: decide before anything reaches the card. */
	mode = p11_config_get(ctx->cfg, P11_KEY_PUK_CHANGE, err, sizeof(err));
	if (mode == NULL) {
		p11_event(P11_EV_PUK_REFUSED, slot, "puk: %s", err);
		return CKR_GENERAL_ERROR;
	}
	if (strcasecmp(mode, "allow") == 0) {
		p11_note("puk: PUK change allowed by [puk] PukChange = allow");
		return P11_NEXT(self, SetPIN, h, old_pin, old_len, new_pin, new_len);
	}
	if (strcasecmp(mode, "deny") == 0) {
		p11_event(P11_EV_PUK_REFUSED, slot,
		          "puk: PUK change refused before the card is touched: [puk] PukChange = deny");
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	if (!ctx->personal) {
		p11_note("puk: PUK change passed: the Personal rule of [puk] PukChange = auto does not "
		         "apply to this middleware");
		return P11_NEXT(self, SetPIN, h, old_pin, old_len, new_pin, new_len);
	}
	if (P11_NEXT(self, GetTokenInfo, slot, &ti) != CKR_OK)
		memset(ti.model, ' ', sizeof(ti.model));
	n = sizeof(ti.model);
	while (n > 0 && (ti.model[n - 1] == ' ' || ti.model[n - 1] == '\0'))
		n--;
	memcpy(model, ti.model, n);
	model[n] = '\0';
	models = p11_config_raw(ctx->cfg, P11_KEY_PUK_CHANGE_MODELS, NULL, NULL, NULL);
	if (ctx->version[0] == '\0' || p11_version_cmp(ctx->version, "5.7.2") < 0) {
		p11_event(P11_EV_PUK_REFUSED, slot,
		          "puk: PUK change refused before the card is touched: Personal %s (from %s) "
		          "cannot change the PUK; it needs 5.7.2 or later and a token model of "
		          "[puk] PukChangeModels (%s); token model '%s'",
		          ctx->version[0] ? ctx->version : "of unknown version",
		          ctx->version_source[0] ? ctx->version_source :
		                                   "nowhere; set [backend] MiddlewareVersion",
		          models, model);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	if (!model_listed(models, model)) {
		p11_event(P11_EV_PUK_REFUSED, slot,
		          "puk: PUK change refused before the card is touched: token model '%s' is "
		          "not in [puk] PukChangeModels (%s); Personal %s changes the PUK only on those",
		          model, models, ctx->version);
		return CKR_FUNCTION_NOT_SUPPORTED;
	}
	p11_note("puk: PUK change allowed: Personal %s >= 5.7.2 and token model '%s' is in "
	         "[puk] PukChangeModels",
	         ctx->version, model);
	return P11_NEXT(self, SetPIN, h, old_pin, old_len, new_pin, new_len);
}

static const p11_ops login_ops = {
	.C_Login = login_C_Login,
	.C_LoginUser = login_C_LoginUser,
	.C_Logout = login_C_Logout,
	.C_CloseAllSessions = login_C_CloseAllSessions,
	.C_SetPIN = login_C_SetPIN,
};

static void login_destroy(p11_layer *self)
{
	login *l = self->data;

	if (l->ctx->login == l->state)
		l->ctx->login = NULL;
	p11_login_state_free(l->state);
	free(l);
}

p11_layer *p11_login_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	p11_layer *layer = calloc(1, sizeof(*layer));
	login *l = calloc(1, sizeof(*l));
	if (layer == NULL || l == NULL || (l->state = p11_login_state_new()) == NULL) {
		free(layer);
		free(l);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* A literal OtherAdminUserType was checked when the configuration was
	 * loaded (p11_config_load), a mapped one is at C_Login. */
	l->ctx = ctx;
	ctx->login = l->state;
	layer->name = "login";
	layer->ops = &login_ops;
	layer->data = l;
	layer->destroy = login_destroy;
	return layer;
}
