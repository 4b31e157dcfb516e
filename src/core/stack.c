/*
 * Stack building: resolve, per function, which layer handles it below each
 * layer (p11-layer.h). Done once at C_Initialize; calls then follow the
 * resolved pointers with no per-call search.
 */
#include "config.h"

#include "p11-layer.h"
#include "p11-shim.h"

#include <stddef.h>

/*
 * A 3.0 function that no layer down to the bottom implements (a test
 * double of v2.40 only): not supported, as a 2.40 backend's answer would be.
 */
#define P11FN(name, ...)
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3(name, ...)                                                         \
	static CK_RV unsupported_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__)) \
	{                                                                           \
		unused(self, P11_ARGS(__VA_ARGS__));                                \
		return CKR_FUNCTION_NOT_SUPPORTED;                                  \
	}
static void unused(const void *self, ...)
{
	(void)self;
}
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3

static void resolve(p11_dispatch *d, const p11_layer *below)
{
#define P11FN(name, ...)                                \
	if (below->ops->C_##name) {                     \
		d->C_##name.fn = below->ops->C_##name;  \
		d->C_##name.layer = (p11_layer *)below; \
	} else {                                        \
		d->C_##name = below->next.C_##name;     \
	}
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3(name, ...)                             \
	P11FN(name, __VA_ARGS__)                        \
	if (d->C_##name.fn == NULL) {                   \
		d->C_##name.fn = unsupported_C_##name;  \
		d->C_##name.layer = (p11_layer *)below; \
	}
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
}

/* Every function of the bottom layer's table is set. */
static int bottom_complete(const p11_ops *ops)
{
#define P11FN(name, ...)           \
	if (ops->C_##name == NULL) \
		return 0;
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
	return 1;
}

static int complete(const p11_dispatch *d)
{
#define P11FN(name, ...)            \
	if (d->C_##name.fn == NULL) \
		return 0;
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
	return 1;
}

int p11_stack_build(p11_layer **layers, size_t n, p11_dispatch *top)
{
	p11_dispatch empty = { 0 };
	size_t i;

	/* Checking the bottom, not only the top: a layer's P11_NEXT to a
	 * function nobody below implements would call NULL. */
	if (n == 0 || !bottom_complete(layers[n - 1]->ops))
		return -1;
	layers[n - 1]->next = empty;
	for (i = n - 1; i > 0; i--)
		resolve(&layers[i - 1]->next, layers[i]);
	resolve(top, layers[0]);
	return complete(top) ? 0 : -1;
}

/*
 * The stack, outermost first: the trace records what the client asked and
 * got; each policy overrides only its functions; the middleware layer checks
 * the middleware's own files at C_Initialize; the backend is the real module.
 * entry.c builds it; the unit tests build the same order over the mock
 * backend (tests/mock/mock-stack.c).
 */
const p11_layer_ctor p11_stack_order[] = {
	p11_trace_layer_new,   p11_eraser_layer_new,     p11_serial_layer_new,  p11_login_layer_new,
	p11_readers_layer_new, p11_middleware_layer_new, p11_backend_layer_new,
};
const size_t p11_stack_order_len = sizeof(p11_stack_order) / sizeof(p11_stack_order[0]);

static const char *const fn_names[P11_FN_COUNT] = {
#define P11FN(name, ...) "C_" #name,
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3 P11FN
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
};

const char *p11_fn_name(unsigned fn)
{
	return fn < P11_FN_COUNT ? fn_names[fn] : "C_?";
}
