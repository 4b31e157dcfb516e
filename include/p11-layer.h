/*
 * Layers: the shape every part of the forwarding chain shares (DESIGN.md,
 * "Data flow"; STYLE.md section 2, after p11-kit's CK_X_FUNCTION_LIST).
 *
 * A layer is a table of the PKCS#11 functions it overrides, each taking the
 * layer first; a NULL entry falls through. When the stack is built, each
 * layer's `next` is resolved per function to the nearest layer below that
 * implements it, so a layer that does not override a function costs nothing
 * on that function's path.
 *
 * All of it is generated from include/p11fn.def: the argument kinds expand
 * here to parameter declarations (P11_DECL) and argument lists (P11_ARGS).
 */
#ifndef P11_LAYER_H
#define P11_LAYER_H

#include "p11-pkcs11.h"

/* Each A_KIND(names) of p11fn.def becomes the tuple (KIND, names). */
#define A_INIT_ARGS(...) (INIT_ARGS, __VA_ARGS__)
#define A_RESERVED(...) (RESERVED, __VA_ARGS__)
#define A_FUNCTION_LIST(...) (FUNCTION_LIST, __VA_ARGS__)
#define A_BOOL(...) (BOOL, __VA_ARGS__)
#define A_SLOT(...) (SLOT, __VA_ARGS__)
#define A_OUT_SLOT(...) (OUT_SLOT, __VA_ARGS__)
#define A_OUT_SLOTS(...) (OUT_SLOTS, __VA_ARGS__)
#define A_OUT_INFO(...) (OUT_INFO, __VA_ARGS__)
#define A_OUT_SLOT_INFO(...) (OUT_SLOT_INFO, __VA_ARGS__)
#define A_OUT_TOKEN_INFO(...) (OUT_TOKEN_INFO, __VA_ARGS__)
#define A_OUT_MECHS(...) (OUT_MECHS, __VA_ARGS__)
#define A_MECH_TYPE(...) (MECH_TYPE, __VA_ARGS__)
#define A_OUT_MECH_INFO(...) (OUT_MECH_INFO, __VA_ARGS__)
#define A_PIN(...) (PIN, __VA_ARGS__)
#define A_LABEL(...) (LABEL, __VA_ARGS__)
#define A_SESSION(...) (SESSION, __VA_ARGS__)
#define A_SESSION_FLAGS(...) (SESSION_FLAGS, __VA_ARGS__)
#define A_APP(...) (APP, __VA_ARGS__)
#define A_NOTIFY(...) (NOTIFY, __VA_ARGS__)
#define A_OUT_SESSION(...) (OUT_SESSION, __VA_ARGS__)
#define A_OUT_SESSION_INFO(...) (OUT_SESSION_INFO, __VA_ARGS__)
#define A_USER(...) (USER, __VA_ARGS__)
#define A_HANDLE(...) (HANDLE, __VA_ARGS__)
#define A_OUT_HANDLE(...) (OUT_HANDLE, __VA_ARGS__)
#define A_OUT_HANDLES(...) (OUT_HANDLES, __VA_ARGS__)
#define A_OUT_ULONG(...) (OUT_ULONG, __VA_ARGS__)
#define A_IN_ATTRS(...) (IN_ATTRS, __VA_ARGS__)
#define A_GET_ATTRS(...) (GET_ATTRS, __VA_ARGS__)
#define A_MECH(...) (MECH, __VA_ARGS__)
#define A_IN_BYTES(...) (IN_BYTES, __VA_ARGS__)
#define A_OUT_BYTES(...) (OUT_BYTES, __VA_ARGS__)
#define A_IN_SECRET(...) (IN_SECRET, __VA_ARGS__)
#define A_OUT_SECRET(...) (OUT_SECRET, __VA_ARGS__)
#define A_OUT_RANDOM(...) (OUT_RANDOM, __VA_ARGS__)
#define A_WAIT_FLAGS(...) (WAIT_FLAGS, __VA_ARGS__)
#define A_USERNAME(...) (USERNAME, __VA_ARGS__)
#define A_MSG_PARAM(...) (MSG_PARAM, __VA_ARGS__)
#define A_MSG_FLAGS(...) (MSG_FLAGS, __VA_ARGS__)
#define A_CANCEL_FLAGS(...) (CANCEL_FLAGS, __VA_ARGS__)
#define A_OUT_INTERFACES(...) (OUT_INTERFACES, __VA_ARGS__)
#define A_INTERFACE_NAME(...) (INTERFACE_NAME, __VA_ARGS__)
#define A_VERSION(...) (VERSION, __VA_ARGS__)
#define A_OUT_INTERFACE(...) (OUT_INTERFACE, __VA_ARGS__)
#define A_INTERFACE_FLAGS(...) (INTERFACE_FLAGS, __VA_ARGS__)

/* Kind -> C parameter declarations. */
#define P11_DECL_INIT_ARGS(p) CK_VOID_PTR p
#define P11_DECL_RESERVED(p) CK_VOID_PTR p
#define P11_DECL_FUNCTION_LIST(p) CK_FUNCTION_LIST_PTR_PTR p
#define P11_DECL_BOOL(b) CK_BBOOL b
#define P11_DECL_SLOT(s) CK_SLOT_ID s
#define P11_DECL_OUT_SLOT(p) CK_SLOT_ID_PTR p
#define P11_DECL_OUT_SLOTS(p, n) CK_SLOT_ID_PTR p, CK_ULONG_PTR n
#define P11_DECL_OUT_INFO(p) CK_INFO_PTR p
#define P11_DECL_OUT_SLOT_INFO(p) CK_SLOT_INFO_PTR p
#define P11_DECL_OUT_TOKEN_INFO(p) CK_TOKEN_INFO_PTR p
#define P11_DECL_OUT_MECHS(p, n) CK_MECHANISM_TYPE_PTR p, CK_ULONG_PTR n
#define P11_DECL_MECH_TYPE(t) CK_MECHANISM_TYPE t
#define P11_DECL_OUT_MECH_INFO(p) CK_MECHANISM_INFO_PTR p
#define P11_DECL_PIN(p, n) CK_UTF8CHAR_PTR p, CK_ULONG n
#define P11_DECL_LABEL(p) CK_UTF8CHAR_PTR p
#define P11_DECL_SESSION(h) CK_SESSION_HANDLE h
#define P11_DECL_SESSION_FLAGS(f) CK_FLAGS f
#define P11_DECL_APP(p) CK_VOID_PTR p
#define P11_DECL_NOTIFY(f) CK_NOTIFY f
#define P11_DECL_OUT_SESSION(p) CK_SESSION_HANDLE_PTR p
#define P11_DECL_OUT_SESSION_INFO(p) CK_SESSION_INFO_PTR p
#define P11_DECL_USER(u) CK_USER_TYPE u
#define P11_DECL_HANDLE(h) CK_OBJECT_HANDLE h
#define P11_DECL_OUT_HANDLE(p) CK_OBJECT_HANDLE_PTR p
#define P11_DECL_OUT_HANDLES(p, m, n) CK_OBJECT_HANDLE_PTR p, CK_ULONG m, CK_ULONG_PTR n
#define P11_DECL_OUT_ULONG(p) CK_ULONG_PTR p
#define P11_DECL_IN_ATTRS(t, n) CK_ATTRIBUTE_PTR t, CK_ULONG n
#define P11_DECL_GET_ATTRS(t, n) CK_ATTRIBUTE_PTR t, CK_ULONG n
#define P11_DECL_MECH(p) CK_MECHANISM_PTR p
#define P11_DECL_IN_BYTES(p, n) CK_BYTE_PTR p, CK_ULONG n
#define P11_DECL_OUT_BYTES(p, n) CK_BYTE_PTR p, CK_ULONG_PTR n
#define P11_DECL_IN_SECRET(p, n) CK_BYTE_PTR p, CK_ULONG n
#define P11_DECL_OUT_SECRET(p, n) CK_BYTE_PTR p, CK_ULONG_PTR n
#define P11_DECL_OUT_RANDOM(p, n) CK_BYTE_PTR p, CK_ULONG n
#define P11_DECL_WAIT_FLAGS(f) CK_FLAGS f
#define P11_DECL_USERNAME(p, n) CK_UTF8CHAR_PTR p, CK_ULONG n
#define P11_DECL_MSG_PARAM(p, n) CK_VOID_PTR p, CK_ULONG n
#define P11_DECL_MSG_FLAGS(f) CK_FLAGS f
#define P11_DECL_CANCEL_FLAGS(f) CK_FLAGS f
#define P11_DECL_OUT_INTERFACES(p, n) CK_INTERFACE_PTR p, CK_ULONG_PTR n
#define P11_DECL_INTERFACE_NAME(p) CK_UTF8CHAR_PTR p
#define P11_DECL_VERSION(p) CK_VERSION_PTR p
#define P11_DECL_OUT_INTERFACE(p) CK_INTERFACE_PTR_PTR p
#define P11_DECL_INTERFACE_FLAGS(f) CK_FLAGS f

/* Tuple helpers: P11_KIND_APPLY(PREFIX_, (KIND, a, b)) -> PREFIX_KIND(a, b) */
#define P11_CAT_(a, b) a##b
#define P11_CAT(a, b) P11_CAT_(a, b)
#define P11_TUPLE_HEAD_(k, ...) k
#define P11_TUPLE_TAIL_(k, ...) __VA_ARGS__
#define P11_KIND_APPLY(prefix, t) P11_KIND_APPLY_(prefix, P11_TUPLE_HEAD_ t, P11_TUPLE_TAIL_ t)
#define P11_KIND_APPLY_(prefix, k, ...) P11_KIND_APPLY__(prefix, k, __VA_ARGS__)
#define P11_KIND_APPLY__(prefix, k, ...) prefix##k(__VA_ARGS__)

#define P11_DECL(t) P11_KIND_APPLY(P11_DECL_, t)
#define P11_NAMES(t) P11_TUPLE_TAIL_ t

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
#define P11FN(name, ...) CK_RV (*C_##name)(p11_layer *self, P11_PARAMS(__VA_ARGS__));
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
#define P11FN(name, ...)                                                 \
	struct {                                                         \
		CK_RV (*fn)(p11_layer *self, P11_PARAMS(__VA_ARGS__));   \
		p11_layer *layer;                                        \
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
	const char *name;          /* "trace", "readers", ..., "backend" */
	const p11_ops *ops;
	p11_dispatch next;         /* resolved by p11_stack_build */
	void *data;                /* the layer's own state */
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
