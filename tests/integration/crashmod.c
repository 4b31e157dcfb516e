/*
 * crashmod: a tiny PKCS#11 module that crashes inside a call (issue 7,
 * "Faults": a backend that crashes mid-call; the trace must show the
 * call). One slot (1) with an initialised token; sessions, logins, PIN
 * changes, object creation and searches answer CKR_OK without keeping
 * anything (so a core dump holds no secret of this module's making);
 * C_Sign writes to an unmapped address (SIGSEGV), and so does C_InitToken
 * with a label that starts with "crash"; C_Digest calls abort() (SIGABRT).
 * Every other function answers CKR_FUNCTION_NOT_SUPPORTED.
 *
 * `make bench` also uses it as a backend that makes no system call
 * (bench/p11bench.c, run_null): what the shim adds in front of it is the
 * shim's own work.
 *
 * Built with -DCRASHMOD_HANG it is hangmod, a backend whose C_Sign and
 * C_Login never return (a reader or a middleware dialog waiting forever):
 * they sleep until the process is killed.
 */
#include "config.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11-layer.h"

#define EXPORT __attribute__((visibility("default")))

static int initialised;

/* An unmapped address near NULL: a real SIGSEGV, under the sanitizers too
 * (UBSan would turn a NULL store into an abort of its own). */
static volatile uintptr_t wild = 16;

/* Everything not written below: not supported. */
#define P11FN(name, ...)                                                                        \
	static CK_RV stub_C_##name(P11_PARAMS(__VA_ARGS__))                                     \
	{                                                                                       \
		return initialised ? CKR_FUNCTION_NOT_SUPPORTED : CKR_CRYPTOKI_NOT_INITIALIZED; \
	}
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL

static void padded(unsigned char *dst, size_t n, const char *s)
{
	memset(dst, ' ', n);
	memcpy(dst, s, strlen(s) < n ? strlen(s) : n);
}

static CK_RV cm_Initialize(CK_VOID_PTR args)
{
	(void)args;
	if (initialised)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	initialised = 1;
	return CKR_OK;
}

static CK_RV cm_Finalize(CK_VOID_PTR reserved)
{
	if (reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	if (!initialised)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	initialised = 0;
	return CKR_OK;
}

#define NEED_INIT()                                          \
	do {                                                 \
		if (!initialised)                            \
			return CKR_CRYPTOKI_NOT_INITIALIZED; \
	} while (0)

static CK_RV cm_GetInfo(CK_INFO_PTR p)
{
	NEED_INIT();
	if (p == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(p, 0, sizeof(*p));
	p->cryptokiVersion.major = 2;
	p->cryptokiVersion.minor = 40;
	padded(p->manufacturerID, sizeof(p->manufacturerID), "p11shim tests");
	padded(p->libraryDescription, sizeof(p->libraryDescription), "crashmod");
	return CKR_OK;
}

static CK_RV cm_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
	(void)present;
	NEED_INIT();
	if (n == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list != NULL && *n < 1) {
		*n = 1;
		return CKR_BUFFER_TOO_SMALL;
	}
	if (list != NULL)
		list[0] = 1;
	*n = 1;
	return CKR_OK;
}

static CK_RV cm_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR p)
{
	NEED_INIT();
	if (id != 1)
		return CKR_SLOT_ID_INVALID;
	if (p == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(p, 0, sizeof(*p));
	padded(p->slotDescription, sizeof(p->slotDescription), "crashmod reader");
	padded(p->manufacturerID, sizeof(p->manufacturerID), "p11shim tests");
	p->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
	return CKR_OK;
}

static CK_RV cm_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR p)
{
	NEED_INIT();
	if (id != 1)
		return CKR_SLOT_ID_INVALID;
	if (p == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(p, 0, sizeof(*p));
	padded(p->label, sizeof(p->label), "crashmod");
	padded(p->manufacturerID, sizeof(p->manufacturerID), "p11shim tests");
	padded(p->model, sizeof(p->model), "crashmod");
	padded(p->serialNumber, sizeof(p->serialNumber), "1");
	p->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_LOGIN_REQUIRED;
	p->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	p->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	p->ulMaxPinLen = 64;
	p->ulMinPinLen = 4;
	memcpy(p->utcTime, "2026112700000000", 16);
	return CKR_OK;
}

static CK_RV cm_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                            CK_SESSION_HANDLE_PTR s)
{
	(void)flags;
	(void)app;
	(void)notify;
	NEED_INIT();
	if (id != 1)
		return CKR_SLOT_ID_INVALID;
	if (s == NULL)
		return CKR_ARGUMENTS_BAD;
	*s = 1;
	return CKR_OK;
}

static CK_RV cm_session(CK_SESSION_HANDLE s)
{
	(void)s;
	NEED_INIT();
	return CKR_OK;
}

static CK_RV cm_CloseAllSessions(CK_SLOT_ID id)
{
	(void)id;
	NEED_INIT();
	return CKR_OK;
}

static CK_RV cm_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR p)
{
	(void)s;
	NEED_INIT();
	if (p == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(p, 0, sizeof(*p));
	p->slotID = 1;
	p->state = CKS_RW_USER_FUNCTIONS;
	p->flags = CKF_SERIAL_SESSION | CKF_RW_SESSION;
	return CKR_OK;
}

#ifdef CRASHMOD_HANG
/* Waits like a middleware whose dialog nobody answers. */
static void hang(void)
{
	for (;;)
		sleep(60);
}
#endif

/* Secrets are looked at, never kept. */
static CK_RV cm_Login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin, CK_ULONG n)
{
	(void)s;
	(void)u;
	(void)n;
	NEED_INIT();
#ifdef CRASHMOD_HANG
	hang();
#endif
	return pin == NULL ? CKR_ARGUMENTS_BAD : CKR_OK;
}

static CK_RV cm_InitToken(CK_SLOT_ID id, CK_UTF8CHAR_PTR pin, CK_ULONG n, CK_UTF8CHAR_PTR label)
{
	(void)n;
	NEED_INIT();
	if (id != 1)
		return CKR_SLOT_ID_INVALID;
	if (pin == NULL || label == NULL)
		return CKR_ARGUMENTS_BAD;
	/* A card that takes the process down while it is initialised. */
	if (memcmp(label, "crash", 5) == 0)
		*(volatile int *)wild = 1;
	return CKR_OK;
}

static CK_RV cm_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG n)
{
	(void)s;
	(void)n;
	NEED_INIT();
	return pin == NULL ? CKR_ARGUMENTS_BAD : CKR_OK;
}

static CK_RV cm_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR o, CK_ULONG on, CK_UTF8CHAR_PTR w,
                       CK_ULONG wn)
{
	(void)s;
	(void)on;
	(void)wn;
	NEED_INIT();
	return o == NULL || w == NULL ? CKR_ARGUMENTS_BAD : CKR_OK;
}

static CK_RV cm_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                             CK_OBJECT_HANDLE_PTR h)
{
	(void)s;
	(void)n;
	NEED_INIT();
	if (t == NULL || h == NULL)
		return CKR_ARGUMENTS_BAD;
	*h = 2;
	return CKR_OK;
}

static CK_RV cm_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	(void)s;
	(void)t;
	(void)n;
	NEED_INIT();
	return CKR_OK;
}

static CK_RV cm_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR h, CK_ULONG max, CK_ULONG_PTR n)
{
	(void)s;
	(void)h;
	(void)max;
	NEED_INIT();
	if (n == NULL)
		return CKR_ARGUMENTS_BAD;
	*n = 0;
	return CKR_OK;
}

static CK_RV cm_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	(void)s;
	(void)k;
	NEED_INIT();
	return m == NULL ? CKR_ARGUMENTS_BAD : CKR_OK;
}

/* The middleware's bug: a NULL dereference in the middle of a signature. */
static CK_RV cm_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR sig, CK_ULONG_PTR sn)
{
	(void)s;
	(void)d;
	(void)dn;
	(void)sig;
	(void)sn;
#ifdef CRASHMOD_HANG
	hang();
#endif
	*(volatile int *)wild = 1;
	return CKR_GENERAL_ERROR;
}

static CK_RV cm_DigestInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m)
{
	(void)s;
	NEED_INIT();
	return m == NULL ? CKR_ARGUMENTS_BAD : CKR_OK;
}

/* Another: an assertion that fails. */
static CK_RV cm_Digest(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR out,
                       CK_ULONG_PTR on)
{
	(void)s;
	(void)d;
	(void)dn;
	(void)out;
	(void)on;
	abort();
}

static CK_FUNCTION_LIST list = {
	{ 2, 40 },
#define P11FN(name, ...) stub_C_##name,
#define P11FN_SPECIAL(name, ...) NULL,
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
};

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	if (pp == NULL)
		return CKR_ARGUMENTS_BAD;
	list.C_Initialize = cm_Initialize;
	list.C_Finalize = cm_Finalize;
	list.C_GetInfo = cm_GetInfo;
	list.C_GetFunctionList = C_GetFunctionList;
	list.C_GetSlotList = cm_GetSlotList;
	list.C_GetSlotInfo = cm_GetSlotInfo;
	list.C_GetTokenInfo = cm_GetTokenInfo;
	list.C_InitToken = cm_InitToken;
	list.C_InitPIN = cm_InitPIN;
	list.C_SetPIN = cm_SetPIN;
	list.C_OpenSession = cm_OpenSession;
	list.C_CloseSession = cm_session;
	list.C_CloseAllSessions = cm_CloseAllSessions;
	list.C_GetSessionInfo = cm_GetSessionInfo;
	list.C_Login = cm_Login;
	list.C_Logout = cm_session;
	list.C_CreateObject = cm_CreateObject;
	list.C_FindObjectsInit = cm_FindObjectsInit;
	list.C_FindObjects = cm_FindObjects;
	list.C_FindObjectsFinal = cm_session;
	list.C_SignInit = cm_SignInit;
	list.C_Sign = cm_Sign;
	list.C_DigestInit = cm_DigestInit;
	list.C_Digest = cm_Digest;
	*pp = &list;
	return CKR_OK;
}
