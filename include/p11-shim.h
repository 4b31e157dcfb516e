/*
 * The shim's internal interfaces between its parts: messages and trace
 * notes, the layers' constructors, and the global state of entry.c.
 */
#ifndef P11_SHIM_H
#define P11_SHIM_H

#include <stdarg.h>
#include <stdbool.h>

#include "p11-config.h"
#include "p11-layer.h"

#if defined(__GNUC__)
#define P11_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define P11_PRINTF(a, b)
#endif

/*
 * A note: what a layer did or found during the current call. It lands in
 * the "notes" of the call's trace record; dropped when the trace is off.
 * Text starts with the layer's tag: "readers: slot 3 hidden by ...".
 * Never put a secret in a note.
 */
void p11_note(const char *fmt, ...) P11_PRINTF(1, 2);

/* A problem the user must see: one line on stderr ("p11shim: ...") and a note. */
void p11_message(const char *fmt, ...) P11_PRINTF(1, 2);

/* The credential an application logged in with on a token. */
typedef enum {
	P11_CRED_NONE,
	P11_CRED_USER,
	P11_CRED_PUK,
	P11_CRED_OPERATOR,
} p11_cred;

typedef struct p11_login_state p11_login_state;

/*
 * What the layers of one initialised shim share: the configuration, the
 * bottom layer, and what the middleware layer learnt at C_Initialize
 * (it sits right above the backend, so the policy layers above it see this
 * filled in when their own C_Initialize returns from below).
 */
typedef struct {
	const p11_config *cfg;
	p11_layer *backend;
	bool after_fork;          /* a forked child of an initialised parent */
	bool personal;            /* the backend is Nexus Personal (or its simulator) */
	char version[32];         /* middleware version "5.7.2", or "" when unknown */
	char version_source[96];  /* where the version came from, for messages */
	p11_login_state *login;   /* kept by the login layer */
	/* Calls the client made before this C_Initialize (each answered
	 * CKR_CRYPTOKI_NOT_INITIALIZED), and the first of them: said in the
	 * trace's C_Initialize record. */
	unsigned long calls_before;
	const char *first_before;
} p11_shim_ctx;

/*
 * A C_Initialize the shim answers itself (CKR_CRYPTOKI_ALREADY_INITIALIZED)
 * still gets its record, when `layer` is the trace layer.
 */
void p11_trace_lone_initialize(p11_layer *layer, CK_VOID_PTR init_args, CK_RV rv);

/*
 * A layer constructor. Returns the layer, or NULL: with err set on failure
 * (C_Initialize fails), with err[0] == '\0' when the layer is switched off.
 */
typedef p11_layer *(*p11_layer_ctor)(p11_shim_ctx *ctx, char *err, size_t errlen);

/* The key that names the backend on this platform (PKCS11LibraryWindows32/64 win there). */
p11_key p11_backend_key(const p11_config *cfg);
p11_layer *p11_backend_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen);
p11_layer *p11_trace_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen);
p11_layer *p11_middleware_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen);
p11_layer *p11_readers_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen);
p11_layer *p11_login_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen);
p11_layer *p11_eraser_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen);
p11_layer *p11_serial_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen);

/*
 * The credential the application logged in with on the token of session h
 * (the login layer keeps it; NONE when not logged in). `caller` is the
 * asking layer, whose next implementation answers C_GetSessionInfo.
 */
p11_cred p11_login_cred(p11_shim_ctx *ctx, p11_layer *caller, CK_SESSION_HANDLE h, CK_SLOT_ID *slot);

/*
 * Whether the backend is Nexus Personal ([backend] Middleware; auto: the
 * library file is personal.dll or CK_INFO names Nexus or Personal), and
 * its version with where that came from ("" when unknown). info may be
 * NULL. The middleware layer's rule, shared with `p11shim doctor`.
 */
bool p11_middleware_identify(const p11_config *cfg, const char *library, const CK_INFO *info,
                             char *version, size_t vlen, char *source, size_t slen);

/* Compares dotted versions numerically ("5.7.10" > "5.7.2"): <0, 0, >0. */
int p11_version_cmp(const char *a, const char *b);

/*
 * The SkipReader patterns as the readers layer compiles them ([readers]
 * SkipReader, then Personal.cfg's with ReadPersonalSkipReader), for
 * `p11shim doctor`. NULL with err set when a pattern or Personal.cfg is
 * bad (the message the layer would fail C_Initialize with).
 */
/* A user type: a CKU_ name or a number (0x80000001). */
bool p11_parse_user_type(const char *text, CK_USER_TYPE *out);

typedef struct p11_skip p11_skip;
p11_skip *p11_skip_new(const p11_config *cfg, char *err, size_t errlen);
size_t p11_skip_count(const p11_skip *s);
/* Pattern i and where it was set ("FILE:LINE" or "default"); NULL past the end. */
const char *p11_skip_pattern(const p11_skip *s, size_t i, const char **origin);
/* The first pattern that fully matches the reader name desc[0..n) (blank padding trimmed;
 * not UTF-8: taken as Latin-1), or that cannot be matched against it (the layer hides such
 * a reader too), or -1. Not thread-safe. */
int p11_skip_match(p11_skip *s, const char *desc, size_t n);
void p11_skip_free(p11_skip *s);

void p11_layer_free(p11_layer *layer);

/* The backend's function list, after its C_Initialize (for layers that query it). */
CK_FUNCTION_LIST *p11_backend_functions(p11_layer *backend);
/* The path of the module the backend layer loads (the key that won on this platform). */
const char *p11_backend_path(const p11_layer *backend);

#endif /* P11_SHIM_H */
