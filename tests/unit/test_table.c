/*
 * Unit tests for the function table (include/p11fn.def): the built
 * module's CK_FUNCTION_LIST and PKCS#11 3.0 interfaces, the answer before
 * C_Initialize, the function names, and layer stacking (src/core/stack.c).
 *
 * The module is dlopen'ed from $SHIM_MODULE (tests/local.mk), as a client
 * would load it, never linked: its C_* must be exactly what dlsym finds.
 */
#include "config.h"

#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "p11-layer.h"

typedef CK_RV (*get_interface_list_fn)(CK_INTERFACE_PTR, CK_ULONG_PTR);
typedef CK_RV (*get_interface_fn)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);

static void *module;
static CK_FUNCTION_LIST *list;

/* Every function of p11fn.def in CK_FUNCTION_LIST order, with its member. */
static const struct {
	const char *name;
	size_t offset;
} table[] = {
#define P11FN(name, ...) { "C_" #name, offsetof(CK_FUNCTION_LIST, C_##name) },
#define P11FN_SPECIAL(name, ...) P11FN(name, __VA_ARGS__)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
};
#define TABLE_SIZE (sizeof(table) / sizeof(table[0]))

/* The same for PKCS#11 3.0: CK_FUNCTION_LIST_3_0 order, the 2.40 ones first. */
static const struct {
	const char *name;
	size_t offset;
} table3[] = {
#define P11FN(name, ...) { "C_" #name, offsetof(CK_FUNCTION_LIST_3_0, C_##name) },
#define P11FN_SPECIAL(name, ...) P11FN(name, __VA_ARGS__)
#define P11FN_V3 P11FN
#define P11FN_SPECIAL_V3 P11FN
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
#undef P11FN_SPECIAL_V3
};
#define TABLE3_SIZE (sizeof(table3) / sizeof(table3[0]))

/* The forwarded functions only (what p11_fn_name and P11_FN_* index). */
static const char *const forwarded[] = {
#define P11FN(name, ...) "C_" #name,
#define P11FN_SPECIAL(name, ...)
#define P11FN_V3 P11FN
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
};

static int group_setup(void **state)
{
	const char *env = getenv("SHIM_MODULE");
	CK_C_GetFunctionList get;
	char path[4096];

	(void)state;
	/* A copy: setenv below may move the environment (it does on 64-bit
	 * Windows, where the pointer then showed another variable). */
	if (env != NULL)
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s/.libs/p11shim.so",
		         getenv("top_builddir") ? getenv("top_builddir") : ".");
	/* The shim must not find a configuration of the machine running the tests. */
	setenv("P11SHIM_CONF", "/nonexistent/p11shim-unit-test.conf", 1);
	unsetenv("P11SHIM_LIBRARY");
	unsetenv("P11SHIM_TRACE");
	module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (module == NULL) {
		fprintf(stderr, "cannot load %s: %s\n", path, dlerror());
		return -1;
	}
	get = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
	if (get == NULL || get(&list) != CKR_OK || list == NULL)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (module != NULL)
		dlclose(module);
	return 0;
}

static void *member(const CK_FUNCTION_LIST *fl, size_t offset)
{
	void *p;

	memcpy(&p, (const char *)fl + offset, sizeof(p));
	return p;
}

/* ---- the function list ---- */

static void test_function_list(void **state)
{
	size_t i, first = offsetof(CK_FUNCTION_LIST, C_Initialize);
	CK_C_GetFunctionList get;

	(void)state;
	/* 68 functions in PKCS#11 v2.40, and the table fills the whole structure. */
	assert_int_equal(TABLE_SIZE, 68);
	assert_int_equal((sizeof(CK_FUNCTION_LIST) - first) / sizeof(void *), 68);
	assert_int_equal(table[0].offset, first);

	assert_int_equal(list->version.major, 2);
	assert_int_equal(list->version.minor, 40);
	for (i = 0; i < TABLE_SIZE; i++) {
		void *slot = member(list, table[i].offset), *sym = dlsym(module, table[i].name);

		/* p11fn.def is in CK_FUNCTION_LIST order, one slot after the other. */
		if (i > 0)
			assert_int_equal(table[i].offset, table[i - 1].offset + sizeof(void *));
		if (slot == NULL)
			fail_msg("%s: empty slot in CK_FUNCTION_LIST", table[i].name);
		if (sym == NULL)
			fail_msg("%s: not exported", table[i].name);
		if (slot != sym)
			fail_msg("%s: slot %p, exported %p", table[i].name, slot, sym);
	}

	get = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
	assert_int_equal(get(NULL), CKR_ARGUMENTS_BAD);
}

/* PKCS#11 3.0: 24 more functions, each exported by name as OpenSC's modules do. */
static void test_function_list_3_0(void **state)
{
	size_t i, first = offsetof(CK_FUNCTION_LIST_3_0, C_Initialize);

	(void)state;
	assert_int_equal(TABLE3_SIZE, 68 + 24);
	assert_int_equal((sizeof(CK_FUNCTION_LIST_3_0) - first) / sizeof(void *), 92);
	assert_int_equal(offsetof(CK_FUNCTION_LIST_3_0, C_WaitForSlotEvent),
	                 offsetof(CK_FUNCTION_LIST, C_WaitForSlotEvent));
	assert_string_equal(table3[68].name, "C_GetInterfaceList");
	assert_string_equal(table3[70].name, "C_LoginUser");
	assert_string_equal(table3[91].name, "C_MessageVerifyFinal");
	for (i = 0; i < TABLE3_SIZE; i++) {
		if (i > 0)
			assert_int_equal(table3[i].offset, table3[i - 1].offset + sizeof(void *));
		if (dlsym(module, table3[i].name) == NULL)
			fail_msg("%s: not exported", table3[i].name);
	}
}

static void test_exports_only_pkcs11(void **state)
{
	static const char *const internal[] = {
		"p11_stack_build", "p11_fn_name", "p11_config_load", "p11_trace_layer_new",
		"p11_note",        "tf_attrs",    "compat_dlopen",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(internal) / sizeof(internal[0]); i++)
		if (dlsym(module, internal[i]) != NULL)
			fail_msg("the module exports %s", internal[i]);
}

static void test_interface_list(void **state)
{
	get_interface_list_fn get_list;
	CK_INTERFACE ifs[4];
	CK_ULONG n;

	(void)state;
	get_list = (get_interface_list_fn)dlsym(module, "C_GetInterfaceList");
	assert_non_null(get_list);

	assert_int_equal(get_list(NULL, NULL), CKR_ARGUMENTS_BAD);

	/* Length query (PKCS#11 section 5.2 convention). */
	n = 99;
	assert_int_equal(get_list(NULL, &n), CKR_OK);
	assert_int_equal(n, 1);

	n = 0;
	memset(ifs, 0xA5, sizeof(ifs));
	assert_int_equal(get_list(ifs, &n), CKR_BUFFER_TOO_SMALL);
	assert_int_equal(n, 1);

	n = 4;
	memset(ifs, 0, sizeof(ifs));
	assert_int_equal(get_list(ifs, &n), CKR_OK);
	assert_int_equal(n, 1);
	assert_string_equal((const char *)ifs[0].pInterfaceName, "PKCS 11");
	assert_ptr_equal(ifs[0].pFunctionList, list);
	assert_int_equal(((CK_FUNCTION_LIST *)ifs[0].pFunctionList)->version.major, 2);
	assert_int_equal(((CK_FUNCTION_LIST *)ifs[0].pFunctionList)->version.minor, 40);
	assert_int_equal(ifs[0].flags & CKF_INTERFACE_FORK_SAFE, 0);
}

static void test_get_interface(void **state)
{
	get_interface_fn get;
	CK_INTERFACE_PTR iface;
	CK_VERSION v240 = { 2, 40 }, v300 = { 3, 0 };

	(void)state;
	get = (get_interface_fn)dlsym(module, "C_GetInterface");
	assert_non_null(get);

	/* NULL name: the default interface. */
	iface = NULL;
	assert_int_equal(get(NULL, NULL, &iface, 0), CKR_OK);
	assert_non_null(iface);
	assert_string_equal((const char *)iface->pInterfaceName, "PKCS 11");
	assert_ptr_equal(iface->pFunctionList, list);

	iface = NULL;
	assert_int_equal(get((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface, 0), CKR_OK);
	assert_non_null(iface);
	assert_ptr_equal(iface->pFunctionList, list);
	assert_int_equal(((CK_FUNCTION_LIST *)iface->pFunctionList)->version.major, 2);
	assert_int_equal(((CK_FUNCTION_LIST *)iface->pFunctionList)->version.minor, 40);

	iface = NULL;
	assert_int_equal(get((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &iface, 0), CKR_OK);
	assert_ptr_equal(iface->pFunctionList, list);

	/* What the shim does not offer. */
	iface = NULL;
	assert_int_equal(get((CK_UTF8CHAR_PTR) "Vendor Nexus", NULL, &iface, 0), CKR_ARGUMENTS_BAD);
	assert_null(iface);
	assert_int_equal(get((CK_UTF8CHAR_PTR) "PKCS 11", &v300, &iface, 0), CKR_ARGUMENTS_BAD);
	assert_null(iface);
	assert_int_equal(get((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &iface, CKF_INTERFACE_FORK_SAFE),
	                 CKR_ARGUMENTS_BAD);
	assert_null(iface);
	assert_int_equal(get(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
}

/* ---- before C_Initialize ---- */

/*
 * Each argument as a value (the bad column of include/p11kinds.def): BADP
 * for every pointer, BADU for every number. BADP and BADU are redefined
 * before each expansion of p11fn.def below.
 */
#define ARG(t) P11_BAD(t)
#define P11_BAD_PTR BADP
#define P11_BAD_ULONG BADU
#define P11_BAD_BBOOL (CK_BBOOL) BADU
#define P11_BAD_NOTIFY (CK_NOTIFY)(uintptr_t)(BADP)

/* Calls every function but C_Initialize; each must say CKR_CRYPTOKI_NOT_INITIALIZED. */
#define P11FN(name, ...)                                                 \
	rv_ = (fl)->C_##name(P11_MAP(ARG, P11_COMMA, __VA_ARGS__));      \
	if (rv_ != CKR_CRYPTOKI_NOT_INITIALIZED) {                       \
		print_error("C_" #name ": 0x%lx\n", (unsigned long)rv_); \
		(wrong)++;                                               \
	}
#define P11FN_SPECIAL(name, ...)
#define P11FN_LIFE(name, ...)

static unsigned call_all_garbage(CK_FUNCTION_LIST *fl)
{
	unsigned wrong = 0;
	CK_RV rv_;

	/* Pointers nobody may read and lengths nobody may believe. */
#define BADP ((void *)1)
#define BADU ((CK_ULONG)-1)
	rv_ = fl->C_Finalize(BADP);
	if (rv_ != CKR_CRYPTOKI_NOT_INITIALIZED)
		wrong++;
#include "p11fn.def"
#undef BADP
#undef BADU
	return wrong;
}

static unsigned call_all_null(CK_FUNCTION_LIST *fl)
{
	unsigned wrong = 0;
	CK_RV rv_;

#define BADP NULL
#define BADU ((CK_ULONG)0)
	rv_ = fl->C_Finalize(BADP);
	if (rv_ != CKR_CRYPTOKI_NOT_INITIALIZED)
		wrong++;
#include "p11fn.def"
#undef BADP
#undef BADU
	return wrong;
}

static unsigned call_all_null_huge(CK_FUNCTION_LIST *fl)
{
	unsigned wrong = 0;
	CK_RV rv_;

	/* NULL buffers that claim to be huge. */
#define BADP NULL
#define BADU ((CK_ULONG)0x7fffffffUL)
	rv_ = fl->C_Finalize(BADP);
	if (rv_ != CKR_CRYPTOKI_NOT_INITIALIZED)
		wrong++;
#include "p11fn.def"
#undef BADP
#undef BADU
	return wrong;
}

/* Valid-looking pointers to memory that is not what they claim. */
static unsigned call_all_junk_memory(CK_FUNCTION_LIST *fl)
{
	static unsigned char junk[64];
	unsigned wrong = 0;
	CK_RV rv_;

	memset(junk, 0xff, sizeof(junk));
#define BADP ((void *)junk)
#define BADU ((CK_ULONG)1 << 30)
	rv_ = fl->C_Finalize(BADP);
	if (rv_ != CKR_CRYPTOKI_NOT_INITIALIZED)
		wrong++;
#include "p11fn.def"
#undef BADP
#undef BADU
	/* Output buffers are not written either. */
	for (size_t i = 0; i < sizeof(junk); i++)
		if (junk[i] != 0xff)
			wrong++;
	return wrong;
}
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_LIFE

static void test_not_initialized(void **state)
{
	(void)state;
	/* A crash here means an argument was read before C_Initialize. */
	assert_int_equal(call_all_garbage(list), 0);
	assert_int_equal(call_all_null(list), 0);
	assert_int_equal(call_all_null_huge(list), 0);
	assert_int_equal(call_all_junk_memory(list), 0);
}

static void test_not_initialized_after_failed_initialize(void **state)
{
	(void)state;
	/* P11SHIM_CONF names a missing file (group setup): C_Initialize fails... */
	assert_int_equal(list->C_Initialize(NULL), CKR_GENERAL_ERROR);
	/* ...and leaves nothing half-initialised behind. */
	assert_int_equal(call_all_garbage(list), 0);
	assert_int_equal(call_all_null(list), 0);
	assert_int_equal(list->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
}

/* ---- names ---- */

static void test_fn_names(void **state)
{
	unsigned i;

	(void)state;
	assert_int_equal(P11_FN_COUNT, 67 + 22);
	assert_int_equal(P11_FN_V3_FIRST, 67);
	assert_int_equal(sizeof(forwarded) / sizeof(forwarded[0]), P11_FN_COUNT);
	for (i = 0; i < P11_FN_COUNT; i++) {
		assert_non_null(p11_fn_name(i));
		assert_string_equal(p11_fn_name(i), forwarded[i]);
	}
	assert_string_equal(p11_fn_name(P11_FN_Initialize), "C_Initialize");
	assert_string_equal(p11_fn_name(P11_FN_Login), "C_Login");
	assert_string_equal(p11_fn_name(P11_FN_WaitForSlotEvent), "C_WaitForSlotEvent");
	assert_string_equal(p11_fn_name(P11_FN_LoginUser), "C_LoginUser");
	assert_string_equal(p11_fn_name(P11_FN_MessageVerifyFinal), "C_MessageVerifyFinal");
	/* Out of range: a name still, never a crash. */
	assert_string_equal(p11_fn_name(P11_FN_COUNT), "C_?");
	assert_string_equal(p11_fn_name((unsigned)-1), "C_?");
}

/* ---- stacking ---- */

/* What the fake layers saw, in call order. */
static char trail[256];
static p11_layer *bottom_self;
static unsigned bottom_fn;
static CK_SESSION_HANDLE seen_session;
static CK_UTF8CHAR_PTR seen_pin;

static void visit(const char *who)
{
	size_t n = strlen(trail);

	snprintf(trail + n, sizeof(trail) - n, "%s%s", n ? "," : "", who);
}

static p11_layer top, middle, bottom;

static CK_RV top_C_Login(p11_layer *self, CK_SESSION_HANDLE h, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin,
                         CK_ULONG n)
{
	visit(self == &top ? "top" : "top(wrong self)");
	return P11_NEXT(self, Login, h, u, pin, n);
}

static CK_RV middle_C_Login(p11_layer *self, CK_SESSION_HANDLE h, CK_USER_TYPE u,
                            CK_UTF8CHAR_PTR pin, CK_ULONG n)
{
	visit(self == &middle ? "middle" : "middle(wrong self)");
	return P11_NEXT(self, Login, h, u, pin, n);
}

static CK_RV middle_C_Sign(p11_layer *self, CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG n,
                           CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	visit(self == &middle ? "middle" : "middle(wrong self)");
	return P11_NEXT(self, Sign, h, data, n, sig, sig_len);
}

static const p11_ops top_ops = { .C_Login = top_C_Login };
static const p11_ops middle_ops = { .C_Login = middle_C_Login, .C_Sign = middle_C_Sign };

/* Marks every parameter used, whatever the kind's arity. */
#define USE(t) USE_(P11_NAMES(t))
#define USE_(...) P11_CAT(USE_, P11_NARG(__VA_ARGS__))(__VA_ARGS__)
#define USE_1(a) (void)(a)
#define USE_2(a, b) (void)(a), (void)(b)
#define USE_3(a, b, c) (void)(a), (void)(b), (void)(c)

static CK_RV bottom_saw(p11_layer *self, unsigned fn)
{
	visit("bottom");
	bottom_self = self;
	bottom_fn = fn;
	return CKR_VENDOR_DEFINED + fn;
}

/* The bottom implements everything, generated from p11fn.def. */
#define P11FN(name, ...)                                                       \
	static CK_RV bottom_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__)) \
	{                                                                      \
		P11_MAP(USE, P11_SEMI, __VA_ARGS__);                           \
		return bottom_saw(self, P11_FN_##name);                        \
	}
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL

static CK_RV bottom_C_Login_args(p11_layer *self, CK_SESSION_HANDLE h, CK_USER_TYPE u,
                                 CK_UTF8CHAR_PTR pin, CK_ULONG n)
{
	seen_session = h;
	seen_pin = pin;
	return bottom_C_Login(self, h, u, pin, n);
}

static const p11_ops bottom_ops_full = {
#define P11FN(name, ...) .C_##name = bottom_C_##name,
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
};

static p11_ops bottom_ops;

static int stack_setup(void **state)
{
	(void)state;
	bottom_ops = bottom_ops_full;
	bottom_ops.C_Login = bottom_C_Login_args;
	memset(&top, 0, sizeof(top));
	memset(&middle, 0, sizeof(middle));
	memset(&bottom, 0, sizeof(bottom));
	top.name = "top";
	top.ops = &top_ops;
	middle.name = "middle";
	middle.ops = &middle_ops;
	bottom.name = "bottom";
	bottom.ops = &bottom_ops;
	trail[0] = '\0';
	return 0;
}

static void test_stack_three_layers(void **state)
{
	p11_layer *layers[3] = { &top, &middle, &bottom };
	CK_UTF8CHAR pin[] = "123456";
	CK_BYTE data[4] = { 1, 2, 3, 4 }, sig[8];
	CK_ULONG sig_len = sizeof(sig);
	p11_dispatch d;
	CK_RV rv;

	(void)state;
	memset(&d, 0, sizeof(d));
	assert_int_equal(p11_stack_build(layers, 3, &d), 0);

	/* C_Login: everyone overrides it: top -> middle -> bottom. */
	assert_ptr_equal(d.C_Login.layer, &top);
	assert_ptr_equal(top.next.C_Login.layer, &middle);
	assert_ptr_equal(middle.next.C_Login.layer, &bottom);
	trail[0] = '\0';
	rv = d.C_Login.fn(d.C_Login.layer, 52, CKU_USER, pin, 6);
	assert_int_equal(rv, CKR_VENDOR_DEFINED + P11_FN_Login);
	assert_string_equal(trail, "top,middle,bottom");
	assert_ptr_equal(bottom_self, &bottom);
	assert_int_equal(seen_session, 52);
	assert_ptr_equal(seen_pin, pin);

	/* C_Sign: the top does not override it, so the call starts in the middle. */
	assert_ptr_equal(d.C_Sign.layer, &middle);
	assert_ptr_equal(top.next.C_Sign.layer, &middle);
	trail[0] = '\0';
	rv = d.C_Sign.fn(d.C_Sign.layer, 134, data, sizeof(data), sig, &sig_len);
	assert_int_equal(rv, CKR_VENDOR_DEFINED + P11_FN_Sign);
	assert_string_equal(trail, "middle,bottom");

	/* C_GetInfo: nobody but the bottom: straight there, no hop. */
	assert_ptr_equal(d.C_GetInfo.layer, &bottom);
	assert_ptr_equal(d.C_GetInfo.fn, bottom_C_GetInfo);
	trail[0] = '\0';
	rv = d.C_GetInfo.fn(d.C_GetInfo.layer, NULL);
	assert_int_equal(rv, CKR_VENDOR_DEFINED + P11_FN_GetInfo);
	assert_string_equal(trail, "bottom");
}

/* Every other function: from the top and from each layer, the bottom directly. */
static void test_stack_every_function(void **state)
{
	p11_layer *layers[3] = { &top, &middle, &bottom };
	unsigned wrong = 0;
	p11_dispatch d;
	CK_RV rv;

	(void)state;
	assert_int_equal(p11_stack_build(layers, 3, &d), 0);
#define ZERO(t) ZERO_(P11_NAMES(t))
#define ZERO_(...) P11_CAT(ZERO_, P11_NARG(__VA_ARGS__))
#define ZERO_1 0
#define ZERO_2 0, 0
#define ZERO_3 0, 0, 0
#define P11FN(name, ...)                                                                           \
	if (P11_FN_##name != P11_FN_Login && P11_FN_##name != P11_FN_Sign) {                       \
		if (d.C_##name.layer != &bottom || d.C_##name.fn != bottom_ops.C_##name ||         \
		    top.next.C_##name.layer != &bottom || middle.next.C_##name.layer != &bottom) { \
			print_error("C_" #name ": not resolved to the bottom\n");                  \
			wrong++;                                                                   \
		}                                                                                  \
		trail[0] = '\0';                                                                   \
		rv = d.C_##name.fn(d.C_##name.layer, P11_MAP(ZERO, P11_COMMA, __VA_ARGS__));       \
		if (rv != CKR_VENDOR_DEFINED + P11_FN_##name || bottom_fn != P11_FN_##name ||      \
		    strcmp(trail, "bottom") != 0) {                                                \
			print_error("C_" #name ": reached %s\n", trail);                           \
			wrong++;                                                                   \
		}                                                                                  \
	}
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
	assert_int_equal(wrong, 0);
}

static void test_stack_bottom_only(void **state)
{
	p11_layer *layers[1] = { &bottom };
	p11_dispatch d;

	(void)state;
	assert_int_equal(p11_stack_build(layers, 1, &d), 0);
	assert_ptr_equal(d.C_Login.layer, &bottom);
	assert_ptr_equal(d.C_Login.fn, bottom_C_Login_args);
	assert_ptr_equal(d.C_WaitForSlotEvent.layer, &bottom);
	assert_int_equal(p11_stack_build(layers, 0, &d), -1);
}

static void test_stack_incomplete_bottom(void **state)
{
	p11_layer *layers[3] = { &top, &middle, &bottom };
	p11_dispatch d;

	(void)state;
	/* A function nobody implements. */
	bottom_ops.C_WaitForSlotEvent = NULL;
	assert_int_equal(p11_stack_build(layers, 3, &d), -1);
	assert_int_equal(p11_stack_build(&layers[2], 1, &d), -1);

	/* The first and the last of the table. */
	bottom_ops = bottom_ops_full;
	bottom_ops.C_Initialize = NULL;
	assert_int_equal(p11_stack_build(layers, 3, &d), -1);
}

/*
 * The bottom must implement every function (p11-layer.h), also those the
 * layers above override: they forward with P11_NEXT, which would call NULL.
 */
static void test_stack_incomplete_bottom_overridden(void **state)
{
	p11_layer *layers[3] = { &top, &middle, &bottom };
	p11_dispatch d;

	(void)state;
	bottom_ops.C_Login = NULL;
	assert_int_equal(p11_stack_build(layers, 3, &d), -1);
	bottom_ops = bottom_ops_full;
	bottom_ops.C_Sign = NULL;
	assert_int_equal(p11_stack_build(layers, 3, &d), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_function_list),
		cmocka_unit_test(test_function_list_3_0),
		cmocka_unit_test(test_exports_only_pkcs11),
		cmocka_unit_test(test_interface_list),
		cmocka_unit_test(test_get_interface),
		cmocka_unit_test(test_not_initialized),
		cmocka_unit_test(test_not_initialized_after_failed_initialize),
		cmocka_unit_test(test_fn_names),
		cmocka_unit_test_setup(test_stack_three_layers, stack_setup),
		cmocka_unit_test_setup(test_stack_every_function, stack_setup),
		cmocka_unit_test_setup(test_stack_bottom_only, stack_setup),
		cmocka_unit_test_setup(test_stack_incomplete_bottom, stack_setup),
		cmocka_unit_test_setup(test_stack_incomplete_bottom_overridden, stack_setup),
	};

	return cmocka_run_group_tests_name("table", tests, group_setup, group_teardown);
}
