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
#include "p11-session.h"

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

/*
 * Policy events: what an administrator reads in the system's log ([log]
 * System; README, "Events in the system log"). The numbers are the event
 * ids of the log lines and of the Windows message table
 * (src/platform/win32-rc/p11shim-events.mc): never renumber one.
 * 1xx refusals and errors (System = on, the default, or all): also one
 * line on stderr and a note, as p11_message. 2xx policy actions (System =
 * all): a note, no stderr line.
 */
typedef enum {
	P11_EV_ERROR = 100,              /* another error the shim reports (out of memory, ...) */
	P11_EV_CONFIG_REFUSED = 101,     /* a configuration error or a file others can write */
	P11_EV_BACKEND_REFUSED = 102,    /* the backend: untrusted, other word size, not a module */
	P11_EV_MIDDLEWARE_REFUSED = 103, /* Personal.cfg caching on, no PIN-encryption certificate */
	P11_EV_MIDDLEWARE_WARNING = 104, /* the same with [middleware] Enforce = warn */
	P11_EV_PUK_REFUSED = 105,        /* a PUK change refused before the card is touched */
	P11_EV_SERIAL_REFUSED = 106, /* C_InitToken or a certificate refused by the serial rules */
	P11_EV_SERIAL_WARNING = 107, /* a certificate serial differs ([serial] ... = warn) */
	P11_EV_ERASER_REFUSED = 108, /* the Card Eraser did not erase */
	P11_EV_LOGIN_REFUSED = 109,  /* a login the [login] settings cannot map */
	P11_EV_ERASER_WARNING = 110, /* erased, but what the login could not see remains */
	P11_EV_TRACE_REFUSED = 111,  /* the trace file cannot be opened: calls go on untraced */
	P11_EV_READER_HIDDEN = 201,  /* a slot hidden by SkipReader */
	P11_EV_SO_MAPPED = 202,      /* an SO login sent as the configured credential */
	P11_EV_SERIAL_APPLIED = 203, /* a card serial written at C_InitToken */
	P11_EV_ERASER_USED = 204,    /* a token erased through the Card Eraser */
} p11_event_id;

/* No slot in the event (P11_NO_SLOT), else the slot id it concerns. */
#define P11_NO_SLOT ((CK_SLOT_ID)-1)

/* An event: see p11_event_id for where its text goes. Never put a secret in it. */
void p11_event(p11_event_id id, CK_SLOT_ID slot, const char *fmt, ...) P11_PRINTF(3, 4);

/* [log] System of this configuration (NULL: the default, on), from now on. */
void p11_event_configure(const p11_config *cfg);

/*
 * The rate limit (exposed for tests): whether the event (id, text) at time
 * `now` (seconds) goes to the system log. The same id and text go at most
 * once per P11_EVENT_INTERVAL seconds; *suppressed receives how many were
 * held back since the last one that went.
 */
#define P11_EVENT_INTERVAL 60
bool p11_event_rate_ok(unsigned id, const char *text, long long now, unsigned long *suppressed);
void p11_event_rate_reset(void);

/*
 * What the layers of one initialised shim share: the configuration, the
 * bottom layer, and what the middleware layer learnt at C_Initialize
 * (it sits right above the backend, so the policy layers above it see this
 * filled in when their own C_Initialize returns from below).
 */
typedef struct {
	const p11_config *cfg;
	p11_layer *backend;
	bool after_fork;         /* a forked child of an initialised parent */
	bool personal;           /* the backend is Nexus Personal (or its simulator) */
	char version[32];        /* middleware version "5.7.2", or "" when unknown */
	char version_source[96]; /* where the version came from, for messages */
	p11_login_state *login;  /* kept by the login layer */
	CK_FLAGS init_flags; /* the client's C_Initialize flags (CKF_LIBRARY_CANT_CREATE_OS_THREADS) */
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
 * Closes the trace file kept open after C_Finalize for the next
 * C_Initialize (trimmed as at exit), when the module is unloaded. Under
 * COMPAT_GLOBAL_INIT, with the shim finalised.
 */
void p11_trace_free_kept(void);

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

/* The stack in production, outermost first; the last one is the backend (src/core/stack.c). */
extern const p11_layer_ctor p11_stack_order[];
extern const size_t p11_stack_order_len;

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
/* Whether pattern i is matched as a literal (or literal prefix and ".*"), without PCRE2. */
bool p11_skip_literal(const p11_skip *s, size_t i);
void p11_skip_free(p11_skip *s);

void p11_layer_free(p11_layer *layer);

/* The backend's function list, after its C_Initialize (for layers that query it). */
CK_FUNCTION_LIST *p11_backend_functions(p11_layer *backend);
/* Whether the loaded backend offers the "PKCS 11" 3.0 interface. */
bool p11_backend_has_v3(const p11_layer *backend);
/*
 * Before C_Initialize: whether the configured backend offers "PKCS 11"
 * 3.0 (loaded, asked and unloaded once; false when it cannot be loaded).
 */
bool p11_backend_probe_v3(void);
/* The path of the module the backend layer loads (the key that won on this platform). */
const char *p11_backend_path(const p11_layer *backend);

#endif /* P11_SHIM_H */
