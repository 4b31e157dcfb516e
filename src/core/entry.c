/*
 * The exported PKCS#11 entry points.
 *
 * Every C_* is generated from p11fn.def: before C_Initialize (or in a
 * forked child that has not called it) the answer is
 * CKR_CRYPTOKI_NOT_INITIALIZED, without reading any argument; otherwise the
 * call goes to the top of the stack. C_Initialize builds the stack from the
 * configuration; C_Finalize tears it down.
 */
#include "config.h"

#include "p11-shim.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-compat.h"

#define P11SHIM_EXPORT __attribute__((visibility("default")))

#define MAX_LAYERS 8

static struct {
	atomic_int ready;          /* 1 between a good C_Initialize and C_Finalize */
	atomic_ulong calls_before; /* calls answered CKR_CRYPTOKI_NOT_INITIALIZED */
	_Atomic(const char *) first_before;
	p11_dispatch top; /* resolved entry per function */
	p11_layer *layers[MAX_LAYERS];
	size_t n_layers;
	p11_config *cfg;
	p11_shim_ctx ctx;
} shim;

/* C_Initialize and C_Finalize must not race each other (PKCS#11 5.4 leaves
 * it to the application, but a second thread calling C_Initialize is common):
 * they hold COMPAT_GLOBAL_INIT. */

static inline int ready(void)
{
	return atomic_load_explicit(&shim.ready, memory_order_acquire) &&
	       compat_fork_guard_same_process();
}

/*
 * The layers go; the configuration stays for the next C_Initialize, which
 * reads it again only when a file or variable it came from changed
 * (p11_config_unchanged): a client that initialises per job pays one stat
 * per file instead of the parse and the trust checks.
 */
static void teardown(void)
{
	size_t i;

	for (i = 0; i < shim.n_layers; i++)
		p11_layer_free(shim.layers[i]);
	shim.n_layers = 0;
	memset(&shim.top, 0, sizeof(shim.top));
	memset(&shim.ctx, 0, sizeof(shim.ctx));
}

/*
 * The module is unloaded (compat_at_unload): what C_Finalize kept for the
 * next C_Initialize goes, the configuration and the open trace file. The
 * backend module stays loaded, as the loader leaves it at exit: unloading
 * it would run its code from within ours, under the loader's lock.
 * Nothing is freed while the shim is initialised (a client that unloads
 * or exits without C_Finalize: other threads may still be in a call that
 * uses it) or while another thread is in C_Initialize or C_Finalize (at
 * exit on POSIX): the lock is tried, never waited for.
 */
static void free_kept(void)
{
	if (!compat_global_timedlock(COMPAT_GLOBAL_INIT, 0))
		return;
	if (!atomic_load(&shim.ready)) {
		p11_config_free(shim.cfg);
		shim.cfg = NULL;
		p11_trace_free_kept();
	}
	compat_global_unlock(COMPAT_GLOBAL_INIT);
}

static CK_RV build_stack(bool after_fork, CK_VOID_PTR init_args)
{
	p11_config_sources src;
	char userconf[4096], err[1024];
	p11_layer *layer;
	size_t i;

	p11_config_default_sources(&src, userconf, sizeof(userconf));
	/* Until this configuration is read, [log] System has its default. */
	p11_event_configure(NULL);
	if (!p11_config_unchanged(shim.cfg, &src)) {
		p11_config_free(shim.cfg);
		shim.cfg = p11_config_load(&src, err, sizeof(err));
		if (shim.cfg == NULL) {
			p11_event(P11_EV_CONFIG_REFUSED, P11_NO_SLOT, "config: %s", err);
			return CKR_GENERAL_ERROR;
		}
	}
	p11_event_configure(shim.cfg);
	shim.ctx.cfg = shim.cfg;
	shim.ctx.after_fork = after_fork;
	/* Read as any module reads them; the backend checks the rest. */
	shim.ctx.init_flags = init_args ? ((CK_C_INITIALIZE_ARGS *)init_args)->flags : 0;
	shim.ctx.calls_before = atomic_load(&shim.calls_before);
	shim.ctx.first_before = atomic_load(&shim.first_before);
	for (i = 0; i < p11_stack_order_len; i++) {
		err[0] = '\0';
		layer = p11_stack_order[i](&shim.ctx, err, sizeof(err));
		if (layer == NULL && err[0] == '\0')
			continue; /* switched off */
		if (layer == NULL) {
			/* Without a trace the calls go on; any other layer must work. */
			if (p11_stack_order[i] == p11_trace_layer_new) {
				p11_event(P11_EV_ERROR, P11_NO_SLOT, "%s", err);
				continue;
			}
			p11_event(P11_EV_CONFIG_REFUSED, P11_NO_SLOT, "%s", err);
			return CKR_GENERAL_ERROR;
		}
		shim.layers[shim.n_layers++] = layer;
	}
	shim.ctx.backend = shim.layers[shim.n_layers - 1];
	if (p11_stack_build(shim.layers, shim.n_layers, &shim.top) != 0) {
		p11_message("internal error: incomplete layer stack");
		return CKR_GENERAL_ERROR;
	}
	return CKR_OK;
}

P11SHIM_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	bool after_fork = false;
	CK_RV rv;

	compat_global_lock(COMPAT_GLOBAL_INIT);
	compat_at_unload(free_kept);
	if (atomic_load(&shim.ready)) {
		if (compat_fork_guard_same_process()) {
			rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
			if (shim.n_layers > 0)
				p11_trace_lone_initialize(shim.layers[0], pInitArgs, rv);
			goto out;
		}
		/*
		 * A forked child (PKCS#11 6.7.7: it must call C_Initialize). The
		 * parent's layers are dropped without calling the backend, whose
		 * state belongs to the parent; the backend is initialised anew.
		 */
		atomic_store(&shim.ready, 0);
		teardown();
		after_fork = true;
	}
	rv = build_stack(after_fork, pInitArgs);
	if (rv == CKR_OK)
		rv = shim.top.C_Initialize.fn(shim.top.C_Initialize.layer, pInitArgs);
	if (rv != CKR_OK) {
		teardown();
		goto out;
	}
	compat_fork_guard_arm();
	atomic_store(&shim.calls_before, 0);
	atomic_store(&shim.first_before, NULL);
	atomic_store_explicit(&shim.ready, 1, memory_order_release);
out:
	compat_global_unlock(COMPAT_GLOBAL_INIT);
	return rv;
}

P11SHIM_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	CK_RV rv;

	compat_global_lock(COMPAT_GLOBAL_INIT);
	if (!ready()) {
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		goto out;
	}
	rv = shim.top.C_Finalize.fn(shim.top.C_Finalize.layer, pReserved);
	/*
	 * A backend's C_Finalize that fails must not leave the shim
	 * initialised for good (the client could never initialise again):
	 * the failure is passed on, and the shim is finalised all the same.
	 * Only a bad pReserved, the client's mistake, leaves it as it was.
	 */
	if (rv == CKR_ARGUMENTS_BAD)
		goto out;
	atomic_store_explicit(&shim.ready, 0, memory_order_release);
	compat_fork_guard_disarm();
	teardown();
out:
	compat_global_unlock(COMPAT_GLOBAL_INIT);
	return rv;
}

/*
 * A call before C_Initialize: counted (not traced: there is no
 * configuration yet, so no trace), and said in the trace's C_Initialize
 * record.
 */
static CK_RV not_initialized(const char *name)
{
	const char *none = NULL;

	atomic_fetch_add_explicit(&shim.calls_before, 1, memory_order_relaxed);
	atomic_compare_exchange_strong(&shim.first_before, &none, name);
	return CKR_CRYPTOKI_NOT_INITIALIZED;
}

/* Every other function: one generated forwarder, v2.40 and 3.0 alike. */
#define P11FN(name, ...)                                                                     \
	P11SHIM_EXPORT CK_RV C_##name(P11_PARAMS(__VA_ARGS__));                              \
	P11SHIM_EXPORT CK_RV C_##name(P11_PARAMS(__VA_ARGS__))                               \
	{                                                                                    \
		if (!ready())                                                                \
			return not_initialized("C_" #name);                                  \
		return shim.top.C_##name.fn(shim.top.C_##name.layer, P11_ARGS(__VA_ARGS__)); \
	}
#include "p11fn-forward.def"

P11SHIM_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount);
P11SHIM_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                    CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags);

/* C_GetFunctionList's answer: v2.40, whatever the backend (a 2.40 client's view). */
static CK_FUNCTION_LIST function_list = {
	{ 2, 40 },
#define P11FN(name, ...) C_##name,
#define P11FN_SPECIAL(name, ...) C_##name,
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
};

/* The "PKCS 11" 3.0 interface, offered only when the backend offers it. */
static CK_FUNCTION_LIST_3_0 function_list_3_0 = {
	{ 3, 0 },
#define P11FN(name, ...) C_##name,
#define P11FN_SPECIAL(name, ...) C_##name,
#define P11FN_V3 P11FN
#define P11FN_SPECIAL_V3 P11FN_SPECIAL
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
#undef P11FN_SPECIAL_V3
};

P11SHIM_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (ppFunctionList == NULL)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &function_list;
	return CKR_OK;
}

/*
 * PKCS#11 3.0 section 5.4: pkcs11-tool 0.23 and NSS ask for interfaces
 * first, usually before C_Initialize. The shim offers "PKCS 11" 3.0 (first:
 * the preferred one) and 2.40 when the backend offers "PKCS 11" 3.0, else
 * "PKCS 11" 2.40 alone, so that a 3.0 client keeps to 2.40 calls. Interfaces
 * the shim does not understand (vendor ones, such as NSS's) are never
 * offered: their functions would bypass the layers and the trace.
 */
static CK_INTERFACE interfaces[] = {
	{ (CK_UTF8CHAR *)"PKCS 11", &function_list_3_0, 0 },
	{ (CK_UTF8CHAR *)"PKCS 11", &function_list, 0 },
};

/* The interfaces on offer: from interfaces + *first, *n of them. */
static void offered(size_t *first, CK_ULONG *n)
{
	bool v3;

	if (ready())
		v3 = p11_backend_has_v3(shim.ctx.backend);
	else
		v3 = p11_backend_probe_v3();
	*first = v3 ? 0 : 1;
	*n = v3 ? 2 : 1;
}

P11SHIM_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
	size_t first;
	CK_ULONG n;

	if (pulCount == NULL)
		return CKR_ARGUMENTS_BAD;
	offered(&first, &n);
	if (pInterfacesList == NULL) {
		*pulCount = n;
		return CKR_OK;
	}
	if (*pulCount < n) {
		*pulCount = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(pInterfacesList, &interfaces[first], n * sizeof(interfaces[0]));
	*pulCount = n;
	return CKR_OK;
}

P11SHIM_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                    CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
	size_t first, i;
	CK_ULONG n;

	if (ppInterface == NULL)
		return CKR_ARGUMENTS_BAD;
	if (pInterfaceName != NULL && strcmp((const char *)pInterfaceName, "PKCS 11") != 0)
		return CKR_ARGUMENTS_BAD;
	/* The shim is fork-safe only in the PKCS#11 sense: the child calls C_Initialize. */
	if (flags & CKF_INTERFACE_FORK_SAFE)
		return CKR_ARGUMENTS_BAD;
	offered(&first, &n);
	/* No version: the first, preferred one (3.0 section 5.4.2). */
	for (i = first; i < first + n; i++) {
		const CK_VERSION *v = (const CK_VERSION *)interfaces[i].pFunctionList;
		if (pVersion == NULL || (pVersion->major == v->major && pVersion->minor == v->minor)) {
			*ppInterface = &interfaces[i];
			return CKR_OK;
		}
	}
	return CKR_ARGUMENTS_BAD;
}
