/*
 * Layers: the shape every part of the forwarding chain shares (after
 * p11-kit's CK_X_FUNCTION_LIST).
 *
 * A layer is a table of the PKCS#11 functions it overrides, each taking the
 * layer first; a NULL entry falls through. When the stack is built, each
 * layer's `next` is resolved per function to the nearest layer below that
 * implements it, so a layer that does not override a function costs nothing
 * on that function's path.
 *
 * All of it is generated from include/p11fn.def: the argument kinds of
 * include/p11kinds.def expand here to parameter declarations (P11_DECL) and
 * argument lists (P11_ARGS).
 */
#ifndef P11_LAYER_H
#define P11_LAYER_H

#include "p11-pkcs11.h"

/*
 * The argument kinds: each A_KIND(names) of p11fn.def becomes the tuple of
 * its line in p11kinds.def, and the code that needs one column selects it.
 */
#define P11K(...) (__VA_ARGS__)
#include "p11kinds.def"

#define P11_CAT_(a, b) a##b
#define P11_CAT(a, b) P11_CAT_(a, b)
#define P11_UNPAREN(...) __VA_ARGS__
#define P11_KIND_(k, decl, tin, tout, tif, slot, bad, ...) k
#define P11_DECL_(k, decl, tin, tout, tif, slot, bad, ...) P11_UNPAREN decl
#define P11_TRACE_IN_(k, decl, tin, tout, tif, slot, bad, ...) P11_UNPAREN tin
#define P11_TRACE_OUT_(k, decl, tin, tout, tif, slot, bad, ...) P11_UNPAREN tout
#define P11_IN_FLIGHT_(k, decl, tin, tout, tif, slot, bad, ...) tif
#define P11_SLOT_GATE_(k, decl, tin, tout, tif, slot, bad, ...) P11_SLOT_GATE__ slot
#define P11_SLOT_GATE__(is_slot, s) is_slot
#define P11_SLOT_NAME_(k, decl, tin, tout, tif, slot, bad, ...) P11_SLOT_NAME__ slot
#define P11_SLOT_NAME__(is_slot, s) s
#define P11_BAD_(k, decl, tin, tout, tif, slot, bad, ...) P11_UNPAREN bad
#define P11_NAMES_(k, decl, tin, tout, tif, slot, bad, ...) __VA_ARGS__

/* The columns of one argument tuple t (p11kinds.def says what each holds). */
#define P11_KIND(t) P11_KIND_ t           /* SLOT */
#define P11_DECL(t) P11_DECL_ t           /* CK_SLOT_ID slotID */
#define P11_TRACE_IN(t) P11_TRACE_IN_ t   /* tf_ulong(tb, "slotID", slotID) */
#define P11_TRACE_OUT(t) P11_TRACE_OUT_ t /* ((void)(slotID)) */
#define P11_IN_FLIGHT(t) P11_IN_FLIGHT_ t /* (call.id_kind = P11_INFLIGHT_SLOT, ...) */
#define P11_SLOT_GATE(t) P11_SLOT_GATE_ t /* 1 */
#define P11_SLOT_NAME(t) P11_SLOT_NAME_ t /* slotID */
#define P11_BAD(t) P11_BAD_ t             /* P11_BAD_ULONG */
#define P11_NAMES(t) P11_NAMES_ t         /* slotID */

/* Marks 1 to 3 names used: the trace column of a kind with nothing to show. */
#define P11_UNUSED(...) P11_UNUSED_(P11_NARG(__VA_ARGS__), __VA_ARGS__)
#define P11_UNUSED_(n, ...) P11_UNUSED__(n, __VA_ARGS__)
#define P11_UNUSED__(n, ...) P11_UNUSED##n(__VA_ARGS__)
#define P11_UNUSED1(a) ((void)(a))
#define P11_UNUSED2(a, b) ((void)(a), (void)(b))
#define P11_UNUSED3(a, b, c) ((void)(a), (void)(b), (void)(c))

/* P11_MAP(F, sep, tuples...): F applied to each tuple, joined by sep() (at most 8). */
#define P11_COMMA() ,
#define P11_SEMI() ;
#define P11_NARG_(_1, _2, _3, _4, _5, _6, _7, _8, n, ...) n
#define P11_NARG(...) P11_NARG_(__VA_ARGS__, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define P11_MAP1(F, s, a) F(a)
#define P11_MAP2(F, s, a, ...) F(a) s() P11_MAP1(F, s, __VA_ARGS__)
#define P11_MAP3(F, s, a, ...) F(a) s() P11_MAP2(F, s, __VA_ARGS__)
#define P11_MAP4(F, s, a, ...) F(a) s() P11_MAP3(F, s, __VA_ARGS__)
#define P11_MAP5(F, s, a, ...) F(a) s() P11_MAP4(F, s, __VA_ARGS__)
#define P11_MAP6(F, s, a, ...) F(a) s() P11_MAP5(F, s, __VA_ARGS__)
#define P11_MAP7(F, s, a, ...) F(a) s() P11_MAP6(F, s, __VA_ARGS__)
#define P11_MAP8(F, s, a, ...) F(a) s() P11_MAP7(F, s, __VA_ARGS__)
#define P11_MAP(F, s, ...) P11_CAT(P11_MAP, P11_NARG(__VA_ARGS__))(F, s, __VA_ARGS__)

/* The parameter list and the argument list of one function. */
#define P11_PARAMS(...) P11_MAP(P11_DECL, P11_COMMA, __VA_ARGS__)
#define P11_ARGS(...) P11_MAP(P11_NAMES, P11_COMMA, __VA_ARGS__)

typedef struct p11_layer p11_layer;

/* The functions a layer overrides; NULL falls through. */
typedef struct p11_ops {
#define P11FN(name, ...) CK_RV (*C_##name)(p11_layer * self, P11_PARAMS(__VA_ARGS__));
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3 P11FN
#define P11FN_SPECIAL_V3 P11FN_SPECIAL
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
#undef P11FN_SPECIAL_V3
} p11_ops;

/* Per function: who implements it below a layer. */
typedef struct p11_dispatch {
#define P11FN(name, ...)                                                \
	struct {                                                        \
		CK_RV (*fn)(p11_layer * self, P11_PARAMS(__VA_ARGS__)); \
		p11_layer *layer;                                       \
	} C_##name;
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3 P11FN
#define P11FN_SPECIAL_V3 P11FN_SPECIAL
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
#undef P11FN_SPECIAL_V3
} p11_dispatch;

struct p11_layer {
	const char *name; /* "trace", "readers", ..., "backend" */
	const p11_ops *ops;
	p11_dispatch next;                /* resolved by p11_stack_build */
	void *data;                       /* the layer's own state */
	void (*destroy)(p11_layer *self); /* frees data; may be NULL */
};

/* Call the next implementation below `self`. */
#define P11_NEXT(self, name, ...) \
	((self)->next.C_##name.fn((self)->next.C_##name.layer, __VA_ARGS__))

/*
 * Index of each forwarded function (p11fn.def minus C_GetFunctionList,
 * C_GetInterfaceList and C_GetInterface): the v2.40 ones, then from
 * P11_FN_V3_FIRST the 3.0 ones.
 */
enum {
#define P11FN(name, ...) P11_FN_##name,
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3 P11FN
#define P11FN_SPECIAL_V3 P11FN_SPECIAL
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
#undef P11FN_SPECIAL_V3
	P11_FN_COUNT,
	P11_FN_V3_FIRST = P11_FN_LoginUser
};

/*
 * Build a stack: layers[0] is the top, layers[n - 1] the bottom, which must
 * implement every v2.40 function (a 3.0 function the bottom lacks answers
 * CKR_FUNCTION_NOT_SUPPORTED). Fills each layer's `next` and *top.
 * Returns 0, or -1 when the bottom layer leaves a function unimplemented.
 */
int p11_stack_build(p11_layer **layers, size_t n, p11_dispatch *top);

/* The function name "C_Login" of a P11_FN_* index. */
const char *p11_fn_name(unsigned fn);

#endif /* P11_LAYER_H */
