/*
 * Configuration: INI files and environment, parsed once at C_Initialize into
 * an immutable p11_config; a failure keeps nothing and names file, line, key
 * and the fix.
 */
#ifndef P11_CONFIG_H
#define P11_CONFIG_H

#include "p11-compat.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Value types: how a value is checked (at load, or for a mapped field, when read). */
typedef enum {
	P11_CT_STRING,   /* any text */
	P11_CT_PATH,     /* a file path; never a mapped field */
	P11_CT_BOOL,     /* true/false, yes/no, on/off, 1/0 */
	P11_CT_ENUM,     /* one of the '|'-separated words of the key's choices */
	P11_CT_SIZE,     /* bytes, with an optional K, M or G suffix; 0 means no limit */
	P11_CT_DURATION, /* a time: a number with ms, s or m (no unit: seconds); 0 means off */
} p11_conf_type;

/* The middleware's own files: their defaults are the platform's (p11-compat.h). */
#define P11_DEFAULT_PERSONAL_CFG COMPAT_DEFAULT_PERSONAL_CFG
#define P11_DEFAULT_PERSONAL_USER_CFG COMPAT_DEFAULT_PERSONAL_USER_CFG
#define P11_DEFAULT_PIN_ENCRYPTION_CFG COMPAT_DEFAULT_PIN_ENCRYPTION_CFG

/* The longest card serial: CK_TOKEN_INFO.serialNumber's 16 characters. */
#define P11_SERIAL_MAX 16

/*
 * Every key: id, section, key, type, default, choices (ENUM), repeatable,
 * one-line meaning. conf/p11shim.conf documents the same keys, and a unit
 * test keeps the two in step.
 */
#define P11_CONFIG_KEYS(X)                                                                           \
	X(LIBRARY, "backend", "PKCS11Library", P11_CT_PATH, "", NULL, false,                         \
	  "the real PKCS#11 module the shim forwards every call to")                                 \
	X(LIBRARY_WIN32, "backend", "PKCS11LibraryWindows32", P11_CT_PATH, "", NULL, false,          \
	  "used instead of PKCS11Library by the 32-bit Windows shim")                                \
	X(LIBRARY_WIN64, "backend", "PKCS11LibraryWindows64", P11_CT_PATH, "", NULL, false,          \
	  "used instead of PKCS11Library by a 64-bit Windows shim")                                  \
	X(MIDDLEWARE, "backend", "Middleware", P11_CT_ENUM, "auto", "auto|personal|generic",         \
	  false, "auto: personal when the file is personal.dll or CK_INFO names Nexus or Personal")  \
	X(MIDDLEWARE_VERSION, "backend", "MiddlewareVersion", P11_CT_STRING, "", NULL, false,        \
	  "the middleware version, when the module does not tell it (e.g. 5.7.2)")                   \
	X(SKIP_READER, "readers", "SkipReader", P11_CT_STRING,                                       \
	  "Microsoft Virtual Smart Card .*\nWindows Hello for Business .*", NULL, true,              \
	  "hide slots whose reader name fully matches this PCRE2 pattern; repeatable; empty clears") \
	X(READ_PERSONAL_SKIP_READER, "readers", "ReadPersonalSkipReader", P11_CT_BOOL, "true",       \
	  NULL, false, "also take the SkipReader lines of the middleware's Personal.cfg files")      \
	X(OPERATOR_PIN_IS_SO, "login", "OperatorPinIsSOCredential", P11_CT_BOOL, "false", NULL,      \
	  false,                                                                                     \
	  "false: the PUK is the card's SO credential; true: the operator PIN; or a mapped field")   \
	X(OTHER_ADMIN_USER_TYPE, "login", "OtherAdminUserType", P11_CT_STRING, "0x80000001", NULL,   \
	  false, "the backend's user type for the admin secret that is not the SO credential")       \
	X(PUK_CHANGE, "puk", "PukChange", P11_CT_ENUM, "auto", "auto|allow|deny", false,             \
	  "auto: allow a PUK change only on Personal >= 5.7.2 and a model of PukChangeModels")       \
	X(PUK_CHANGE_MODELS, "puk", "PukChangeModels", P11_CT_STRING, "Cosmo 7, Cosmo 8.2", NULL,    \
	  false, "comma-separated token models whose PUK Personal can change")                       \
	X(INIT_TOKEN, "serial", "InitToken", P11_CT_BOOL, "false", NULL, false,                      \
	  "apply a card serial number at C_InitToken")                                               \
	X(CMS_CARD_SERIAL, "serial", "CMSCardSerialNumber", P11_CT_STRING, "", NULL, false,          \
	  "the card serial number, usually a mapped field; empty: take one from NumberRange")        \
	X(NUMBER_RANGE, "serial", "NumberRange", P11_CT_STRING, "", NULL, false,                     \
	  "FIRST-LAST: card serial numbers handed out in order, never twice")                        \
	X(NUMBER_RANGE_STATE, "serial", "NumberRangeState", P11_CT_PATH, "", NULL, false,            \
	  "the state file of NumberRange (the last number handed out)")                              \
	X(CERT_SERIAL_CHECK, "serial", "CertificateSerialCheck", P11_CT_ENUM, "refuse",              \
	  "refuse|warn|off", false,                                                                  \
	  "a certificate whose subject serialNumber differs from the card serial: refuse or warn")   \
	X(CARD_ERASER, "eraser", "CardEraser", P11_CT_BOOL, "false", NULL, false,                    \
	  "show a virtual Card Eraser object on every token; destroying it erases the token")        \
	X(PERSONAL_CONFIG, "middleware", "PersonalConfig", P11_CT_PATH, P11_DEFAULT_PERSONAL_CFG,    \
	  NULL, false, "the middleware's system Personal.cfg ([Cache] CacheValidity, SkipReader)")   \
	X(PERSONAL_USER_CONFIG, "middleware", "PersonalUserConfig", P11_CT_PATH,                     \
	  P11_DEFAULT_PERSONAL_USER_CFG, NULL, false,                                                \
	  "the per-user Personal.cfg override, which wins key by key")                               \
	X(PIN_ENCRYPTION_CONFIG, "middleware", "PinEncryptionConfig", P11_CT_PATH,                   \
	  P11_DEFAULT_PIN_ENCRYPTION_CFG, NULL, false,                                               \
	  "the middleware's iD2ppa.cfg ([PIN Encryption] File = the certificate)")                   \
	X(ENFORCE, "middleware", "Enforce", P11_CT_ENUM, "refuse", "refuse|warn|off", false,         \
	  "caching on or no PIN-encryption certificate: refuse C_Initialize, warn, or off")          \
	X(TRACE_ENABLE, "trace", "Enable", P11_CT_BOOL, "false", NULL, false,                        \
	  "trace every call; also on when File is set")                                              \
	X(TRACE_FILE, "trace", "File", P11_CT_STRING, "", NULL, false,                               \
	  "trace destination (%p: process id, %t: start time); empty: the state folder")             \
	X(TRACE_FORMAT, "trace", "Format", P11_CT_ENUM, "jsonl", "jsonl|text", false,                \
	  "jsonl: one JSON object per call; text: one readable line per call")                       \
	X(TRACE_DATA, "trace", "Data", P11_CT_ENUM, "length", "none|length|hex", false,              \
	  "what of data buffers to show; secrets are always redacted")                               \
	X(TRACE_MAXSIZE, "trace", "MaxSize", P11_CT_SIZE, "64M", NULL, false,                        \
	  "rotate the trace file to FILE.1 beyond this size; 0: never")                              \
	X(TRACE_SLOWCALL, "trace", "SlowCall", P11_CT_DURATION, "10s", NULL, false,                  \
	  "a note record while a call is still in the backend past this time; 0: off")               \
	X(LOG_SYSTEM, "log", "System", P11_CT_ENUM, "on", "on|off|all", false,                       \
	  "policy events in the system log: on (refusals and errors), all (also policy actions), off")

typedef enum {
#define X(id, sec, key, type, def, choices, rep, help) P11_KEY_##id,
	P11_CONFIG_KEYS(X)
#undef X
	        P11_KEY_COUNT
} p11_key;

/* Where a value came from, for the trace and `p11shim doctor`. */
typedef enum {
	P11_ORIGIN_DEFAULT,
	P11_ORIGIN_SYSTEM,   /* /etc/p11shim/p11shim.conf */
	P11_ORIGIN_USER,     /* ~/.config/p11shim/p11shim.conf */
	P11_ORIGIN_CONF_ENV, /* the file named by P11SHIM_CONF */
	P11_ORIGIN_ENV,      /* P11SHIM_LIBRARY, P11SHIM_TRACE */
} p11_origin;

typedef struct p11_config p11_config;

/* Where to read from; NULL members are skipped. */
typedef struct {
	const char *system_file;
	const char *user_file;
	const char *conf_env_file; /* replaces both files when set */
	const char *env_library;   /* P11SHIM_LIBRARY */
	const char *env_trace;     /* P11SHIM_TRACE */
} p11_config_sources;

/* The sources of this process: the default paths and the environment. */
void p11_config_default_sources(p11_config_sources *src, char *userbuf, size_t userlen);

/*
 * Parse all sources. On failure returns NULL and writes one line to err:
 * "FILE:LINE: what is wrong; the fix".
 */
p11_config *p11_config_load(const p11_config_sources *src, char *err, size_t errlen);
void p11_config_free(p11_config *cfg);

/*
 * Whether loading src again would read what cfg was read from: the same
 * paths and variables, each file as it was (device, number, size,
 * modification and change times; a file still missing). C_Initialize
 * keeps the configuration while this holds. false for NULL.
 */
bool p11_config_unchanged(const p11_config *cfg, const p11_config_sources *src);

/* Key metadata. */
const char *p11_config_section(p11_key key);
const char *p11_config_name(p11_key key);
const char *p11_config_default(p11_key key);
const char *p11_config_help(p11_key key);
const char *p11_config_choices(p11_key key);
const char *p11_origin_name(p11_origin origin);

/* The raw value (a mapped field stays "${NAME}") and where it came from. */
const char *p11_config_raw(const p11_config *cfg, p11_key key, p11_origin *origin,
                           const char **file, unsigned *line);

/*
 * The value as the client's process sees it now: a mapped field "${NAME}"
 * is read from the environment, and checked against the key's type.
 * Returns the value (valid until the next call in this thread), or NULL
 * with err naming the field, the key and where it was set.
 */
const char *p11_config_get(const p11_config *cfg, p11_key key, char *err, size_t errlen);
/* Typed getters for values checked at load (no mapped field possible or checked by caller). */
bool p11_config_bool(const p11_config *cfg, p11_key key, bool *out, char *err, size_t errlen);
bool p11_config_size(const p11_config *cfg, p11_key key, uint64_t *out, char *err, size_t errlen);
bool p11_config_duration_ms(const p11_config *cfg, p11_key key, uint64_t *ms, char *err,
                            size_t errlen);

/* Repeatable keys: the accumulated values, oldest first. */
size_t p11_config_count(const p11_config *cfg, p11_key key);
const char *p11_config_item(const p11_config *cfg, p11_key key, size_t i, p11_origin *origin,
                            const char **file, unsigned *line);

/* Value parsers shared with the CLI; return false when text is not valid. */
bool p11_parse_bool(const char *text, bool *out);
bool p11_parse_size(const char *text, uint64_t *out);
/* "10s", "500ms", "2m", "10" (seconds), "0": milliseconds, at most a day. */
bool p11_parse_duration_ms(const char *text, uint64_t *ms);

#endif /* P11_CONFIG_H */
