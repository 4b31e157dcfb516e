/*
 * Reading the Personal middleware's files (include/p11-personal.h).
 */
#include "config.h"

#include "p11-personal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "p11-compat.h"
#include "p11-ini.h"

void p11_expand_env_path(const char *in, char *out, size_t len)
{
	static const char *const vars[] = { "APPDATA", "PROGRAMDATA", "LOCALAPPDATA" };
	size_t o = 0, i;

	while (*in != '\0' && o + 1 < len) {
		bool done = false;
		for (i = 0; i < sizeof(vars) / sizeof(vars[0]) && *in == '%'; i++) {
			size_t n = strlen(vars[i]);
			const char *v;
			if (strncasecmp(in + 1, vars[i], n) != 0 || in[n + 1] != '%')
				continue;
			v = getenv(vars[i]);
			if (v == NULL)
				break;
			o += (size_t)snprintf(out + o, len - o, "%s", v);
			if (o >= len)
				o = len - 1;
			in += n + 2;
			done = true;
			break;
		}
		if (!done)
			out[o++] = *in++;
	}
	out[o] = '\0';
}

typedef struct {
	p11_personal_cfg *pc;
	const char *file;
} cfg_ctx;

static bool personal_line(void *vctx, const char *section, const char *key, const char *value,
                          unsigned line, char *err, size_t errlen)
{
	cfg_ctx *c = vctx;
	p11_personal_cfg *pc = c->pc;

	if (key == NULL)
		return true;
	if (strcasecmp(section, "Cache") == 0 && strcasecmp(key, "CacheValidity") == 0) {
		snprintf(pc->value, sizeof(pc->value), "%s", value);
		snprintf(pc->file, sizeof(pc->file), "%s", c->file);
		pc->line = line;
	} else if (strcasecmp(key, "SkipReader") == 0 && value[0] != '\0') {
		/* The guide does not say in which section; any counts. */
		if (pc->n_skip == P11_PERSONAL_MAX_SKIP) {
			snprintf(err, errlen, "more than %d SkipReader lines", P11_PERSONAL_MAX_SKIP);
			return false;
		}
		snprintf(pc->skip[pc->n_skip].pattern, sizeof(pc->skip[0].pattern), "%s", value);
		snprintf(pc->skip[pc->n_skip].file, sizeof(pc->skip[0].file), "%s", c->file);
		pc->skip[pc->n_skip].line = line;
		pc->n_skip++;
	}
	return true;
}

bool p11_personal_cfg_read(const p11_config *cfg, p11_personal_cfg *out, char *err, size_t errlen)
{
	const p11_key keys[2] = { P11_KEY_PERSONAL_CONFIG, P11_KEY_PERSONAL_USER_CONFIG };
	char *paths[2] = { out->system_file, out->user_file };
	bool *read[2] = { &out->system_read, &out->user_read };
	cfg_ctx ctx;
	int i;

	memset(out, 0, sizeof(*out));
	/* System file first: the per-user file is read after it and wins. */
	for (i = 0; i < 2; i++) {
		const char *raw = p11_config_raw(cfg, keys[i], NULL, NULL, NULL);
		p11_expand_env_path(raw, paths[i], sizeof(out->system_file));
		if (paths[i][0] == '\0')
			continue;
		ctx.pc = out;
		ctx.file = paths[i];
		switch (p11_ini_parse(paths[i], personal_line, &ctx, err, errlen)) {
		case P11_INI_OK: *read[i] = true; break;
		case P11_INI_MISSING: break;
		case P11_INI_ERROR: return false;
		}
	}
	return true;
}

bool p11_personal_caching_on(const p11_personal_cfg *pc)
{
	return strcmp(pc->value, "0") != 0;
}

typedef struct {
	char *file;
	size_t len;
	unsigned line;
} id2ppa_ctx;

static bool id2ppa_line(void *vctx, const char *section, const char *key, const char *value,
                        unsigned line, char *err, size_t errlen)
{
	id2ppa_ctx *c = vctx;

	if (key != NULL && strcasecmp(section, "PIN Encryption") == 0 &&
	    strcasecmp(key, "File") == 0) {
		snprintf(c->file, c->len, "%s", value);
		c->line = line;
	}
	return true;
}

bool p11_pin_cert_check(const p11_config *cfg, p11_pin_cert *out, char *why, size_t whylen)
{
	id2ppa_ctx ctx;
	X509 *x = NULL;
	BIO *bio = NULL;
	bool ok = false;
	char err[1024];
	const ASN1_TIME *na;
	struct tm tm;

	memset(out, 0, sizeof(*out));
	p11_expand_env_path(p11_config_raw(cfg, P11_KEY_PIN_ENCRYPTION_CONFIG, NULL, NULL, NULL),
	                    out->cfg_file, sizeof(out->cfg_file));
	if (out->cfg_file[0] == '\0') {
		snprintf(why, whylen,
		         "no iD2ppa.cfg configured; set [middleware] PinEncryptionConfig");
		return false;
	}
	ctx.file = out->cert_file;
	ctx.len = sizeof(out->cert_file);
	ctx.line = 0;
	switch (p11_ini_parse(out->cfg_file, id2ppa_line, &ctx, err, sizeof(err))) {
	case P11_INI_OK: break;
	case P11_INI_MISSING:
		snprintf(why, whylen,
		         "%s does not exist; create it with [PIN Encryption] File = "
		         "the certificate (any dummy certificate will do, says Nexus's Personal "
		         "integration guide)",
		         out->cfg_file);
		return false;
	case P11_INI_ERROR: snprintf(why, whylen, "%s", err); return false;
	}
	if (out->cert_file[0] == '\0') {
		snprintf(why, whylen,
		         "%s has no [PIN Encryption] File; set it to an X.509 certificate "
		         "(any dummy certificate will do, says Nexus's Personal integration "
		         "guide)",
		         out->cfg_file);
		return false;
	}
	bio = BIO_new_file(out->cert_file, "rb");
	if (bio == NULL) {
		snprintf(why, whylen,
		         "%s:%u: [PIN Encryption] File = %s cannot be read; fix the path or "
		         "the file's permissions",
		         out->cfg_file, ctx.line, out->cert_file);
		goto out;
	}
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	snprintf(out->format, sizeof(out->format), "PEM");
	if (x == NULL) {
		(void)BIO_reset(bio);
		x = d2i_X509_bio(bio, NULL);
		snprintf(out->format, sizeof(out->format), "DER");
	}
	ERR_clear_error();
	if (x == NULL) {
		snprintf(why, whylen,
		         "%s:%u: [PIN Encryption] File = %s is not an X.509 certificate "
		         "(PEM or DER); point it at a certificate",
		         out->cfg_file, ctx.line, out->cert_file);
		out->format[0] = '\0';
		goto out;
	}
	X509_NAME_oneline(X509_get_subject_name(x), out->subject, sizeof(out->subject));
	na = X509_get0_notAfter(x);
	if (na != NULL && ASN1_TIME_to_tm(na, &tm) == 1)
		out->not_after = compat_timegm(&tm);
	ok = true;
out:
	X509_free(x);
	BIO_free(bio);
	return ok;
}
