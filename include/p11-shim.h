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
} p11_shim_ctx;

/*
 * A layer constructor. Returns the layer, or NULL: with err set on failure
 * (C_Initialize fails), with err[0] == '\0' when the layer is switched off.
 */
typedef p11_layer *(*p11_layer_ctor)(p11_shim_ctx *ctx, char *err, size_t errlen);

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

void p11_layer_free(p11_layer *layer);

/* The backend's function list, after its C_Initialize (for layers that query it). */
CK_FUNCTION_LIST *p11_backend_functions(p11_layer *backend);

#endif /* P11_SHIM_H */
