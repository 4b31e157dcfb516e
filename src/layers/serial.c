/*
 * The serial layer. The middleware vendor's rule for card serial numbers:
 * the serial is created by a number range, set on the card, the
 * certificates and the CM token, and must be applied consistently.
 *
 * With [serial] InitToken = true:
 * - C_InitToken fixes the serial before the card is touched: the value of
 *   CMSCardSerialNumber (usually a mapped field), else the next number of
 *   NumberRange (include/p11-numrange.h: never handed out twice). An unset
 *   field or an exhausted range fails C_InitToken with nothing written.
 *   After the backend's C_InitToken the serial is written to the card as a
 *   token data object the shim owns (P11SHIM_SERIAL_* in p11shim.h), with
 *   an SO login using the SO PIN the client gave to C_InitToken (Nexus's
 *   Personal integration guide: writing the serial usually needs an
 *   administrative login).
 * - C_GetTokenInfo reports that serial in serialNumber, read from the card
 *   every time (no cache: another station may have initialised the card).
 * - C_CreateObject of an X.509 certificate whose subject serialNumber
 *   differs from the card serial is refused or noted
 *   ([serial] CertificateSerialCheck).
 */
#include "config.h"

#include "p11-shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "p11-numrange.h"
#include "p11-text.h"
#include "p11-trace.h"
#include "p11shim.h"

typedef struct {
	p11_shim_ctx *ctx;
} serial;

static const CK_OBJECT_CLASS data_class = CKO_DATA;
static const CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

/* The template that finds the serial object. */
#define SERIAL_FIND_TEMPLATE                                                                   \
	{ CKA_CLASS, (void *)&data_class, sizeof(data_class) },                                \
	        { CKA_TOKEN, (void *)&yes, sizeof(yes) },                                      \
	        { CKA_LABEL, (void *)P11SHIM_SERIAL_LABEL, sizeof(P11SHIM_SERIAL_LABEL) - 1 }, \
	{                                                                                      \
		CKA_APPLICATION, (void *)P11SHIM_SERIAL_APPLICATION,                           \
		        sizeof(P11SHIM_SERIAL_APPLICATION) - 1                                 \
	}

/* Reads the card's serial object in session s. Returns false when there is none. */
static bool read_serial_in(p11_layer *self, CK_SESSION_HANDLE s, char *out)
{
	CK_ATTRIBUTE find[] = { SERIAL_FIND_TEMPLATE };
	CK_OBJECT_HANDLE obj;
	CK_ULONG n = 0;
	CK_ATTRIBUTE value = { CKA_VALUE, out, P11_SERIAL_MAX };
	bool found = false;

	if (P11_NEXT(self, FindObjectsInit, s, find, 4) != CKR_OK)
		return false;
	if (P11_NEXT(self, FindObjects, s, &obj, 1, &n) == CKR_OK && n == 1 &&
	    P11_NEXT(self, GetAttributeValue, s, obj, &value, 1) == CKR_OK &&
	    value.ulValueLen <= P11_SERIAL_MAX) {
		out[value.ulValueLen] = '\0';
		found = true;
	}
	P11_NEXT(self, FindObjectsFinal, s);
	return found;
}

/* The serial written on the token in slot, read from the card now. */
static bool card_serial(p11_layer *self, CK_SLOT_ID slot, char *out)
{
	CK_SESSION_HANDLE s;
	bool found;

	if (P11_NEXT(self, OpenSession, slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		return false;
	found = read_serial_in(self, s, out);
	P11_NEXT(self, CloseSession, s);
	return found;
}

/* Fixes the serial before the card is touched. false with the reason reported. */
static bool fix_serial(serial *sr, CK_SLOT_ID slot, char *out, size_t len)
{
	const p11_config *cfg = sr->ctx->cfg;
	const char *v, *range_text, *state;
	char err[1024], why[96];
	p11_range range;

	v = p11_config_get(cfg, P11_KEY_CMS_CARD_SERIAL, err, sizeof(err));
	if (v == NULL) {
		p11_event(P11_EV_SERIAL_REFUSED, slot,
		          "serial: C_InitToken refused, nothing written: %s", err);
		return false;
	}
	if (v[0] != '\0') {
		snprintf(out, len, "%s", v);
	} else {
		range_text = p11_config_get(cfg, P11_KEY_NUMBER_RANGE, err, sizeof(err));
		if (range_text == NULL || range_text[0] == '\0') {
			p11_event(P11_EV_SERIAL_REFUSED, slot,
			          "serial: C_InitToken refused, nothing written: [serial] InitToken = true "
			          "needs CMSCardSerialNumber or NumberRange");
			return false;
		}
		state = p11_config_raw(cfg, P11_KEY_NUMBER_RANGE_STATE, NULL, NULL, NULL);
		if (!p11_range_parse(range_text, &range, err, sizeof(err)) || state[0] == '\0' ||
		    p11_range_next(&range, state, out, len, err, sizeof(err)) != 0) {
			if (state[0] == '\0')
				snprintf(err, sizeof(err),
				         "[serial] NumberRange needs NumberRangeState, the "
				         "file that remembers the last number");
			p11_event(P11_EV_SERIAL_REFUSED, slot,
			          "serial: C_InitToken refused, nothing written: %s", err);
			return false;
		}
	}
	/*
	 * Whatever its source (a number range's state file is data too), the
	 * serial goes on the card only as 1 to 16 printable ASCII characters;
	 * the configuration's values were checked already, naming file and line.
	 */
	if (!p11_text_token_field(out, P11_SERIAL_MAX, why, sizeof(why))) {
		p11_event(P11_EV_SERIAL_REFUSED, slot,
		          "serial: C_InitToken refused, nothing written: card serial '%s' %s; a card "
		          "serial is 1 to %d printable ASCII characters (CK_TOKEN_INFO.serialNumber)",
		          out, why, P11_SERIAL_MAX);
		return false;
	}
	return true;
}

static CK_RV write_serial(p11_layer *self, CK_SLOT_ID slot, CK_UTF8CHAR_PTR so_pin, CK_ULONG so_len,
                          const char *value)
{
	CK_ATTRIBUTE obj[] = {
		SERIAL_FIND_TEMPLATE,
		{ CKA_PRIVATE, (void *)&no, sizeof(no) },
		{ CKA_VALUE, (void *)value, strlen(value) },
	};
	CK_OBJECT_HANDLE h;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	rv = P11_NEXT(self, OpenSession, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return rv;
	rv = P11_NEXT(self, Login, s, CKU_SO, so_pin, so_len);
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		rv = P11_NEXT(self, CreateObject, s, obj, 6, &h);
		P11_NEXT(self, Logout, s);
	}
	P11_NEXT(self, CloseSession, s);
	return rv;
}

static CK_RV serial_C_InitToken(p11_layer *self, CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin,
                                CK_ULONG pin_len, CK_UTF8CHAR_PTR label)
{
	serial *sr = self->data;
	char value[64];
	CK_RV rv;

	if (!fix_serial(sr, slot, value, sizeof(value)))
		return CKR_GENERAL_ERROR;
	rv = P11_NEXT(self, InitToken, slot, pin, pin_len, label);
	if (rv != CKR_OK) {
		p11_note("serial: card serial %s not applied: C_InitToken failed", value);
		return rv;
	}
	rv = write_serial(self, slot, pin, pin_len, value);
	if (rv != CKR_OK) {
		p11_event(P11_EV_SERIAL_REFUSED, slot,
		          "serial: the token in slot %lu was initialised, but its card serial %s could "
		          "not be written (%s); initialise it again",
		          (unsigned long)slot, value, p11_rv_str(rv));
		return CKR_FUNCTION_FAILED;
	}
	p11_event(P11_EV_SERIAL_APPLIED, slot,
	          "serial: card serial %s written to the token in slot %lu", value,
	          (unsigned long)slot);
	return CKR_OK;
}

static CK_RV serial_C_GetTokenInfo(p11_layer *self, CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	char value[P11_SERIAL_MAX + 1], why[96];
	size_t n;
	CK_RV rv;

	rv = P11_NEXT(self, GetTokenInfo, slot, info);
	if (rv != CKR_OK || info == NULL || !(info->flags & CKF_TOKEN_INITIALIZED))
		return rv;
	if (card_serial(self, slot, value)) {
		/* Another tool may have written the object: never pass control characters on. */
		if (!p11_text_token_field(value, P11_SERIAL_MAX, why, sizeof(why))) {
			p11_note("serial: the card's serial object %s; serialNumber left as the backend "
			         "reports it",
			         why);
			return rv;
		}
		n = strlen(value);
		memset(info->serialNumber, ' ', sizeof(info->serialNumber));
		memcpy(info->serialNumber, value, n);
	}
	return rv;
}

/* The subject serialNumber of a DER certificate, or false. */
static bool cert_subject_serial(const CK_BYTE *der, CK_ULONG len, char *out, size_t outlen)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	X509_NAME *name;
	int i;

	ERR_clear_error();
	if (x == NULL)
		return false;
	name = X509_get_subject_name(x);
	i = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);
	if (i >= 0) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
		snprintf(out, outlen, "%.*s", ASN1_STRING_length(s),
		         (const char *)ASN1_STRING_get0_data(s));
	}
	X509_free(x);
	return i >= 0;
}

static CK_RV serial_C_CreateObject(p11_layer *self, CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t,
                                   CK_ULONG n, CK_OBJECT_HANDLE_PTR obj)
{
	serial *sr = self->data;
	const CK_ATTRIBUTE *value = NULL;
	bool is_cert = false, x509 = true;
	char subject[128], card[P11_SERIAL_MAX + 1], err[256];
	const char *mode;
	CK_SESSION_INFO si;
	CK_ULONG i;

	for (i = 0; t != NULL && i < n; i++) {
		if (t[i].pValue == NULL)
			continue;
		if (t[i].type == CKA_CLASS && t[i].ulValueLen == sizeof(CK_OBJECT_CLASS))
			is_cert = *(CK_OBJECT_CLASS *)t[i].pValue == CKO_CERTIFICATE;
		else if (t[i].type == CKA_CERTIFICATE_TYPE && t[i].ulValueLen == sizeof(CK_ULONG))
			x509 = *(CK_ULONG *)t[i].pValue == CKC_X_509;
		else if (t[i].type == CKA_VALUE)
			value = &t[i];
	}
	mode = p11_config_get(sr->ctx->cfg, P11_KEY_CERT_SERIAL_CHECK, err, sizeof(err));
	if (!is_cert || !x509 || value == NULL || mode == NULL || strcasecmp(mode, "off") == 0 ||
	    !cert_subject_serial(value->pValue, value->ulValueLen, subject, sizeof(subject)) ||
	    P11_NEXT(self, GetSessionInfo, h, &si) != CKR_OK || !card_serial(self, si.slotID, card))
		return P11_NEXT(self, CreateObject, h, t, n, obj);
	if (strcmp(subject, card) != 0) {
		if (strcasecmp(mode, "refuse") == 0) {
			p11_event(P11_EV_SERIAL_REFUSED, si.slotID,
			          "serial: certificate refused: its subject serialNumber '%s' is not the "
			          "card serial '%s' ([serial] CertificateSerialCheck = refuse)",
			          subject, card);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		p11_event(P11_EV_SERIAL_WARNING, si.slotID,
		          "serial: warning: certificate subject serialNumber '%s' is not the card serial "
		          "'%s' ([serial] CertificateSerialCheck = warn)",
		          subject, card);
	}
	return P11_NEXT(self, CreateObject, h, t, n, obj);
}

static const p11_ops serial_ops = {
	.C_InitToken = serial_C_InitToken,
	.C_GetTokenInfo = serial_C_GetTokenInfo,
	.C_CreateObject = serial_C_CreateObject,
};

static void serial_destroy(p11_layer *self)
{
	free(self->data);
}

p11_layer *p11_serial_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	p11_layer *layer;
	serial *sr;
	bool on = false;

	if (!p11_config_bool(ctx->cfg, P11_KEY_INIT_TOKEN, &on, err, errlen))
		return NULL;
	if (!on) {
		err[0] = '\0';
		return NULL;
	}
	/* A literal range was checked when the configuration was loaded
	 * (p11_config_load), so a typo fails C_Initialize, not a card. */
	layer = calloc(1, sizeof(*layer));
	sr = calloc(1, sizeof(*sr));
	if (layer == NULL || sr == NULL) {
		free(layer);
		free(sr);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sr->ctx = ctx;
	layer->name = "serial";
	layer->ops = &serial_ops;
	layer->data = sr;
	layer->destroy = serial_destroy;
	return layer;
}
