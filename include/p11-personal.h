/*
 * The Personal middleware's own files (Nexus's Personal integration guide, "Mandatory middleware
 * configuration"): Personal.cfg, system-wide and per-user (the per-user file
 * wins key by key), and iD2ppa.cfg with the PIN-encryption certificate.
 * Read by the middleware and readers layers and by `p11shim doctor`.
 */
#ifndef P11_PERSONAL_H
#define P11_PERSONAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "p11-config.h"

#define P11_PERSONAL_MAX_SKIP 32

typedef struct {
	char value[64];  /* effective [Cache] CacheValidity, "" when missing */
	char file[4096]; /* where it was set, "" when missing */
	unsigned line;
	bool system_read, user_read; /* which files exist and were read */
	char system_file[4096], user_file[4096];
	size_t n_skip; /* SkipReader lines of both files, system first */
	struct {
		char pattern[512];
		char file[4096];
		unsigned line;
	} skip[P11_PERSONAL_MAX_SKIP];
} p11_personal_cfg;

/*
 * Reads the configured Personal.cfg files (%APPDATA% and %PROGRAMDATA% in
 * the paths are expanded). Missing files are fine (recorded as not read);
 * false with err set when a file exists but cannot be read or parsed.
 */
bool p11_personal_cfg_read(const p11_config *cfg, p11_personal_cfg *out, char *err, size_t errlen);

/* Caching is off only with CacheValidity = 0 (Nexus's Personal integration guide). */
bool p11_personal_caching_on(const p11_personal_cfg *pc);

typedef struct {
	char cfg_file[4096];  /* iD2ppa.cfg */
	char cert_file[4096]; /* its [PIN Encryption] File, "" when unset */
	char subject[256];
	time_t not_after;
	char format[8]; /* "PEM" or "DER" */
} p11_pin_cert;

/*
 * Checks the PIN-encryption certificate: the configured iD2ppa.cfg names a
 * readable X.509 certificate in PEM or DER. false with why set ("iD2ppa.cfg
 * ... has no [PIN Encryption] File", "... is not an X.509 certificate").
 */
bool p11_pin_cert_check(const p11_config *cfg, p11_pin_cert *out, char *why, size_t whylen);

/* Expands %APPDATA%, %PROGRAMDATA% and %LOCALAPPDATA% from the environment. */
void p11_expand_env_path(const char *in, char *out, size_t len);

#endif /* P11_PERSONAL_H */
