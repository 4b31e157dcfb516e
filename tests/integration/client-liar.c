/*
 * The client of tests/integration/test-robust-liar.sh: every call a lie of
 * tests/integration/liarmod touches, with output buffers allocated to their
 * exact size (so that ASan sees a read or write past them) and, after the
 * buffers that receive values, a planted canary (so that a read past them
 * shows in the trace). It reads the counts and lengths it gets back only to
 * print them, never to index its buffers: what goes past a buffer is the
 * shim's doing.
 *
 * usage: client-liar MODULE PIN; prints one line per call: "C_X: RV n=N".
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-const.h"
#include "p11-pkcs11.h"

#define CANARY "PIN-CANARY-93xQ-7kLm-PIN-CANARY-93xQ-7kLm-PIN-CANARY-93xQ-7kLm!"

static CK_FUNCTION_LIST_PTR f;
static int failed;

static const char *rvname(CK_RV rv)
{
	static char buf[32];
	const char *n = p11_const_name(P11_CONST_RV, rv);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

/* After the call: C leaves the order of a call's arguments open. */
#define SHOW(fn, call, n)          \
	do {                       \
		CK_RV r_ = (call); \
		show(fn, r_, n);   \
	} while (0)

static CK_RV show(const char *fn, CK_RV rv, CK_ULONG n)
{
	printf("%s: %s n=%lu\n", fn, rvname(rv), (unsigned long)n);
	return rv;
}

static CK_RV must(const char *fn, CK_RV rv)
{
	printf("%s: %s\n", fn, rvname(rv));
	if (rv != CKR_OK)
		failed = 1;
	return rv;
}

/* A buffer of exactly `n` bytes, then the canary, in one allocation. */
static CK_BYTE *with_canary(size_t n)
{
	CK_BYTE *p = malloc(n + sizeof(CANARY));

	if (p == NULL)
		abort();
	memset(p, 0, n);
	memcpy(p + n, CANARY, sizeof(CANARY));
	return p;
}

static CK_SLOT_ID slot_list(void)
{
	CK_SLOT_ID_PTR list;
	CK_SLOT_ID slot;
	CK_ULONG n = 0, asked;
	CK_RV rv;

	SHOW("C_GetSlotList(NULL)", f->C_GetSlotList(CK_TRUE, NULL, &n), n);
	/* A count too large to be true is not allocated. */
	asked = n > 0 && n < 4096 ? n : 256;
	list = malloc(asked * sizeof(*list));
	if (list == NULL)
		abort();
	list[0] = (CK_SLOT_ID)-1;
	n = asked;
	rv = f->C_GetSlotList(CK_TRUE, list, &n);
	show("C_GetSlotList", rv, n);
	slot = list[0];
	if (rv != CKR_OK || slot == (CK_SLOT_ID)-1) {
		/* The length query lied: a list the size of the real one. */
		CK_SLOT_ID big[64];
		n = 64;
		if (f->C_GetSlotList(CK_TRUE, big, &n) == CKR_OK)
			slot = big[0];
	}
	free(list);
	return slot;
}

static void mechanisms(CK_SLOT_ID slot)
{
	CK_MECHANISM_TYPE_PTR list;
	CK_ULONG n = 0, asked;

	SHOW("C_GetMechanismList(NULL)", f->C_GetMechanismList(slot, NULL, &n), n);
	asked = n > 0 && n < 4096 ? n : 256;
	list = malloc(asked * sizeof(*list));
	n = asked;
	SHOW("C_GetMechanismList", f->C_GetMechanismList(slot, list, &n), n);
	free(list);
}

static CK_OBJECT_HANDLE key(CK_SESSION_HANDLE s, CK_KEY_TYPE type, CK_ATTRIBUTE_TYPE use,
                            const char *label)
{
	static CK_BYTE value[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
		                     1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &type, sizeof(type) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_LABEL, (void *)label, strlen(label) },
		{ use, &yes, 1 },
		{ CKA_VALUE, value, type == CKK_AES ? 16 : sizeof(value) },
	};
	CK_OBJECT_HANDLE h = 0;

	must("C_CreateObject", f->C_CreateObject(s, t, 6, &h));
	return h;
}

static void attributes(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	CK_BYTE *label = with_canary(8), *id = malloc(1);
	CK_ATTRIBUTE t[] = {
		{ CKA_LABEL, label, 8 },
		{ CKA_CLASS, NULL, 0 },
	};
	CK_ULONG n;

	SHOW("C_GetAttributeValue", f->C_GetAttributeValue(s, h, t, 1), t[0].ulValueLen);
	/* A length query, then the value into a buffer of that size. */
	SHOW("C_GetAttributeValue(NULL)", f->C_GetAttributeValue(s, h, t + 1, 1), t[1].ulValueLen);
	n = sizeof(CK_OBJECT_CLASS);
	t[1].pValue = with_canary(n);
	t[1].ulValueLen = n;
	SHOW("C_GetAttributeValue(class)", f->C_GetAttributeValue(s, h, t + 1, 1), t[1].ulValueLen);
	free(t[1].pValue);
	free(label);
	free(id);
}

static void outputs(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE hmac, CK_OBJECT_HANDLE aes)
{
	CK_MECHANISM sha = { CKM_SHA256, NULL, 0 }, mac = { CKM_SHA256_HMAC, NULL, 0 },
	             ecb = { CKM_AES_ECB, NULL, 0 };
	CK_BYTE data[16];
	CK_BYTE *out;
	CK_ULONG n;

	memset(data, 0x5a, sizeof(data));
	out = with_canary(32);
	n = 32;
	if (must("C_DigestInit", f->C_DigestInit(s, &sha)) == CKR_OK)
		SHOW("C_Digest", f->C_Digest(s, data, sizeof(data), out, &n), n);
	free(out);
	out = with_canary(32);
	n = 32;
	if (must("C_SignInit", f->C_SignInit(s, &mac, hmac)) == CKR_OK)
		SHOW("C_Sign", f->C_Sign(s, data, sizeof(data), out, &n), n);
	free(out);
	out = with_canary(16);
	n = 16;
	if (must("C_EncryptInit", f->C_EncryptInit(s, &ecb, aes)) == CKR_OK)
		SHOW("C_Encrypt", f->C_Encrypt(s, data, sizeof(data), out, &n), n);
	free(out);
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE hmac, aes;
	CK_SLOT_ID slot;
	CK_RV rv;
	void *dl;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MODULE PIN\n", argv[0]);
		return 2;
	}
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL || (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK) {
		fprintf(stderr, "client-liar: cannot load %s\n", argv[1]);
		return 2;
	}
	if (must("C_Initialize", f->C_Initialize(NULL)) != CKR_OK)
		return 1;
	slot = slot_list();
	mechanisms(slot);
	if (must("C_OpenSession", f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL,
	                                           NULL, &s)) == CKR_OK &&
	    must("C_Login", f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[2], strlen(argv[2]))) ==
	            CKR_OK) {
		hmac = key(s, CKK_GENERIC_SECRET, CKA_SIGN, "liar-mac");
		aes = key(s, CKK_AES, CKA_ENCRYPT, "liar-aes");
		attributes(s, hmac);
		outputs(s, hmac, aes);
		f->C_CloseSession(s);
	}
	/* A C_Finalize that fails must not leave the shim initialised for good. */
	rv = f->C_Finalize(NULL);
	printf("C_Finalize: %s\n", rvname(rv));
	must("C_Initialize (again)", f->C_Initialize(NULL));
	rv = f->C_Finalize(NULL);
	printf("C_Finalize (again): %s\n", rvname(rv));
	return failed;
}
