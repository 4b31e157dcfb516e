/*
 * The middleware layer: right above the backend, it overrides only
 * C_Initialize.
 *
 * After the backend initialised, it decides whether the backend is Nexus
 * Personal ([backend] Middleware; auto: the file is personal.dll or
 * CK_INFO names Nexus or Personal) and which version it is (for the PUK
 * rule), and for Personal checks the middleware's own configuration, as
 * Nexus's Personal integration guide requires before encoding: card
 * caching off in Personal.cfg
 * ([Cache] CacheValidity = 0; the per-user file wins), and a readable
 * PIN-encryption certificate in iD2ppa.cfg. [middleware] Enforce decides:
 * refuse (the backend is finalised again and C_Initialize fails), warn, off.
 *
 * The shim itself never caches a backend answer: every call goes down.
 */
#include "config.h"

#include "p11-shim.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p11-compat.h"
#include "p11-personal.h"

typedef struct {
	p11_shim_ctx *ctx;
} middleware;

static bool names_personal(const unsigned char *field, size_t n)
{
	char buf[64];
	size_t i;

	/* Lower case, then strstr: strcasestr is a GNU extension (not on Windows). */
	snprintf(buf, sizeof(buf), "%.*s", (int)n, (const char *)field);
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	return strstr(buf, "nexus") != NULL || strstr(buf, "personal") != NULL;
}

static bool is_personal_file(const char *path)
{
	const char *base = path, *p;

	for (p = path; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	return strcasecmp(base, "personal.dll") == 0;
}

/* The last dotted version ("5.7.2") in a blank-padded field. */
static bool last_version(const unsigned char *field, size_t n, char *out, size_t len)
{
	size_t i = 0, best = 0, best_len = 0;

	while (i < n) {
		size_t j = i, dots = 0;
		if (!isdigit(field[i]) || (i > 0 && (isalnum(field[i - 1]) || field[i - 1] == '.'))) {
			i++;
			continue;
		}
		while (j < n && (isdigit(field[j]) ||
		                 (field[j] == '.' && j + 1 < n && isdigit(field[j + 1])))) {
			dots += field[j] == '.';
			j++;
		}
		if (dots > 0) {
			best = i;
			best_len = j - i;
		}
		i = j;
	}
	if (best_len == 0 || best_len >= len)
		return false;
	memcpy(out, field + best, best_len);
	out[best_len] = '\0';
	return true;
}

static void learn_version(const p11_config *cfg, const char *library, const CK_INFO *info,
                          char *version, size_t vlen, char *source, size_t slen)
{
	const char *v = p11_config_raw(cfg, P11_KEY_MIDDLEWARE_VERSION, NULL, NULL, NULL);

	if (v[0] != '\0') {
		snprintf(version, vlen, "%s", v);
		snprintf(source, slen, "[backend] MiddlewareVersion");
		return;
	}
	/* Windows: the DLL's file version resource comes first: it names the
	 * release (5.7.2), where CK_INFO's libraryVersion has two parts. */
	if (library != NULL && library[0] != '\0' &&
	    compat_module_file_version(library, version, vlen)) {
		snprintf(source, slen, "the DLL's file version resource");
		return;
	}
	if (info != NULL && last_version(info->libraryDescription, sizeof(info->libraryDescription),
	                                 version, vlen)) {
		snprintf(source, slen, "CK_INFO.libraryDescription");
		return;
	}
	if (info != NULL) {
		snprintf(version, vlen, "%u.%u", info->libraryVersion.major,
		         info->libraryVersion.minor);
		snprintf(source, slen, "CK_INFO.libraryVersion");
	}
}

bool p11_middleware_identify(const p11_config *cfg, const char *library, const CK_INFO *info,
                             char *version, size_t vlen, char *source, size_t slen)
{
	const char *mode = p11_config_raw(cfg, P11_KEY_MIDDLEWARE, NULL, NULL, NULL);
	bool personal = false;

	version[0] = source[0] = '\0';
	if (strcasecmp(mode, "personal") == 0)
		personal = true;
	else if (strcasecmp(mode, "auto") == 0)
		personal = is_personal_file(library) ||
		           (info != NULL &&
		            (names_personal(info->manufacturerID, sizeof(info->manufacturerID)) ||
		             names_personal(info->libraryDescription,
		                            sizeof(info->libraryDescription))));
	learn_version(cfg, library, info, version, vlen, source, slen);
	return personal;
}

/* One finding: refused, warned or ignored per Enforce. Returns true to refuse. */
static bool finding(const char *enforce, const char *text)
{
	if (strcasecmp(enforce, "off") == 0) {
		p11_note("middleware: ignored ([middleware] Enforce = off): %s", text);
		return false;
	}
	if (strcasecmp(enforce, "warn") == 0) {
		p11_event(P11_EV_MIDDLEWARE_WARNING, P11_NO_SLOT, "middleware: warning: %s", text);
		return false;
	}
	p11_event(P11_EV_MIDDLEWARE_REFUSED, P11_NO_SLOT, "middleware: refused: %s", text);
	return true;
}

/* What C_Initialize reads of Personal's files: 180 KiB (Personal.cfg's
 * SkipReader lines), so on the heap, not left behind on the client's stack. */
typedef struct {
	char text[1400], err[1024];
	p11_personal_cfg pc;
	p11_pin_cert cert;
} checks;

static CK_RV middleware_C_Initialize(p11_layer *self, CK_VOID_PTR init_args)
{
	middleware *m = self->data;
	p11_shim_ctx *ctx = m->ctx;
	const char *enforce, *lib;
	checks *w;
	bool refuse = false, have_info;
	CK_INFO info;
	CK_RV rv;

	rv = P11_NEXT(self, Initialize, init_args);
	if (rv != CKR_OK)
		return rv;
	have_info = P11_NEXT(self, GetInfo, &info) == CKR_OK;
	/* The file the backend loaded (on Windows maybe PKCS11LibraryWindows32). */
	lib = p11_backend_path(ctx->backend);
	ctx->personal = p11_middleware_identify(ctx->cfg, lib, have_info ? &info : NULL,
	                                        ctx->version, sizeof(ctx->version),
	                                        ctx->version_source, sizeof(ctx->version_source));
	if (!ctx->personal)
		return CKR_OK;
	p11_note("middleware: Nexus Personal %s (version from %s)",
	         ctx->version[0] ? ctx->version : "?",
	         ctx->version_source[0] ? ctx->version_source : "nowhere");

	enforce = p11_config_raw(ctx->cfg, P11_KEY_ENFORCE, NULL, NULL, NULL);
	if ((w = malloc(sizeof(*w))) == NULL) {
		p11_event(P11_EV_MIDDLEWARE_REFUSED, P11_NO_SLOT,
		          "middleware: refused: out of memory checking Nexus Personal's configuration");
		P11_NEXT(self, Finalize, NULL);
		return CKR_HOST_MEMORY;
	}
	if (!p11_personal_cfg_read(ctx->cfg, &w->pc, w->err, sizeof(w->err))) {
		snprintf(w->text, sizeof(w->text), "Personal.cfg cannot be read: %s", w->err);
		refuse |= finding(enforce, w->text);
	} else if (p11_personal_caching_on(&w->pc)) {
		/* Nexus's Personal integration guide: caching gives outdated card
		 * data during encoding. */
		if (w->pc.file[0] != '\0')
			snprintf(w->text, sizeof(w->text),
			         "card caching is on: %s:%u: [Cache] CacheValidity = %s; "
			         "set [Cache] CacheValidity = 0 there",
			         w->pc.file, w->pc.line, w->pc.value);
		else if (w->pc.system_read || w->pc.user_read)
			snprintf(w->text, sizeof(w->text),
			         "card caching is on: no [Cache] CacheValidity in %s%s%s; "
			         "add [Cache] CacheValidity = 0 to %s",
			         w->pc.system_read ? w->pc.system_file : "",
			         w->pc.system_read && w->pc.user_read ? " or " : "",
			         w->pc.user_read ? w->pc.user_file : "",
			         w->pc.user_read ? w->pc.user_file : w->pc.system_file);
		else
			snprintf(w->text, sizeof(w->text),
			         "card caching is on: no Personal.cfg found "
			         "([middleware] PersonalConfig = %s, PersonalUserConfig = %s); create the "
			         "middleware's Personal.cfg with [Cache] CacheValidity = 0 and name it there",
			         w->pc.system_file[0] ? w->pc.system_file : "(unset)",
			         w->pc.user_file[0] ? w->pc.user_file : "(unset)");
		refuse |= finding(enforce, w->text);
	}
	if (!p11_pin_cert_check(ctx->cfg, &w->cert, w->err, sizeof(w->err))) {
		snprintf(w->text, sizeof(w->text), "PIN-encryption certificate: %s", w->err);
		refuse |= finding(enforce, w->text);
	}
	free(w);
	if (refuse) {
		/* Nothing half-initialised is left behind. */
		P11_NEXT(self, Finalize, NULL);
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

static const p11_ops middleware_ops = {
	.C_Initialize = middleware_C_Initialize,
};

static void middleware_destroy(p11_layer *self)
{
	free(self->data);
}

p11_layer *p11_middleware_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	p11_layer *layer = calloc(1, sizeof(*layer));
	middleware *m = calloc(1, sizeof(*m));

	if (layer == NULL || m == NULL) {
		free(layer);
		free(m);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->ctx = ctx;
	layer->name = "middleware";
	layer->ops = &middleware_ops;
	layer->data = m;
	layer->destroy = middleware_destroy;
	return layer;
}
