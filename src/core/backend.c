/*
 * The bottom layer: loads the real module and forwards every function to
 * it (DESIGN.md, Data flow; STYLE.md section 6).
 *
 * The module is loaded in C_Initialize, after its file header was checked
 * against the shim's word size and machine (the seed: a 64-bit DLL cannot
 * initialise cards), and unloaded after its C_Finalize. Its function list
 * is copied into a zeroed struct: we never write to backend memory and do
 * not trust its version field (pkcs11-spy.c init_spy).
 */
#include "config.h"

#include "p11-shim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"
#include "p11-security.h"

/* The module's last C_Finalize failed: it may still be initialised. */
static atomic_bool left_initialised;

typedef struct {
	char path[4096];
	const char *key;        /* the config key that names the module */
	char source[600];       /* where the path was set, for messages */
	void *dl;
	bool after_fork;        /* loaded in a forked child of an initialised parent */
	CK_FUNCTION_LIST funcs; /* our copy */
} backend;

/* Forward one function; a NULL entry in the module's list is "not supported". */
#define P11FN(name, ...)                                                        \
	static CK_RV backend_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__)) \
	{                                                                       \
		backend *b = self->data;                                        \
		if (b->funcs.C_##name == NULL)                                  \
			return CKR_FUNCTION_NOT_SUPPORTED;                      \
		return b->funcs.C_##name(P11_ARGS(__VA_ARGS__));                \
	}
#define P11FN_SPECIAL(name, ...)
#define P11FN_LIFE(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_LIFE

static CK_RV load_C_Initialize(p11_layer *self, CK_VOID_PTR init_args)
{
	backend *b = self->data;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR list = NULL;
	char why[512], trust[1024];
	CK_RV rv;

	if (b->path[0] == '\0') {
		p11_message("backend: no PKCS#11 module configured; set [backend] %s in the "
		            "configuration file, or P11SHIM_LIBRARY", b->key);
		return CKR_GENERAL_ERROR;
	}
	/* Code another user can change is that user's code (issue 7). */
	if (p11_file_trusted(b->path, "backend library", trust, sizeof(trust)) == P11_TRUST_REFUSED) {
		p11_message("backend: %s (set by %s)", trust, b->source);
		return CKR_GENERAL_ERROR;
	}
	if (compat_check_module_file(b->path, why, sizeof(why)) != 0) {
		p11_message("backend: cannot load %s: %s (set by %s)", b->path, why, b->source);
		return CKR_GENERAL_ERROR;
	}
	b->dl = compat_dlopen(b->path, why, sizeof(why));
	if (b->dl == NULL) {
		p11_message("backend: %s: %s (set by %s)", b->path, why, b->source);
		return CKR_GENERAL_ERROR;
	}
	get_list = (CK_C_GetFunctionList)compat_dlsym(b->dl, "C_GetFunctionList");
	if (get_list == NULL) {
		p11_message("backend: %s does not export C_GetFunctionList: not a PKCS#11 module "
		            "(set by %s)", b->path, b->source);
		rv = CKR_GENERAL_ERROR;
		goto fail;
	}
	rv = get_list(&list);
	if (rv != CKR_OK || list == NULL) {
		p11_message("backend: %s: C_GetFunctionList failed (0x%lx)", b->path,
		            (unsigned long)rv);
		rv = CKR_GENERAL_ERROR;
		goto fail;
	}
	memcpy(&b->funcs, list, sizeof(b->funcs));
	if (b->funcs.C_Initialize == NULL) {
		p11_message("backend: %s has no C_Initialize", b->path);
		rv = CKR_GENERAL_ERROR;
		goto fail;
	}
	/* The client's locking arguments pass on unchanged (PKCS#11 5.4). */
	rv = b->funcs.C_Initialize(init_args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && b->after_fork && b->funcs.C_Finalize != NULL) {
		/*
		 * A forked child holds a copy of the parent's initialised module
		 * (dlopen returns the same mapping). PKCS#11 6.7.7 wants the
		 * child to initialise anew; a module that keeps a static
		 * instance (SoftHSM2) says ALREADY_INITIALIZED, so the child's
		 * copy is finalised first, as p11-kit does after fork.
		 */
		p11_note("backend: forked child: finalising the parent's copy of the module first");
		b->funcs.C_Finalize(NULL);
		rv = b->funcs.C_Initialize(init_args);
	}
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED && atomic_load(&left_initialised) &&
	    b->funcs.C_Finalize != NULL) {
		/*
		 * The module's last C_Finalize failed, so it may still be
		 * initialised (the shim finalised itself all the same: a client
		 * must be able to start again). Finalise it once more; if it
		 * still says ALREADY_INITIALIZED, it is initialised: use it.
		 */
		b->funcs.C_Finalize(NULL);
		rv = b->funcs.C_Initialize(init_args);
		if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			p11_note("backend: %s stayed initialised after its failed C_Finalize; used as it is",
			         b->path);
			rv = CKR_OK;
		}
	}
	if (rv != CKR_OK)
		goto fail;
	atomic_store(&left_initialised, false);
	return CKR_OK;
fail:
	memset(&b->funcs, 0, sizeof(b->funcs));
	compat_dlclose(b->dl);
	b->dl = NULL;
	return rv;
}

static CK_RV unload_C_Finalize(p11_layer *self, CK_VOID_PTR reserved)
{
	backend *b = self->data;
	CK_RV rv;

	if (b->funcs.C_Finalize == NULL)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	rv = b->funcs.C_Finalize(reserved);
	if (rv == CKR_ARGUMENTS_BAD)
		return rv; /* the client's mistake (pReserved): still initialised */
	if (rv != CKR_OK) {
		/*
		 * The shim finalises all the same (src/core/entry.c), or the
		 * client could never initialise again. The module may still be
		 * initialised: it stays loaded, and the next C_Initialize
		 * knows (left_initialised).
		 */
		p11_note("backend: C_Finalize failed; the shim is finalised all the same and the module "
		         "stays loaded");
		atomic_store(&left_initialised, true);
		memset(&b->funcs, 0, sizeof(b->funcs));
		b->dl = NULL;
		return rv;
	}
	memset(&b->funcs, 0, sizeof(b->funcs));
	compat_dlclose(b->dl);
	b->dl = NULL;
	return CKR_OK;
}

static const p11_ops backend_ops = {
#define P11FN(name, ...) .C_##name = backend_C_##name,
#define P11FN_SPECIAL(name, ...)
#define P11FN_LIFE(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_LIFE
	.C_Initialize = load_C_Initialize,
	.C_Finalize = unload_C_Finalize,
};

static void backend_destroy(p11_layer *self)
{
	backend *b = self->data;

	/* Reached without C_Finalize only when the client forked or failed
	 * init; the module stays loaded rather than pulling code from under
	 * a client that may still hold pointers into it. */
	free(b);
}

const char *p11_backend_path(const p11_layer *self)
{
	const backend *b = self->data;

	return b->path;
}

CK_FUNCTION_LIST *p11_backend_functions(p11_layer *self)
{
	backend *b = self->data;

	return &b->funcs;
}

p11_key p11_backend_key(const p11_config *cfg)
{
#if defined(_WIN32)
	/* The per-platform key wins on its platform (DESIGN.md, backend). */
	p11_key own = sizeof(void *) == 4 ? P11_KEY_LIBRARY_WIN32 : P11_KEY_LIBRARY_WIN64;
	if (p11_config_raw(cfg, own, NULL, NULL, NULL)[0] != '\0')
		return own;
#else
	(void)cfg;
#endif
	return P11_KEY_LIBRARY;
}

p11_layer *p11_backend_layer_new(p11_shim_ctx *ctx, char *err, size_t errlen)
{
	const p11_config *cfg = ctx->cfg;
	p11_key key = p11_backend_key(cfg);
	p11_origin origin;
	const char *path, *file;
	unsigned line;
	p11_layer *layer;
	backend *b;

	path = p11_config_raw(cfg, key, &origin, &file, &line);
	layer = calloc(1, sizeof(*layer));
	b = calloc(1, sizeof(*b));
	if (layer == NULL || b == NULL) {
		free(layer);
		free(b);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->after_fork = ctx->after_fork;
	b->key = p11_config_name(key);
	if (origin == P11_ORIGIN_ENV)
		snprintf(b->source, sizeof(b->source), "P11SHIM_LIBRARY");
	else
		snprintf(b->source, sizeof(b->source), "%s:%u [backend] %s", file ? file : "?", line,
		         b->key);
	layer->name = "backend";
	layer->ops = &backend_ops;
	layer->data = b;
	layer->destroy = backend_destroy;
	return layer;
}

void p11_layer_free(p11_layer *layer)
{
	if (layer == NULL)
		return;
	if (layer->destroy)
		layer->destroy(layer);
	free(layer);
}
