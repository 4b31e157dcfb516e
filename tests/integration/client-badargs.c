/*
 * client-badargs: every PKCS#11 function with bad arguments (issue 7, "Bad
 * arguments"): NULL pointers, zero and huge lengths, invalid session,
 * object and slot handles, unknown mechanisms and user types, operations
 * in the wrong state, before C_Initialize and after C_Finalize.
 *
 *   TEST_PIN=... client-badargs MODULE
 *
 * One line per call: "PHASE C_Name case: CKR_xxx [outputs]". The test runs
 * it on SoftHSM2 directly and through the shim (each on a fresh copy of one
 * token) and compares the lines: the shim must answer what the backend
 * answers, in phases setup, init, live and fin. Before C_Initialize (pre) and
 * after C_Finalize (post) the shim answers CKR_CRYPTOKI_NOT_INITIALIZED
 * itself without reading any argument (README, "Trace"); the backend's own
 * answers are printed for comparison. Everything here is deterministic:
 * no handle values or random bytes are printed.
 *
 * Only calls a correct backend survives are made: a valid pointer always
 * comes with a length that fits it (a huge length comes with NULL, or with
 * an output buffer large enough for what is written), since a lying
 * length is the client's bug, not something a proxy can detect. SoftHSM2
 * 2.6.1 (Debian 12) survives every case below, so none had to be left out;
 * a case a backend itself crashed on would be left out on both sides, with
 * a comment saying so.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-const.h"
#include "p11-pkcs11.h"

static CK_FUNCTION_LIST_PTR f;
static const char *phase = "pre";
static unsigned long lines;

#define BAD_SESSION ((CK_SESSION_HANDLE)0x5eadbeefUL)
#define BAD_OBJECT ((CK_OBJECT_HANDLE)0x7ffff0f0UL)
#define BAD_SLOT ((CK_SLOT_ID)0x7ffff0f0UL)
#define HUGE ((CK_ULONG)0x7fffffffUL)
#define UNKNOWN_MECH ((CK_MECHANISM_TYPE)0x7fff0000UL)

static const char *rvname(CK_RV rv)
{
	static char buf[32];
	const char *n = p11_const_name(P11_CONST_RV, rv);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

/* One line; extra (printf) follows the rv. Returns rv for chaining. */
static CK_RV rep(const char *fn, const char *what, CK_RV rv, const char *fmt, ...)
{
	va_list ap;

	printf("%s %s %s: %s", phase, fn, what, rvname(rv));
	if (fmt != NULL) {
		putchar(' ');
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	putchar('\n');
	fflush(stdout);
	lines++;
	return rv;
}

#define T(fn, what, call) rep(fn, what, (call), NULL)

static CK_RV notify(CK_SESSION_HANDLE s, CK_NOTIFICATION e, CK_VOID_PTR app)
{
	(void)s;
	(void)e;
	(void)app;
	return CKR_OK;
}

/*
 * Every function with NULL or arbitrary arguments: before C_Initialize and
 * after C_Finalize. Nothing may be read or written by a correct module
 * then, but SoftHSM2 checks some arguments first (printed, not compared).
 */
static void every_function_uninitialised(CK_SLOT_ID slot)
{
	CK_BYTE buf[64];
	CK_ULONG n = sizeof(buf);
	CK_ATTRIBUTE a = { CKA_LABEL, buf, sizeof(buf) };
	CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
	CK_SESSION_HANDLE s = 1;
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_INFO mi;
	CK_SESSION_INFO ssi;
	CK_OBJECT_HANDLE h;
	CK_SLOT_ID sl;

	T("C_GetInfo", "valid", f->C_GetInfo(&info));
	T("C_GetInfo", "NULL", f->C_GetInfo(NULL));
	T("C_GetSlotList", "NULL, NULL", f->C_GetSlotList(CK_FALSE, NULL, NULL));
	T("C_GetSlotList", "length query", f->C_GetSlotList(CK_FALSE, NULL, &n));
	T("C_GetSlotInfo", "valid", f->C_GetSlotInfo(slot, &si));
	T("C_GetSlotInfo", "NULL", f->C_GetSlotInfo(slot, NULL));
	T("C_GetTokenInfo", "valid", f->C_GetTokenInfo(slot, &ti));
	T("C_GetMechanismList", "NULL", f->C_GetMechanismList(slot, NULL, NULL));
	T("C_GetMechanismInfo", "valid", f->C_GetMechanismInfo(slot, CKM_SHA256, &mi));
	T("C_InitToken", "NULL", f->C_InitToken(slot, NULL, 0, NULL));
	T("C_InitPIN", "NULL", f->C_InitPIN(s, NULL, 0));
	T("C_SetPIN", "NULL", f->C_SetPIN(s, NULL, 0, NULL, 0));
	T("C_OpenSession", "valid", f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
	T("C_OpenSession", "NULL", f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL));
	T("C_CloseSession", "1", f->C_CloseSession(1));
	T("C_CloseAllSessions", "slot", f->C_CloseAllSessions(slot));
	T("C_GetSessionInfo", "valid", f->C_GetSessionInfo(1, &ssi));
	T("C_GetOperationState", "NULL", f->C_GetOperationState(1, NULL, NULL));
	T("C_SetOperationState", "NULL", f->C_SetOperationState(1, NULL, 0, 0, 0));
	T("C_Login", "NULL", f->C_Login(1, CKU_USER, NULL, 0));
	T("C_Logout", "1", f->C_Logout(1));
	T("C_CreateObject", "NULL", f->C_CreateObject(1, NULL, 0, NULL));
	T("C_CopyObject", "NULL", f->C_CopyObject(1, 1, NULL, 0, NULL));
	T("C_DestroyObject", "1", f->C_DestroyObject(1, 1));
	T("C_GetObjectSize", "NULL", f->C_GetObjectSize(1, 1, NULL));
	T("C_GetAttributeValue", "valid", f->C_GetAttributeValue(1, 1, &a, 1));
	T("C_SetAttributeValue", "NULL", f->C_SetAttributeValue(1, 1, NULL, 0));
	T("C_FindObjectsInit", "NULL", f->C_FindObjectsInit(1, NULL, 0));
	T("C_FindObjects", "valid", f->C_FindObjects(1, &h, 1, &n));
	T("C_FindObjectsFinal", "1", f->C_FindObjectsFinal(1));
	T("C_EncryptInit", "NULL", f->C_EncryptInit(1, NULL, 1));
	T("C_Encrypt", "NULL", f->C_Encrypt(1, NULL, 0, NULL, NULL));
	T("C_EncryptUpdate", "NULL", f->C_EncryptUpdate(1, NULL, 0, NULL, NULL));
	T("C_EncryptFinal", "NULL", f->C_EncryptFinal(1, NULL, NULL));
	T("C_DecryptInit", "NULL", f->C_DecryptInit(1, NULL, 1));
	T("C_Decrypt", "NULL", f->C_Decrypt(1, NULL, 0, NULL, NULL));
	T("C_DecryptUpdate", "NULL", f->C_DecryptUpdate(1, NULL, 0, NULL, NULL));
	T("C_DecryptFinal", "NULL", f->C_DecryptFinal(1, NULL, NULL));
	T("C_DigestInit", "valid", f->C_DigestInit(1, &m));
	T("C_Digest", "NULL", f->C_Digest(1, NULL, 0, NULL, NULL));
	T("C_DigestUpdate", "NULL", f->C_DigestUpdate(1, NULL, 0));
	T("C_DigestKey", "1", f->C_DigestKey(1, 1));
	T("C_DigestFinal", "NULL", f->C_DigestFinal(1, NULL, NULL));
	T("C_SignInit", "NULL", f->C_SignInit(1, NULL, 1));
	T("C_Sign", "NULL", f->C_Sign(1, NULL, 0, NULL, NULL));
	T("C_SignUpdate", "NULL", f->C_SignUpdate(1, NULL, 0));
	T("C_SignFinal", "NULL", f->C_SignFinal(1, NULL, NULL));
	T("C_SignRecoverInit", "NULL", f->C_SignRecoverInit(1, NULL, 1));
	T("C_SignRecover", "NULL", f->C_SignRecover(1, NULL, 0, NULL, NULL));
	T("C_VerifyInit", "NULL", f->C_VerifyInit(1, NULL, 1));
	T("C_Verify", "NULL", f->C_Verify(1, NULL, 0, NULL, 0));
	T("C_VerifyUpdate", "NULL", f->C_VerifyUpdate(1, NULL, 0));
	T("C_VerifyFinal", "NULL", f->C_VerifyFinal(1, NULL, 0));
	T("C_VerifyRecoverInit", "NULL", f->C_VerifyRecoverInit(1, NULL, 1));
	T("C_VerifyRecover", "NULL", f->C_VerifyRecover(1, NULL, 0, NULL, NULL));
	T("C_DigestEncryptUpdate", "NULL", f->C_DigestEncryptUpdate(1, NULL, 0, NULL, NULL));
	T("C_DecryptDigestUpdate", "NULL", f->C_DecryptDigestUpdate(1, NULL, 0, NULL, NULL));
	T("C_SignEncryptUpdate", "NULL", f->C_SignEncryptUpdate(1, NULL, 0, NULL, NULL));
	T("C_DecryptVerifyUpdate", "NULL", f->C_DecryptVerifyUpdate(1, NULL, 0, NULL, NULL));
	T("C_GenerateKey", "NULL", f->C_GenerateKey(1, NULL, NULL, 0, NULL));
	T("C_GenerateKeyPair", "NULL", f->C_GenerateKeyPair(1, NULL, NULL, 0, NULL, 0, NULL, NULL));
	T("C_WrapKey", "NULL", f->C_WrapKey(1, NULL, 1, 1, NULL, NULL));
	T("C_UnwrapKey", "NULL", f->C_UnwrapKey(1, NULL, 1, NULL, 0, NULL, 0, NULL));
	T("C_DeriveKey", "NULL", f->C_DeriveKey(1, NULL, 1, NULL, 0, NULL));
	T("C_SeedRandom", "NULL", f->C_SeedRandom(1, NULL, 0));
	T("C_GenerateRandom", "valid", f->C_GenerateRandom(1, buf, 16));
	T("C_GetFunctionStatus", "1", f->C_GetFunctionStatus(1));
	T("C_CancelFunction", "1", f->C_CancelFunction(1));
	T("C_WaitForSlotEvent", "DONT_BLOCK", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &sl, NULL));
	T("C_Finalize", "NULL", f->C_Finalize(NULL));
}

/* C_Initialize's arguments (PKCS#11 5.4). */
static CK_RV create_mutex(CK_VOID_PTR_PTR m)
{
	*m = malloc(1);
	return *m ? CKR_OK : CKR_HOST_MEMORY;
}

static CK_RV destroy_mutex(CK_VOID_PTR m)
{
	free(m);
	return CKR_OK;
}

static CK_RV lock_mutex(CK_VOID_PTR m)
{
	(void)m;
	return CKR_OK;
}

static void initialise(void)
{
	CK_C_INITIALIZE_ARGS args;
	int dummy;

	phase = "init";
	memset(&args, 0, sizeof(args));
	args.pReserved = &dummy;
	T("C_Initialize", "pReserved set", f->C_Initialize(&args));
	memset(&args, 0, sizeof(args));
	args.CreateMutex = create_mutex;
	T("C_Initialize", "one mutex callback of four", f->C_Initialize(&args));
	memset(&args, 0, sizeof(args));
	args.CreateMutex = create_mutex;
	args.DestroyMutex = destroy_mutex;
	args.LockMutex = lock_mutex;
	T("C_Initialize", "three mutex callbacks of four", f->C_Initialize(&args));
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS;
	if (T("C_Initialize", "OS locking, no threads", f->C_Initialize(&args)) != CKR_OK)
		T("C_Initialize", "NULL", f->C_Initialize(NULL));
	/* A second C_Initialize is answered by the shim's entry point, and traced. */
	phase = "init2";
	T("C_Initialize", "again", f->C_Initialize(NULL));
}

static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };

/* The live phase: the module is initialised, sessions and keys exist. */
static int live(CK_SLOT_ID slot, const char *pin)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_OBJECT_CLASS secret = CKO_SECRET_KEY, data_class = CKO_DATA;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BYTE keyval[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	CK_ULONG len16 = 16;
	CK_ATTRIBUTE aes_t[] = {
		{ CKA_CLASS, &secret, sizeof(secret) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_VALUE, keyval, sizeof(keyval) },
		{ CKA_ENCRYPT, &yes, 1 },
		{ CKA_DECRYPT, &yes, 1 },
		{ CKA_WRAP, &yes, 1 },
		{ CKA_UNWRAP, &yes, 1 },
		{ CKA_EXTRACTABLE, &yes, 1 },
		{ CKA_SENSITIVE, &no, 1 },
	};
	CK_ATTRIBUTE gen_t[] = {
		{ CKA_TOKEN, &no, 1 },      { CKA_VALUE_LEN, &len16, sizeof(len16) },
		{ CKA_SENSITIVE, &yes, 1 }, { CKA_EXTRACTABLE, &no, 1 },
		{ CKA_ENCRYPT, &yes, 1 },
	};
	CK_ATTRIBUTE pub_t[] = { { CKA_TOKEN, &no, 1 },
		                 { CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		                 { CKA_VERIFY, &yes, 1 } };
	CK_ATTRIBUTE priv_t[] = { { CKA_TOKEN, &no, 1 },
		                  { CKA_SIGN, &yes, 1 },
		                  { CKA_DERIVE, &yes, 1 },
		                  { CKA_SENSITIVE, &yes, 1 } };
	CK_ATTRIBUTE unwrap_t[] = { { CKA_CLASS, &secret, sizeof(secret) },
		                    { CKA_KEY_TYPE, &aes, sizeof(aes) },
		                    { CKA_TOKEN, &no, 1 } };
	CK_ATTRIBUTE data_t[] = { { CKA_CLASS, &data_class, sizeof(data_class) },
		                  { CKA_TOKEN, &no, 1 },
		                  { CKA_LABEL, "badargs", 7 } };
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 }, cbc_noiv = { CKM_AES_CBC, NULL, 16 };
	CK_MECHANISM sha = { CKM_SHA256, NULL, 0 }, ecdsa = { CKM_ECDSA, NULL, 0 };
	CK_MECHANISM unknown = { UNKNOWN_MECH, NULL, 0 }, aesgen = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_MECHANISM ecgen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 }, wrap = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_MECHANISM derive_noparam = { CKM_ECDH1_DERIVE, NULL, 0 };
	CK_SESSION_HANDLE ro = 0, rw = 0, extra = 0;
	CK_OBJECT_HANDLE key = 0, sens = 0, pub = 0, priv = 0, data = 0, h[4], k2;
	CK_BYTE buf[512], out[512], small[4];
	CK_SLOT_ID slots[64];
	CK_MECHANISM_TYPE mechs[256];
	CK_ULONG n, m;
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_MECHANISM_INFO mi;
	CK_SESSION_INFO ssi;
	CK_ATTRIBUTE get[3];
	CK_RV rv;

	phase = "live";
	memset(buf, 0x42, sizeof(buf));

	/* ---- general and slot functions ---- */
	T("C_GetInfo", "NULL", f->C_GetInfo(NULL));
	T("C_GetInfo", "valid", f->C_GetInfo(&info));
	T("C_GetSlotList", "NULL count", f->C_GetSlotList(CK_TRUE, slots, NULL));
	T("C_GetSlotList", "NULL list, NULL count", f->C_GetSlotList(CK_FALSE, NULL, NULL));
	n = 0;
	rv = f->C_GetSlotList(CK_TRUE, NULL, &n);
	rep("C_GetSlotList", "length query", rv, "count=%lu", n);
	n = 0;
	rv = f->C_GetSlotList(CK_TRUE, slots, &n);
	rep("C_GetSlotList", "room 0", rv, "count=%lu", n);
	n = HUGE;
	rv = f->C_GetSlotList(CK_TRUE, slots, &n);
	rep("C_GetSlotList", "huge room claimed, 64 real", rv, "count=%lu", n);
	n = 64;
	rv = f->C_GetSlotList(2, slots, &n);
	rep("C_GetSlotList", "tokenPresent 2", rv, "count=%lu", n);
	T("C_GetSlotInfo", "invalid slot", f->C_GetSlotInfo(BAD_SLOT, &si));
	T("C_GetSlotInfo", "slot ~0", f->C_GetSlotInfo((CK_SLOT_ID)~0UL, &si));
	T("C_GetSlotInfo", "NULL info", f->C_GetSlotInfo(slot, NULL));
	T("C_GetSlotInfo", "NULL info, invalid slot", f->C_GetSlotInfo(BAD_SLOT, NULL));
	T("C_GetTokenInfo", "invalid slot", f->C_GetTokenInfo(BAD_SLOT, &ti));
	T("C_GetTokenInfo", "NULL info", f->C_GetTokenInfo(slot, NULL));
	T("C_GetMechanismList", "invalid slot", f->C_GetMechanismList(BAD_SLOT, mechs, &n));
	T("C_GetMechanismList", "NULL count", f->C_GetMechanismList(slot, mechs, NULL));
	n = 0;
	rv = f->C_GetMechanismList(slot, NULL, &n);
	rep("C_GetMechanismList", "length query", rv, "count=%lu", n);
	m = n;
	n = 1;
	rv = f->C_GetMechanismList(slot, mechs, &n);
	rep("C_GetMechanismList", "room 1", rv, "count=%lu", n);
	n = m <= 256 ? m : 256;
	rv = f->C_GetMechanismList(slot, mechs, &n);
	rep("C_GetMechanismList", "exact room", rv, "count=%lu", n);
	T("C_GetMechanismInfo", "invalid slot", f->C_GetMechanismInfo(BAD_SLOT, CKM_SHA256, &mi));
	T("C_GetMechanismInfo", "unknown mechanism", f->C_GetMechanismInfo(slot, UNKNOWN_MECH, &mi));
	T("C_GetMechanismInfo", "NULL info", f->C_GetMechanismInfo(slot, CKM_SHA256, NULL));
	T("C_WaitForSlotEvent", "DONT_BLOCK", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, slots, NULL));
	T("C_WaitForSlotEvent", "NULL slot", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL));
	T("C_WaitForSlotEvent", "pReserved set", f->C_WaitForSlotEvent(CKF_DONT_BLOCK, slots, buf));

	/* ---- sessions ---- */
	T("C_OpenSession", "invalid slot",
	  f->C_OpenSession(BAD_SLOT, CKF_SERIAL_SESSION, NULL, NULL, &ro));
	T("C_OpenSession", "no CKF_SERIAL_SESSION", f->C_OpenSession(slot, 0, NULL, NULL, &ro));
	T("C_OpenSession", "NULL phSession",
	  f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL));
	T("C_OpenSession", "unknown flags",
	  f->C_OpenSession(slot, CKF_SERIAL_SESSION | 0x1000, NULL, NULL, &extra));
	if (T("C_OpenSession", "read-only",
	      f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro)) != CKR_OK ||
	    T("C_OpenSession", "read-write with notify",
	      f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, buf, notify, &rw)) != CKR_OK)
		return 1;
	T("C_CloseSession", "invalid", f->C_CloseSession(BAD_SESSION));
	T("C_CloseSession", "0", f->C_CloseSession(CK_INVALID_HANDLE));
	T("C_CloseAllSessions", "invalid slot", f->C_CloseAllSessions(BAD_SLOT));
	T("C_GetSessionInfo", "invalid", f->C_GetSessionInfo(BAD_SESSION, &ssi));
	T("C_GetSessionInfo", "NULL info", f->C_GetSessionInfo(ro, NULL));
	rv = f->C_GetSessionInfo(rw, &ssi);
	rep("C_GetSessionInfo", "valid", rv, "state=%lu flags=0x%lx", ssi.state, ssi.flags);
	n = sizeof(buf);
	T("C_GetOperationState", "invalid", f->C_GetOperationState(BAD_SESSION, buf, &n));
	T("C_GetOperationState", "NULL length", f->C_GetOperationState(ro, NULL, NULL));
	n = 0;
	T("C_GetOperationState", "length query", f->C_GetOperationState(ro, NULL, &n));
	T("C_SetOperationState", "invalid", f->C_SetOperationState(BAD_SESSION, buf, 16, 0, 0));
	T("C_SetOperationState", "NULL, huge", f->C_SetOperationState(ro, NULL, HUGE, 0, 0));
	T("C_SetOperationState", "16 bytes of junk", f->C_SetOperationState(ro, buf, 16, 0, 0));

	/* ---- login ---- */
	T("C_Login", "invalid session",
	  f->C_Login(BAD_SESSION, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
	T("C_Login", "unknown user type", f->C_Login(ro, 99, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
	T("C_Login", "NULL PIN, length 6", f->C_Login(ro, CKU_USER, NULL, 6));
	T("C_Login", "NULL PIN, huge", f->C_Login(ro, CKU_USER, NULL, HUGE));
	T("C_Login", "empty PIN", f->C_Login(ro, CKU_USER, buf, 0));
	T("C_Login", "wrong PIN", f->C_Login(ro, CKU_USER, (CK_UTF8CHAR_PTR) "00000000", 8));
	T("C_Logout", "invalid", f->C_Logout(BAD_SESSION));
	T("C_Logout", "not logged in", f->C_Logout(ro));
	if (T("C_Login", "user", f->C_Login(ro, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) !=
	    CKR_OK)
		return 1;
	T("C_Login", "again", f->C_Login(rw, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
	T("C_Login", "SO while user", f->C_Login(rw, CKU_SO, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
	T("C_Login", "context-specific, no operation",
	  f->C_Login(rw, CKU_CONTEXT_SPECIFIC, (CK_UTF8CHAR_PTR)pin, strlen(pin)));

	/* ---- PIN and token management (never with the right SO PIN: the token stays) ---- */
	T("C_InitToken", "invalid slot",
	  f->C_InitToken(BAD_SLOT, (CK_UTF8CHAR_PTR) "12345678", 8, buf));
	T("C_InitToken", "NULL label", f->C_InitToken(slot, (CK_UTF8CHAR_PTR) "12345678", 8, NULL));
	T("C_InitToken", "NULL PIN", f->C_InitToken(slot, NULL, 8, buf));
	T("C_InitToken", "sessions open", f->C_InitToken(slot, (CK_UTF8CHAR_PTR) "12345678", 8, buf));
	T("C_InitPIN", "invalid session", f->C_InitPIN(BAD_SESSION, (CK_UTF8CHAR_PTR) "1234", 4));
	T("C_InitPIN", "NULL PIN", f->C_InitPIN(rw, NULL, 4));
	T("C_InitPIN", "not SO", f->C_InitPIN(rw, (CK_UTF8CHAR_PTR) "1234", 4));
	T("C_SetPIN", "invalid session",
	  f->C_SetPIN(BAD_SESSION, (CK_UTF8CHAR_PTR) "1", 1, (CK_UTF8CHAR_PTR) "2", 1));
	T("C_SetPIN", "NULL old", f->C_SetPIN(rw, NULL, 6, (CK_UTF8CHAR_PTR) "123456", 6));
	T("C_SetPIN", "NULL new", f->C_SetPIN(rw, (CK_UTF8CHAR_PTR)pin, strlen(pin), NULL, 6));
	T("C_SetPIN", "NULL both, huge", f->C_SetPIN(rw, NULL, HUGE, NULL, HUGE));
	T("C_SetPIN", "read-only session",
	  f->C_SetPIN(ro, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR)pin, strlen(pin)));
	T("C_SetPIN", "new PIN too short",
	  f->C_SetPIN(rw, (CK_UTF8CHAR_PTR)pin, strlen(pin), (CK_UTF8CHAR_PTR) "1", 1));

	/* ---- objects ---- */
	T("C_CreateObject", "invalid session", f->C_CreateObject(BAD_SESSION, aes_t, 10, &key));
	T("C_CreateObject", "NULL template, count 1", f->C_CreateObject(rw, NULL, 1, &key));
	T("C_CreateObject", "NULL template, huge", f->C_CreateObject(rw, NULL, HUGE, &key));
	T("C_CreateObject", "NULL phObject", f->C_CreateObject(rw, aes_t, 10, NULL));
	T("C_CreateObject", "empty template", f->C_CreateObject(rw, data_t, 0, &key));
	{
		CK_ATTRIBUTE nullval[] = { { CKA_CLASS, &data_class, sizeof(data_class) },
			                   { CKA_TOKEN, &no, 1 },
			                   { CKA_LABEL, NULL, 5 } };
		CK_ATTRIBUTE badlen[] = { { CKA_CLASS, &data_class, 1 }, { CKA_TOKEN, &no, 1 } };
		CK_ATTRIBUTE unknown_attr[] = { { CKA_CLASS, &data_class, sizeof(data_class) },
			                        { CKA_TOKEN, &no, 1 },
			                        { 0x7fff0001UL, buf, 4 } };
		T("C_CreateObject", "NULL value, length 5", f->C_CreateObject(rw, nullval, 3, &k2));
		T("C_CreateObject", "CKA_CLASS of 1 byte", f->C_CreateObject(rw, badlen, 2, &k2));
		T("C_CreateObject", "unknown attribute", f->C_CreateObject(rw, unknown_attr, 3, &k2));
	}
	if (T("C_CreateObject", "AES key", f->C_CreateObject(rw, aes_t, 10, &key)) != CKR_OK ||
	    T("C_CreateObject", "data object", f->C_CreateObject(rw, data_t, 3, &data)) != CKR_OK ||
	    T("C_GenerateKey", "sensitive AES key",
	      f->C_GenerateKey(rw, &aesgen, gen_t, 5, &sens)) != CKR_OK ||
	    T("C_GenerateKeyPair", "EC P-256",
	      f->C_GenerateKeyPair(rw, &ecgen, pub_t, 3, priv_t, 4, &pub, &priv)) != CKR_OK)
		return 1;
	T("C_CopyObject", "invalid session", f->C_CopyObject(BAD_SESSION, data, NULL, 0, &k2));
	T("C_CopyObject", "invalid object", f->C_CopyObject(rw, BAD_OBJECT, NULL, 0, &k2));
	T("C_CopyObject", "NULL phNewObject", f->C_CopyObject(rw, data, NULL, 0, NULL));
	T("C_CopyObject", "NULL template, count 2", f->C_CopyObject(rw, data, NULL, 2, &k2));
	T("C_DestroyObject", "invalid session", f->C_DestroyObject(BAD_SESSION, data));
	T("C_DestroyObject", "invalid object", f->C_DestroyObject(rw, BAD_OBJECT));
	T("C_DestroyObject", "object 0", f->C_DestroyObject(rw, CK_INVALID_HANDLE));
	T("C_GetObjectSize", "invalid object", f->C_GetObjectSize(rw, BAD_OBJECT, &n));
	T("C_GetObjectSize", "NULL pulSize", f->C_GetObjectSize(rw, data, NULL));

	T("C_GetAttributeValue", "invalid session",
	  f->C_GetAttributeValue(BAD_SESSION, data, get, 0));
	T("C_GetAttributeValue", "invalid object", f->C_GetAttributeValue(rw, BAD_OBJECT, get, 0));
	T("C_GetAttributeValue", "NULL template, count 1", f->C_GetAttributeValue(rw, data, NULL, 1));
	T("C_GetAttributeValue", "NULL template, huge", f->C_GetAttributeValue(rw, data, NULL, HUGE));
	T("C_GetAttributeValue", "count 0", f->C_GetAttributeValue(rw, data, get, 0));
	get[0].type = CKA_LABEL, get[0].pValue = NULL, get[0].ulValueLen = 0;
	get[1].type = 0x7fff0001UL, get[1].pValue = NULL, get[1].ulValueLen = 0;
	rv = f->C_GetAttributeValue(rw, data, get, 2);
	rep("C_GetAttributeValue", "length query, one unknown type", rv, "lens=%ld,%ld",
	    (long)get[0].ulValueLen, (long)get[1].ulValueLen);
	get[0].type = CKA_LABEL, get[0].pValue = small, get[0].ulValueLen = 2;
	get[1].type = CKA_CLASS, get[1].pValue = out, get[1].ulValueLen = sizeof(CK_OBJECT_CLASS);
	rv = f->C_GetAttributeValue(rw, data, get, 2);
	rep("C_GetAttributeValue", "label buffer too small", rv, "lens=%ld,%ld",
	    (long)get[0].ulValueLen, (long)get[1].ulValueLen);
	get[0].type = CKA_LABEL, get[0].pValue = out,
	get[0].ulValueLen = HUGE; /* room 512, claim huge */
	rv = f->C_GetAttributeValue(rw, data, get, 1);
	rep("C_GetAttributeValue", "huge room claimed", rv, "len=%ld", (long)get[0].ulValueLen);
	get[0].type = CKA_VALUE, get[0].pValue = out, get[0].ulValueLen = sizeof(out);
	get[1].type = CKA_VALUE_LEN, get[1].pValue = &n, get[1].ulValueLen = sizeof(n);
	rv = f->C_GetAttributeValue(rw, sens, get, 2);
	rep("C_GetAttributeValue", "sensitive value", rv, "lens=%ld,%ld", (long)get[0].ulValueLen,
	    (long)get[1].ulValueLen);
	get[0].type = CKA_VALUE, get[0].pValue = out, get[0].ulValueLen = sizeof(out);
	rv = f->C_GetAttributeValue(rw, key, get, 1);
	rep("C_GetAttributeValue", "extractable key value", rv, "len=%ld", (long)get[0].ulValueLen);
	T("C_SetAttributeValue", "invalid object",
	  f->C_SetAttributeValue(rw, BAD_OBJECT, data_t + 2, 1));
	T("C_SetAttributeValue", "NULL template, count 1", f->C_SetAttributeValue(rw, data, NULL, 1));
	T("C_SetAttributeValue", "change CKA_CLASS", f->C_SetAttributeValue(rw, data, aes_t, 1));
	T("C_SetAttributeValue", "read-only session, session object",
	  f->C_SetAttributeValue(ro, data, data_t + 2, 1));

	/* ---- search ---- */
	T("C_FindObjects", "not initialised", f->C_FindObjects(rw, h, 4, &n));
	T("C_FindObjectsFinal", "not initialised", f->C_FindObjectsFinal(rw));
	T("C_FindObjectsInit", "invalid session", f->C_FindObjectsInit(BAD_SESSION, NULL, 0));
	T("C_FindObjectsInit", "NULL template, count 2", f->C_FindObjectsInit(rw, NULL, 2));
	T("C_FindObjectsInit", "NULL template, huge", f->C_FindObjectsInit(rw, NULL, HUGE));
	T("C_FindObjectsInit", "data objects", f->C_FindObjectsInit(rw, data_t, 1));
	T("C_FindObjectsInit", "again", f->C_FindObjectsInit(rw, NULL, 0));
	T("C_FindObjects", "NULL handles", f->C_FindObjects(rw, NULL, 4, &n));
	T("C_FindObjects", "NULL count", f->C_FindObjects(rw, h, 4, NULL));
	n = 99;
	rv = f->C_FindObjects(rw, h, 0, &n);
	rep("C_FindObjects", "max 0", rv, "count=%lu", n);
	rv = f->C_FindObjects(rw, h, 4, &n);
	rep("C_FindObjects", "max 4", rv, "count=%lu", n);
	T("C_FindObjectsFinal", "invalid", f->C_FindObjectsFinal(BAD_SESSION));
	T("C_FindObjectsFinal", "valid", f->C_FindObjectsFinal(rw));

	/* ---- encryption: an error other than BUFFER_TOO_SMALL ends the operation ---- */
	T("C_EncryptInit", "invalid session", f->C_EncryptInit(BAD_SESSION, &ecb, key));
	T("C_EncryptInit", "NULL mechanism", f->C_EncryptInit(rw, NULL, key));
	T("C_EncryptInit", "unknown mechanism", f->C_EncryptInit(rw, &unknown, key));
	T("C_EncryptInit", "invalid key", f->C_EncryptInit(rw, &ecb, BAD_OBJECT));
	T("C_EncryptInit", "CBC, NULL IV of 16", f->C_EncryptInit(rw, &cbc_noiv, key));
	T("C_EncryptInit", "data object as key", f->C_EncryptInit(rw, &ecb, data));
	n = sizeof(out);
	T("C_Encrypt", "not initialised", f->C_Encrypt(rw, buf, 16, out, &n));
	T("C_EncryptUpdate", "not initialised", f->C_EncryptUpdate(rw, buf, 16, out, &n));
	T("C_EncryptFinal", "not initialised", f->C_EncryptFinal(rw, out, &n));
	T("C_EncryptInit", "ECB", f->C_EncryptInit(rw, &ecb, key));
	T("C_EncryptInit", "again", f->C_EncryptInit(rw, &ecb, key));
	n = 0;
	rv = f->C_Encrypt(rw, buf, 32, NULL, &n);
	rep("C_Encrypt", "length query", rv, "len=%lu", n);
	n = 4;
	rv = f->C_Encrypt(rw, buf, 32, small, &n);
	rep("C_Encrypt", "too small", rv, "len=%lu", n);
	n = HUGE;
	rv = f->C_Encrypt(rw, buf, 32, out, &n); /* room 512, claim huge */
	rep("C_Encrypt", "huge room claimed", rv, "len=%lu", n);
	T("C_Encrypt", "finished", f->C_Encrypt(rw, buf, 32, out, &n));
	T("C_EncryptInit", "ECB", f->C_EncryptInit(rw, &ecb, key));
	T("C_Encrypt", "NULL length", f->C_Encrypt(rw, buf, 32, out, NULL));
	T("C_EncryptInit", "ECB", f->C_EncryptInit(rw, &ecb, key));
	n = sizeof(out);
	T("C_Encrypt", "NULL data, 16", f->C_Encrypt(rw, NULL, 16, out, &n));
	T("C_EncryptInit", "ECB", f->C_EncryptInit(rw, &ecb, key));
	n = sizeof(out);
	T("C_Encrypt", "15 bytes for ECB", f->C_Encrypt(rw, buf, 15, out, &n));
	T("C_EncryptInit", "ECB", f->C_EncryptInit(rw, &ecb, key));
	n = sizeof(out);
	T("C_EncryptUpdate", "NULL part, huge", f->C_EncryptUpdate(rw, NULL, HUGE, out, &n));
	T("C_EncryptInit", "ECB", f->C_EncryptInit(rw, &ecb, key));
	n = sizeof(out);
	rv = f->C_EncryptUpdate(rw, buf, 0, out, &n);
	rep("C_EncryptUpdate", "0 bytes", rv, "len=%lu", n);
	n = sizeof(out);
	rv = f->C_EncryptUpdate(rw, buf, 16, out, &n);
	rep("C_EncryptUpdate", "16 bytes", rv, "len=%lu", n);
	T("C_EncryptFinal", "NULL length", f->C_EncryptFinal(rw, out, NULL));
	n = sizeof(out);
	T("C_EncryptFinal", "after error", f->C_EncryptFinal(rw, out, &n));

	T("C_DecryptInit", "NULL mechanism", f->C_DecryptInit(rw, NULL, key));
	T("C_DecryptInit", "invalid key", f->C_DecryptInit(rw, &ecb, BAD_OBJECT));
	n = sizeof(out);
	T("C_Decrypt", "not initialised", f->C_Decrypt(rw, buf, 16, out, &n));
	T("C_DecryptUpdate", "not initialised", f->C_DecryptUpdate(rw, buf, 16, out, &n));
	T("C_DecryptFinal", "not initialised", f->C_DecryptFinal(rw, out, &n));
	T("C_DecryptInit", "ECB", f->C_DecryptInit(rw, &ecb, key));
	n = 0;
	rv = f->C_Decrypt(rw, buf, 16, NULL, &n);
	rep("C_Decrypt", "length query", rv, "len=%lu", n);
	n = 1;
	rv = f->C_Decrypt(rw, buf, 16, small, &n);
	rep("C_Decrypt", "too small", rv, "len=%lu", n);
	T("C_Decrypt", "NULL length", f->C_Decrypt(rw, buf, 16, out, NULL));
	T("C_DecryptInit", "ECB", f->C_DecryptInit(rw, &ecb, key));
	n = sizeof(out);
	T("C_Decrypt", "17 bytes", f->C_Decrypt(rw, buf, 17, out, &n));
	T("C_DecryptInit", "ECB", f->C_DecryptInit(rw, &ecb, key));
	n = sizeof(out);
	T("C_DecryptUpdate", "NULL part, 16", f->C_DecryptUpdate(rw, NULL, 16, out, &n));
	T("C_DecryptInit", "ECB", f->C_DecryptInit(rw, &ecb, key));
	n = sizeof(out);
	T("C_DecryptUpdate", "16 bytes", f->C_DecryptUpdate(rw, buf, 16, out, &n));
	n = sizeof(out);
	rv = f->C_DecryptFinal(rw, out, &n);
	rep("C_DecryptFinal", "valid", rv, "len=%lu", n);

	/* ---- digests ---- */
	T("C_DigestInit", "NULL mechanism", f->C_DigestInit(rw, NULL));
	T("C_DigestInit", "unknown mechanism", f->C_DigestInit(rw, &unknown));
	n = sizeof(out);
	T("C_Digest", "not initialised", f->C_Digest(rw, buf, 16, out, &n));
	T("C_DigestUpdate", "not initialised", f->C_DigestUpdate(rw, buf, 16));
	T("C_DigestKey", "not initialised", f->C_DigestKey(rw, key));
	T("C_DigestFinal", "not initialised", f->C_DigestFinal(rw, out, &n));
	T("C_DigestInit", "SHA-256", f->C_DigestInit(rw, &sha));
	n = 0;
	rv = f->C_Digest(rw, buf, 16, NULL, &n);
	rep("C_Digest", "length query", rv, "len=%lu", n);
	n = 4;
	rv = f->C_Digest(rw, buf, 16, small, &n);
	rep("C_Digest", "too small", rv, "len=%lu", n);
	n = sizeof(out);
	rv = f->C_Digest(rw, buf, 0, out, &n);
	rep("C_Digest", "0 bytes", rv, "len=%lu", n);
	T("C_DigestInit", "SHA-256", f->C_DigestInit(rw, &sha));
	T("C_Digest", "NULL length", f->C_Digest(rw, buf, 16, out, NULL));
	T("C_DigestInit", "SHA-256", f->C_DigestInit(rw, &sha));
	T("C_DigestUpdate", "NULL part, 16", f->C_DigestUpdate(rw, NULL, 16));
	T("C_DigestInit", "SHA-256", f->C_DigestInit(rw, &sha));
	T("C_DigestKey", "invalid key", f->C_DigestKey(rw, BAD_OBJECT));
	T("C_DigestInit", "SHA-256", f->C_DigestInit(rw, &sha));
	T("C_DigestKey", "AES key", f->C_DigestKey(rw, key));
	T("C_DigestUpdate", "16 bytes", f->C_DigestUpdate(rw, buf, 16));
	T("C_DigestFinal", "NULL length", f->C_DigestFinal(rw, out, NULL));
	n = sizeof(out);
	T("C_DigestFinal", "after error", f->C_DigestFinal(rw, out, &n));

	/* ---- signatures ---- */
	T("C_SignInit", "invalid session", f->C_SignInit(BAD_SESSION, &ecdsa, priv));
	T("C_SignInit", "NULL mechanism", f->C_SignInit(rw, NULL, priv));
	T("C_SignInit", "invalid key", f->C_SignInit(rw, &ecdsa, BAD_OBJECT));
	T("C_SignInit", "public key", f->C_SignInit(rw, &ecdsa, pub));
	T("C_SignInit", "unknown mechanism", f->C_SignInit(rw, &unknown, priv));
	n = sizeof(out);
	T("C_Sign", "not initialised", f->C_Sign(rw, buf, 32, out, &n));
	T("C_SignUpdate", "not initialised", f->C_SignUpdate(rw, buf, 32));
	T("C_SignFinal", "not initialised", f->C_SignFinal(rw, out, &n));
	T("C_SignInit", "ECDSA", f->C_SignInit(rw, &ecdsa, priv));
	n = 0;
	rv = f->C_Sign(rw, buf, 32, NULL, &n);
	rep("C_Sign", "length query", rv, "len=%lu", n);
	n = 4;
	rv = f->C_Sign(rw, buf, 32, small, &n);
	rep("C_Sign", "too small", rv, "len=%lu", n);
	T("C_Sign", "NULL length", f->C_Sign(rw, buf, 32, out, NULL));
	T("C_SignInit", "ECDSA", f->C_SignInit(rw, &ecdsa, priv));
	n = sizeof(out);
	T("C_Sign", "NULL data, 32", f->C_Sign(rw, NULL, 32, out, &n));
	T("C_SignInit", "ECDSA", f->C_SignInit(rw, &ecdsa, priv));
	n = HUGE;
	rv = f->C_Sign(rw, buf, 32, out, &n); /* room 512, claim huge */
	rep("C_Sign", "huge room claimed", rv, "len=%lu", n);
	T("C_SignInit", "ECDSA", f->C_SignInit(rw, &ecdsa, priv));
	T("C_SignUpdate", "ECDSA is single-part", f->C_SignUpdate(rw, buf, 32));
	n = sizeof(out);
	T("C_SignFinal", "after error", f->C_SignFinal(rw, out, &n));
	T("C_SignRecoverInit", "NULL mechanism", f->C_SignRecoverInit(rw, NULL, priv));
	T("C_SignRecoverInit", "ECDSA", f->C_SignRecoverInit(rw, &ecdsa, priv));
	n = sizeof(out);
	T("C_SignRecover", "not initialised", f->C_SignRecover(rw, buf, 32, out, &n));
	T("C_SignRecover", "NULL", f->C_SignRecover(rw, NULL, 0, NULL, NULL));

	T("C_VerifyInit", "NULL mechanism", f->C_VerifyInit(rw, NULL, pub));
	T("C_VerifyInit", "invalid key", f->C_VerifyInit(rw, &ecdsa, BAD_OBJECT));
	T("C_Verify", "not initialised", f->C_Verify(rw, buf, 32, out, 64));
	T("C_VerifyUpdate", "not initialised", f->C_VerifyUpdate(rw, buf, 32));
	T("C_VerifyFinal", "not initialised", f->C_VerifyFinal(rw, out, 64));
	T("C_VerifyInit", "ECDSA", f->C_VerifyInit(rw, &ecdsa, pub));
	T("C_Verify", "signature of 0 bytes", f->C_Verify(rw, buf, 32, out, 0));
	T("C_VerifyInit", "ECDSA", f->C_VerifyInit(rw, &ecdsa, pub));
	T("C_Verify", "wrong signature", f->C_Verify(rw, buf, 32, buf, 64));
	T("C_VerifyInit", "ECDSA", f->C_VerifyInit(rw, &ecdsa, pub));
	T("C_Verify", "NULL signature, 64", f->C_Verify(rw, buf, 32, NULL, 64));
	T("C_VerifyInit", "ECDSA", f->C_VerifyInit(rw, &ecdsa, pub));
	T("C_Verify", "NULL data, huge", f->C_Verify(rw, NULL, HUGE, buf, 64));
	T("C_VerifyInit", "ECDSA", f->C_VerifyInit(rw, &ecdsa, pub));
	T("C_VerifyFinal", "NULL signature", f->C_VerifyFinal(rw, NULL, 64));
	T("C_VerifyRecoverInit", "NULL mechanism", f->C_VerifyRecoverInit(rw, NULL, pub));
	T("C_VerifyRecoverInit", "ECDSA", f->C_VerifyRecoverInit(rw, &ecdsa, pub));
	n = sizeof(out);
	T("C_VerifyRecover", "not initialised", f->C_VerifyRecover(rw, buf, 64, out, &n));

	/* ---- dual functions: SoftHSM2 has none of them ---- */
	n = sizeof(out);
	T("C_DigestEncryptUpdate", "invalid session",
	  f->C_DigestEncryptUpdate(BAD_SESSION, buf, 16, out, &n));
	T("C_DigestEncryptUpdate", "NULL", f->C_DigestEncryptUpdate(rw, NULL, HUGE, NULL, NULL));
	T("C_DecryptDigestUpdate", "NULL", f->C_DecryptDigestUpdate(rw, NULL, HUGE, NULL, NULL));
	T("C_SignEncryptUpdate", "NULL", f->C_SignEncryptUpdate(rw, NULL, HUGE, NULL, NULL));
	T("C_DecryptVerifyUpdate", "NULL", f->C_DecryptVerifyUpdate(rw, NULL, HUGE, NULL, NULL));

	/* ---- key management ---- */
	T("C_GenerateKey", "invalid session", f->C_GenerateKey(BAD_SESSION, &aesgen, gen_t, 5, &k2));
	T("C_GenerateKey", "NULL mechanism", f->C_GenerateKey(rw, NULL, gen_t, 5, &k2));
	T("C_GenerateKey", "NULL phKey", f->C_GenerateKey(rw, &aesgen, gen_t, 5, NULL));
	T("C_GenerateKey", "NULL template, count 5", f->C_GenerateKey(rw, &aesgen, NULL, 5, &k2));
	T("C_GenerateKey", "no CKA_VALUE_LEN", f->C_GenerateKey(rw, &aesgen, gen_t, 1, &k2));
	T("C_GenerateKey", "unknown mechanism", f->C_GenerateKey(rw, &unknown, gen_t, 5, &k2));
	T("C_GenerateKeyPair", "NULL mechanism",
	  f->C_GenerateKeyPair(rw, NULL, pub_t, 3, priv_t, 4, &k2, &k2));
	T("C_GenerateKeyPair", "NULL handles",
	  f->C_GenerateKeyPair(rw, &ecgen, pub_t, 3, priv_t, 4, NULL, NULL));
	T("C_GenerateKeyPair", "NULL templates, counts",
	  f->C_GenerateKeyPair(rw, &ecgen, NULL, 3, NULL, 4, &k2, &k2));
	T("C_GenerateKeyPair", "no EC parameters",
	  f->C_GenerateKeyPair(rw, &ecgen, pub_t, 1, priv_t, 4, &k2, &k2));
	n = sizeof(out);
	T("C_WrapKey", "invalid session", f->C_WrapKey(BAD_SESSION, &wrap, key, key, out, &n));
	T("C_WrapKey", "NULL mechanism", f->C_WrapKey(rw, NULL, key, key, out, &n));
	T("C_WrapKey", "invalid wrapping key", f->C_WrapKey(rw, &wrap, BAD_OBJECT, key, out, &n));
	T("C_WrapKey", "invalid key", f->C_WrapKey(rw, &wrap, key, BAD_OBJECT, out, &n));
	T("C_WrapKey", "NULL length", f->C_WrapKey(rw, &wrap, key, key, out, NULL));
	n = 0;
	rv = f->C_WrapKey(rw, &wrap, key, key, NULL, &n);
	rep("C_WrapKey", "length query", rv, "len=%lu", n);
	n = 4;
	rv = f->C_WrapKey(rw, &wrap, key, key, small, &n);
	rep("C_WrapKey", "too small", rv, "len=%lu", n);
	n = sizeof(out);
	rv = f->C_WrapKey(rw, &wrap, key, key, out, &n);
	rep("C_WrapKey", "AES key wrap", rv, "len=%lu", n);
	m = n;
	T("C_WrapKey", "sensitive, unextractable key",
	  f->C_WrapKey(rw, &wrap, key, sens, out + 256, &n));
	T("C_UnwrapKey", "invalid session",
	  f->C_UnwrapKey(BAD_SESSION, &wrap, key, out, m, unwrap_t, 3, &k2));
	T("C_UnwrapKey", "NULL mechanism", f->C_UnwrapKey(rw, NULL, key, out, m, unwrap_t, 3, &k2));
	T("C_UnwrapKey", "invalid key",
	  f->C_UnwrapKey(rw, &wrap, BAD_OBJECT, out, m, unwrap_t, 3, &k2));
	T("C_UnwrapKey", "NULL wrapped, 24",
	  f->C_UnwrapKey(rw, &wrap, key, NULL, 24, unwrap_t, 3, &k2));
	T("C_UnwrapKey", "NULL template, count 3",
	  f->C_UnwrapKey(rw, &wrap, key, out, m, NULL, 3, &k2));
	T("C_UnwrapKey", "NULL phKey", f->C_UnwrapKey(rw, &wrap, key, out, m, unwrap_t, 3, NULL));
	T("C_UnwrapKey", "wrapped of 0 bytes",
	  f->C_UnwrapKey(rw, &wrap, key, out, 0, unwrap_t, 3, &k2));
	T("C_UnwrapKey", "wrapped, cut short",
	  f->C_UnwrapKey(rw, &wrap, key, out, m - 8, unwrap_t, 3, &k2));
	T("C_UnwrapKey", "valid", f->C_UnwrapKey(rw, &wrap, key, out, m, unwrap_t, 3, &k2));
	T("C_DeriveKey", "invalid session",
	  f->C_DeriveKey(BAD_SESSION, &derive_noparam, priv, unwrap_t, 3, &k2));
	T("C_DeriveKey", "NULL mechanism", f->C_DeriveKey(rw, NULL, priv, unwrap_t, 3, &k2));
	T("C_DeriveKey", "invalid base key",
	  f->C_DeriveKey(rw, &derive_noparam, BAD_OBJECT, unwrap_t, 3, &k2));
	T("C_DeriveKey", "ECDH without parameters",
	  f->C_DeriveKey(rw, &derive_noparam, priv, unwrap_t, 3, &k2));
	T("C_DeriveKey", "NULL phKey", f->C_DeriveKey(rw, &derive_noparam, priv, unwrap_t, 3, NULL));

	/* ---- random, parallel functions ---- */
	T("C_SeedRandom", "invalid session", f->C_SeedRandom(BAD_SESSION, buf, 16));
	T("C_SeedRandom", "NULL seed, 16", f->C_SeedRandom(rw, NULL, 16));
	T("C_SeedRandom", "NULL seed, huge", f->C_SeedRandom(rw, NULL, HUGE));
	T("C_SeedRandom", "16 bytes", f->C_SeedRandom(rw, buf, 16));
	T("C_GenerateRandom", "invalid session", f->C_GenerateRandom(BAD_SESSION, out, 16));
	T("C_GenerateRandom", "NULL, 16", f->C_GenerateRandom(rw, NULL, 16));
	T("C_GenerateRandom", "NULL, huge", f->C_GenerateRandom(rw, NULL, HUGE));
	T("C_GenerateRandom", "0 bytes", f->C_GenerateRandom(rw, out, 0));
	T("C_GenerateRandom", "512 bytes", f->C_GenerateRandom(rw, out, sizeof(out)));
	T("C_GetFunctionStatus", "invalid", f->C_GetFunctionStatus(BAD_SESSION));
	T("C_GetFunctionStatus", "valid", f->C_GetFunctionStatus(rw));
	T("C_CancelFunction", "invalid", f->C_CancelFunction(BAD_SESSION));
	T("C_CancelFunction", "valid", f->C_CancelFunction(rw));

	/* ---- the end of a session's life ---- */
	T("C_Logout", "valid", f->C_Logout(rw));
	T("C_Logout", "again", f->C_Logout(rw));
	T("C_GetAttributeValue", "private key after logout",
	  f->C_GetAttributeValue(rw, priv, get, 1));
	T("C_CloseSession", "read-only", f->C_CloseSession(ro));
	T("C_CloseSession", "again", f->C_CloseSession(ro));
	T("C_GetSessionInfo", "closed", f->C_GetSessionInfo(ro, &ssi));
	T("C_CloseAllSessions", "valid", f->C_CloseAllSessions(slot));
	T("C_CloseSession", "after close-all", f->C_CloseSession(rw));
	T("C_FindObjectsInit", "after close-all", f->C_FindObjectsInit(rw, NULL, 0));
	(void)extra;
	return 0;
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	const char *pin = getenv("TEST_PIN");
	CK_SLOT_ID slot, list[16];
	CK_ULONG n = 16;
	void *dl;
	int rc;

	if (argc != 2 || pin == NULL) {
		fprintf(stderr, "usage: TEST_PIN=... %s MODULE\n", argv[0]);
		return 2;
	}
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL || (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL) {
		fprintf(stderr, "%s: %s\n", argv[1], dlerror());
		return 2;
	}
	phase = "pre";
	T("C_GetFunctionList", "NULL", get(NULL));
	if (get(&f) != CKR_OK)
		return 2;

	/* The slot: found with a first, throw-away initialisation. */
	phase = "setup";
	if (T("C_Initialize", "NULL", f->C_Initialize(NULL)) != CKR_OK ||
	    T("C_GetSlotList", "present", f->C_GetSlotList(CK_TRUE, list, &n)) != CKR_OK || n < 1) {
		fprintf(stderr, "setup: no token\n");
		return 2;
	}
	slot = list[0];
	T("C_Finalize", "NULL", f->C_Finalize(NULL));

	phase = "pre";
	every_function_uninitialised(slot);
	initialise();
	rc = live(slot, pin);
	phase = "fin";
	T("C_Finalize", "pReserved set", f->C_Finalize(&n));
	T("C_Finalize", "valid", f->C_Finalize(NULL));
	phase = "post";
	every_function_uninitialised(slot);
	return rc;
}
