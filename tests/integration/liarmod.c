/*
 * A backend that lies: a PKCS#11 module that forwards every call to a real
 * module (P11LIAR_MODULE, SoftHSM2 in the tests) and lies in one way,
 * chosen by P11LIAR:
 *
 *   slots-huge   C_GetSlotList answers CKR_OK with a count of 100000
 *   slots-over   C_GetSlotList with a list: the count 3 over the buffer
 *   mechs-huge   C_GetMechanismList answers CKR_OK with a count of 100000
 *   mechs-over   C_GetMechanismList with a list: the count 5 over the buffer
 *   attr-len     C_GetAttributeValue: every value's ulValueLen 48 bytes
 *                larger than the buffer it was written into
 *   out-len      C_Sign, C_Encrypt, C_Digest: the length 4096 bytes larger
 *                than the buffer
 *   finalize     C_Finalize answers CKR_FUNCTION_FAILED and leaves the real
 *                module initialised
 *
 * It only lies about counts and lengths: it never writes past a buffer
 * itself, so whatever goes past one afterwards is the shim's doing (the
 * test runs the shim under ASan).
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-pkcs11.h"

#define EXPORT __attribute__((visibility("default")))

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST list;
static const char *lie = "";

static int lying(const char *what)
{
	return strcmp(lie, what) == 0;
}

static CK_RV liar_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR p, CK_ULONG_PTR n)
{
	CK_RV rv = real->C_GetSlotList(present, p, n);

	if (rv != CKR_OK || n == NULL)
		return rv;
	if (lying("slots-huge"))
		*n = 100000;
	else if (lying("slots-over") && p != NULL)
		*n += 3;
	return rv;
}

static CK_RV liar_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR p, CK_ULONG_PTR n)
{
	CK_RV rv = real->C_GetMechanismList(slot, p, n);

	if (rv != CKR_OK || n == NULL)
		return rv;
	if (lying("mechs-huge"))
		*n = 100000;
	else if (lying("mechs-over") && p != NULL)
		*n += 5;
	return rv;
}

static CK_RV liar_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                    CK_ULONG n)
{
	CK_RV rv = real->C_GetAttributeValue(s, o, t, n);
	CK_ULONG i;

	if (rv == CKR_OK && lying("attr-len"))
		for (i = 0; i < n; i++)
			if (t[i].pValue != NULL && t[i].ulValueLen != CK_UNAVAILABLE_INFORMATION)
				t[i].ulValueLen += 48;
	return rv;
}

static CK_RV out_len(CK_RV rv, CK_BYTE_PTR p, CK_ULONG_PTR n)
{
	if (rv == CKR_OK && p != NULL && n != NULL && lying("out-len"))
		*n += 4096;
	return rv;
}

static CK_RV liar_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR p, CK_ULONG_PTR n)
{
	return out_len(real->C_Sign(s, d, dn, p, n), p, n);
}

static CK_RV liar_Encrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR p,
                          CK_ULONG_PTR n)
{
	return out_len(real->C_Encrypt(s, d, dn, p, n), p, n);
}

static CK_RV liar_Digest(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dn, CK_BYTE_PTR p,
                         CK_ULONG_PTR n)
{
	return out_len(real->C_Digest(s, d, dn, p, n), p, n);
}

static CK_RV liar_Finalize(CK_VOID_PTR reserved)
{
	if (lying("finalize"))
		return CKR_FUNCTION_FAILED;
	return real->C_Finalize(reserved);
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR pp)
{
	CK_C_GetFunctionList get;
	const char *path = getenv("P11LIAR_MODULE");
	void *dl;

	if (pp == NULL)
		return CKR_ARGUMENTS_BAD;
	if (real == NULL) {
		if (path == NULL || (dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL ||
		    (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
		    get(&real) != CKR_OK) {
			fprintf(stderr, "liarmod: cannot load P11LIAR_MODULE=%s\n",
			        path ? path : "(unset)");
			real = NULL;
			return CKR_GENERAL_ERROR;
		}
		if (getenv("P11LIAR") != NULL)
			lie = getenv("P11LIAR");
		list = *real;
		list.C_GetSlotList = liar_GetSlotList;
		list.C_GetMechanismList = liar_GetMechanismList;
		list.C_GetAttributeValue = liar_GetAttributeValue;
		list.C_Sign = liar_Sign;
		list.C_Encrypt = liar_Encrypt;
		list.C_Digest = liar_Digest;
		list.C_Finalize = liar_Finalize;
	}
	*pp = &list;
	return CKR_OK;
}
