/*
 * The bottom layer: loads the real module and forwards every function to it.
 *
 * The module is loaded in C_Initialize, after its file header was checked
 * against the shim's word size and machine (Nexus's Personal integration
 * guide: a 64-bit DLL cannot initialise cards). After its C_Finalize it
 * stays loaded (p11-kit keeps its modules so too; PKCS#11 allows
 * C_Initialize again on a finalised module): a client that initialises per
 * job would otherwise pay the loader, the relocations and the checks at
 * every C_Initialize, several times what the backend's own C_Initialize
 * costs. The next C_Initialize takes it again while the path and the file
 * (device, number, size, times) are the same; otherwise the old one is
 * unloaded and the file checked and loaded anew. Its function list is
 * copied into a zeroed struct: we never write to backend memory and do
 * not trust its version field (pkcs11-spy.c init_spy).
 *
 * PKCS#11 3.0: a module that answers C_GetInterface("PKCS 11", {3, 0})
 * gives its CK_FUNCTION_LIST_3_0, copied whole; any other module's 2.40
 * list is copied and its 3.0 entries stay NULL, "not supported".
 */
#include "config.h"

#include "p11-shim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"
#include "p11-security.h"

/*
 * The module kept loaded after C_Finalize, for the next C_Initialize. Used
 * under entry.c's COMPAT_GLOBAL_INIT only. A forked child inherits it as it
 * is: the parent had finalised it.
 */
static struct {
	void *dl;
	char path[4096];
	compat_file_id id;
} parked;

/* The module's last C_Finalize failed: it may still be initialised. */
static atomic_bool left_initialised;

typedef struct {
	char path[4096];
	compat_file_id id; /* of the file when it was loaded */
	const char *key;   /* the config key that names the module */
	char source[600];  /* where the path was set, for messages */
	void *dl;
	bool after_fork;            /* loaded in a forked child of an initialised parent */
	bool v3;                    /* the module offers "PKCS 11" 3.0 */
	CK_FUNCTION_LIST_3_0 funcs; /* our copy; 3.0 entries NULL for a 2.40 module */
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
#include "p11fn-forward.def"

static const CK_VERSION v3_0 = { 3, 0 };

/* The module's "PKCS 11" 3.0 function list, or NULL (a 2.40 module). */
static const CK_FUNCTION_LIST_3_0 *interface_v3(void *dl)
{
	CK_C_GetInterface get = (CK_C_GetInterface)compat_dlsym(dl, "C_GetInterface");
	CK_VERSION want = v3_0;
	CK_INTERFACE_PTR iface = NULL;
	const CK_VERSION *got;

	if (get == NULL || get((CK_UTF8CHAR_PTR) "PKCS 11", &want, &iface, 0) != CKR_OK ||
	    iface == NULL || iface->pFunctionList == NULL)
		return NULL;
	got = iface->pFunctionList;
	return got->major == 3 ? iface->pFunctionList : NULL;
}

/* A note for each interface of the module that the shim does not offer. */
static void note_other_interfaces(void *dl, const char *path)
{
	CK_C_GetInterfaceList list = (CK_C_GetInterfaceList)compat_dlsym(dl, "C_GetInterfaceList");
	CK_INTERFACE ifs[16];
	CK_ULONG i, n = sizeof(ifs) / sizeof(ifs[0]);

	if (list == NULL || list(ifs, &n) != CKR_OK)
		return;
	for (i = 0; i < n; i++) {
		const CK_VERSION *v = ifs[i].pFunctionList;
		const char *name = ifs[i].pInterfaceName ? (const char *)ifs[i].pInterfaceName : "";
		if (strcmp(name, "PKCS 11") == 0 && v != NULL &&
		    (v->major == 3 || (v->major == 2 && v->minor == 40)))
			continue;
		p11_note("backend: %s offers the interface '%.64s' %u.%u, which the shim does not "
		         "offer: only \"PKCS 11\" 3.0 and 2.40 pass through the layers and the trace",
		         path, name, v ? v->major : 0, v ? v->minor : 0);
	}
}

static CK_RV load_C_Initialize(p11_layer *self, CK_VOID_PTR init_args)
{
	backend *b = self->data;
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR list = NULL;
	const CK_FUNCTION_LIST_3_0 *v3;
	char why[512], trust[1024];
	CK_RV rv;

	if (b->path[0] == '\0') {
		p11_event(P11_EV_BACKEND_REFUSED, P11_NO_SLOT,
		          "backend: no PKCS#11 module configured; set [backend] %s in the "
		          "configuration file, or P11SHIM_LIBRARY",
		          b->key);
		return CKR_GENERAL_ERROR;
	}
	if (parked.dl != NULL) {
		compat_file_id now;
		if (strcmp(parked.path, b->path) == 0 && compat_file_id_of(b->path, &now) &&
		    compat_file_same(&now, &parked.id)) {
			/* The same file, checked when it was loaded: taken again. */
			b->dl = parked.dl;
			b->id = parked.id;
			parked.dl = NULL;
			goto loaded;
		}
		/* Another path, or the file was replaced or changed: loaded anew. */
		compat_dlclose(parked.dl);
		parked.dl = NULL;
	}
	/* Before the checks: a file replaced after them is loaded anew next time. */
	compat_file_id_of(b->path, &b->id);
	/* Code another user can change is that user's code. */
	if (p11_file_trusted(b->path, "backend library", trust, sizeof(trust)) == P11_TRUST_REFUSED) {
		p11_event(P11_EV_BACKEND_REFUSED, P11_NO_SLOT, "backend: %s (set by %s)", trust,
		          b->source);
		return CKR_GENERAL_ERROR;
	}
	if (compat_check_module_file(b->path, why, sizeof(why)) != 0) {
		p11_event(P11_EV_BACKEND_REFUSED, P11_NO_SLOT,
		          "backend: cannot load %s: %s (set by %s)", b->path, why, b->source);
		return CKR_GENERAL_ERROR;
	}
	b->dl = compat_dlopen(b->path, why, sizeof(why));
	if (b->dl == NULL) {
		p11_event(P11_EV_BACKEND_REFUSED, P11_NO_SLOT, "backend: %s: %s (set by %s)",
		          b->path, why, b->source);
		return CKR_GENERAL_ERROR;
	}
loaded:
	get_list = (CK_C_GetFunctionList)compat_dlsym(b->dl, "C_GetFunctionList");
	if (get_list == NULL) {
		p11_event(P11_EV_BACKEND_REFUSED, P11_NO_SLOT,
		          "backend: %s does not export C_GetFunctionList: not a PKCS#11 module "
		          "(set by %s)",
		          b->path, b->source);
		rv = CKR_GENERAL_ERROR;
		goto fail;
	}
	rv = get_list(&list);
	if (rv != CKR_OK || list == NULL) {
		p11_event(P11_EV_BACKEND_REFUSED, P11_NO_SLOT,
		          "backend: %s: C_GetFunctionList failed (0x%lx)", b->path,
		          (unsigned long)rv);
		rv = CKR_GENERAL_ERROR;
		goto fail;
	}
	memset(&b->funcs, 0, sizeof(b->funcs));
	memcpy(&b->funcs, list, sizeof(*list));
	v3 = interface_v3(b->dl);
	if (v3 != NULL)
		memcpy(&b->funcs, v3, sizeof(*v3));
	b->v3 = v3 != NULL;
	note_other_interfaces(b->dl, b->path);
	if (b->funcs.C_Initialize == NULL) {
		p11_event(P11_EV_BACKEND_REFUSED, P11_NO_SLOT, "backend: %s has no C_Initialize",
		          b->path);
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
	b->v3 = false;
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
	/* Kept for the next C_Initialize (see the top of this file). */
	if (parked.dl != NULL)
		compat_dlclose(parked.dl);
	parked.dl = b->dl;
	parked.id = b->id;
	snprintf(parked.path, sizeof(parked.path), "%s", b->path);
	b->dl = NULL;
	return CKR_OK;
}

static const p11_ops backend_ops = {
#define P11FN(name, ...) .C_##name = backend_C_##name,
#include "p11fn-forward.def"
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

	/* Another bottom layer (the unit tests' mock backend) loads no file. */
	if (self->ops != &backend_ops)
		return "";
	return b->path;
}

CK_FUNCTION_LIST *p11_backend_functions(p11_layer *self)
{
	backend *b = self->data;

	/* The 2.40 part: CK_FUNCTION_LIST_3_0 begins with it. */
	return (CK_FUNCTION_LIST *)&b->funcs;
}

bool p11_backend_has_v3(const p11_layer *self)
{
	const backend *b = self->data;

	return b->v3;
}

/* -1 not asked yet, else 0 or 1: the answer of the first probe. */
static atomic_int probed = -1;

bool p11_backend_probe_v3(void)
{
	p11_config_sources src;
	p11_config *cfg = NULL;
	char userconf[4096], err[1024];
	const char *path;
	void *dl = NULL;
	int v3 = atomic_load(&probed);

	if (v3 >= 0)
		return v3 == 1;
	v3 = 0;
	/*
	 * Before C_Initialize: the module is loaded with the checks
	 * C_Initialize makes (a refused one stays unloaded: C_Initialize says
	 * why) and asked; C_GetInterface* may be called before C_Initialize
	 * (3.0 section 5.4), never its other functions. It stays loaded:
	 * C_Initialize's load then finds the same mapping, and no module's
	 * unload code runs before it was ever initialised.
	 */
	p11_config_default_sources(&src, userconf, sizeof(userconf));
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL)
		goto out;
	path = p11_config_raw(cfg, p11_backend_key(cfg), NULL, NULL, NULL);
	if (path[0] == '\0' ||
	    p11_file_trusted(path, "backend library", err, sizeof(err)) == P11_TRUST_REFUSED ||
	    compat_check_module_file(path, err, sizeof(err)) != 0)
		goto out;
	dl = compat_dlopen(path, err, sizeof(err));
	if (dl != NULL && interface_v3(dl) != NULL)
		v3 = 1;
out:
	p11_config_free(cfg);
	atomic_store(&probed, v3);
	return v3 == 1;
}

p11_key p11_backend_key(const p11_config *cfg)
{
	/* The per-platform key wins on its platform: one configuration serves
	 * the 32-bit and the 64-bit DLL of a station, each naming its module. */
	p11_key own = sizeof(void *) == 4 ? P11_KEY_LIBRARY_WIN32 : P11_KEY_LIBRARY_WIN64;

	if (COMPAT_WINDOWS && p11_config_raw(cfg, own, NULL, NULL, NULL)[0] != '\0')
		return own;
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
		snprintf(b->source, sizeof(b->source), "%s:%u [backend] %s", file ? file : "?",
		         line, b->key);
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
