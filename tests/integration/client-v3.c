/*
 * client-v3: a PKCS#11 3.0 client for the 3.0 test (test-v3-nss.sh), run
 * once on NSS's softokn directly and once on the shim in front of it; the
 * test compares the two outputs.
 *
 *   client-v3 MODULE PARAMS [shim]
 *
 * PARAMS: softokn's library parameters, passed in C_Initialize's
 * pReserved as NSS does. Each step prints one line "STEP: CKR_xxx
 * [details]" (interfaces: one line each, "iface 'NAME' MAJOR.MINOR").
 * With "shim", a C_LoginUser with the shim's CKU_P11SHIM_PUK follows,
 * which only the shim understands, and the shim's Card Eraser is destroyed
 * after a search that C_SessionCancel ended (the shim must know it ended). The PIN comes from CLIENT_PIN, never
 * from argv. Exit status 0; 1 when a step that must work fails; 2 on a
 * usage error.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-const.h"
#include "p11-pkcs11.h"
#include "p11shim.h"

static const char *rv_name(CK_RV rv)
{
	static char buf[32];
	const char *n = p11_const_name(P11_CONST_RV, rv);

	if (n != NULL)
		return n;
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

static void hex(const char *label, const CK_BYTE *p, CK_ULONG n)
{
	CK_ULONG i;

	printf(" %s=", label);
	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
}

int main(int argc, char **argv)
{
	static CK_BYTE key_value[16] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		                         0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	static CK_BYTE plain[] = "a message to encrypt";
	static CK_BYTE aad[] = "header";
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },   { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &no, sizeof(no) },     { CKA_ENCRYPT, &yes, sizeof(yes) },
		{ CKA_DECRYPT, &yes, sizeof(yes) }, { CKA_VALUE, key_value, sizeof(key_value) },
	};
	CK_BYTE iv[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, tag[16], out[64];
	CK_GCM_MESSAGE_PARAMS gcm = { iv, sizeof(iv), 0, CKG_NO_GENERATE, tag, 128 };
	CK_MECHANISM mech = { CKM_AES_GCM, NULL, 0 };
	CK_C_INITIALIZE_ARGS init = { 0 };
	CK_C_GetInterfaceList get_list;
	CK_C_GetInterface get_iface;
	CK_INTERFACE ifs[16], *iface = NULL;
	CK_VERSION v30 = { 3, 0 };
	CK_FUNCTION_LIST_3_0 *f;
	CK_SLOT_ID slots[8];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_ULONG i, n;
	const char *pin = getenv("CLIENT_PIN");
	bool shim;
	void *dl;
	CK_RV rv;

	if (argc < 3 || argc > 4 || pin == NULL) {
		fprintf(stderr, "usage: CLIENT_PIN=... client-v3 MODULE PARAMS [shim]\n");
		return 2;
	}
	shim = argc == 4 && strcmp(argv[3], "shim") == 0;
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "client-v3: %s\n", dlerror());
		return 1;
	}
	get_list = (CK_C_GetInterfaceList)dlsym(dl, "C_GetInterfaceList");
	get_iface = (CK_C_GetInterface)dlsym(dl, "C_GetInterface");
	if (get_list == NULL || get_iface == NULL) {
		printf("C_GetInterfaceList: not exported\n");
		return 1;
	}
	/* Before C_Initialize, as NSS and pkcs11-tool ask. */
	n = sizeof(ifs) / sizeof(ifs[0]);
	rv = get_list(ifs, &n);
	printf("C_GetInterfaceList: %s %lu\n", rv_name(rv), rv == CKR_OK ? (unsigned long)n : 0UL);
	for (i = 0; rv == CKR_OK && i < n; i++) {
		const CK_VERSION *v = ifs[i].pFunctionList;
		printf("iface '%s' %u.%u\n", (const char *)ifs[i].pInterfaceName, v->major, v->minor);
	}
	rv = get_iface((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &iface, 0);
	printf("C_GetInterface 3.0: %s\n", rv_name(rv));
	if (rv != CKR_OK)
		return 1;
	f = iface->pFunctionList;
	printf("version: %u.%u\n", f->version.major, f->version.minor);

	init.flags = CKF_OS_LOCKING_OK;
	init.pReserved = argv[2]; /* NSS: LibraryParameters */
	rv = f->C_Initialize(&init);
	printf("C_Initialize: %s\n", rv_name(rv));
	if (rv != CKR_OK)
		return 1;
	n = sizeof(slots) / sizeof(slots[0]);
	rv = f->C_GetSlotList(CK_TRUE, slots, &n);
	printf("C_GetSlotList: %s %lu\n", rv_name(rv), (unsigned long)n);
	if (rv != CKR_OK || n < 2)
		return 1;

	/* The key database's token: its user logs in (an empty password here). */
	rv = f->C_OpenSession(slots[1], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
	printf("C_OpenSession: %s\n", rv_name(rv));
	rv = f->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin),
	                    (CK_UTF8CHAR_PTR) "encoder", 7);
	printf("C_LoginUser user: %s\n", rv_name(rv));
	rv = f->C_LoginUser(s, CKU_SO, (CK_UTF8CHAR_PTR)pin, strlen(pin),
	                    (CK_UTF8CHAR_PTR) "officer", 7);
	printf("C_LoginUser so: %s\n", rv_name(rv));
	if (shim) {
		rv = f->C_LoginUser(s, CKU_P11SHIM_PUK, (CK_UTF8CHAR_PTR)pin, strlen(pin),
		                    (CK_UTF8CHAR_PTR) "officer", 7);
		printf("C_LoginUser puk: %s\n", rv_name(rv));
	}
	f->C_CloseSession(s);

	/* Message-based AES-GCM on the crypto token, with a fixed key and IV. */
	rv = f->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s);
	printf("C_OpenSession: %s\n", rv_name(rv));
	rv = f->C_CreateObject(s, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &key);
	printf("C_CreateObject: %s\n", rv_name(rv));
	rv = f->C_MessageEncryptInit(s, &mech, key);
	printf("C_MessageEncryptInit: %s\n", rv_name(rv));
	n = sizeof(out);
	rv = f->C_EncryptMessage(s, &gcm, sizeof(gcm), aad, sizeof(aad) - 1, plain,
	                         sizeof(plain) - 1, out, &n);
	printf("C_EncryptMessage: %s", rv_name(rv));
	if (rv == CKR_OK) {
		hex("ciphertext", out, n);
		hex("tag", tag, sizeof(tag));
	}
	printf("\n");
	rv = f->C_MessageEncryptFinal(s);
	printf("C_MessageEncryptFinal: %s\n", rv_name(rv));

	/* C_SessionCancel ends an operation: the next message finds none. */
	rv = f->C_MessageEncryptInit(s, &mech, key);
	printf("C_MessageEncryptInit: %s\n", rv_name(rv));
	rv = f->C_SessionCancel(s, CKF_MESSAGE_ENCRYPT);
	printf("C_SessionCancel: %s\n", rv_name(rv));
	n = sizeof(out);
	rv = f->C_EncryptMessage(s, &gcm, sizeof(gcm), aad, sizeof(aad) - 1, plain,
	                         sizeof(plain) - 1, out, &n);
	printf("C_EncryptMessage after cancel: %s\n", rv_name(rv));

	rv = f->C_CloseSession(s);
	printf("C_CloseSession: %s\n", rv_name(rv));

	if (shim) {
		CK_OBJECT_CLASS data = CKO_DATA;
		CK_ATTRIBUTE eraser[] = { { CKA_CLASS, &data, sizeof(data) },
			                  { CKA_LABEL, (CK_VOID_PTR) "Card Eraser", 11 } };
		CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
		CK_ULONG found = 0;

		f->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
		if (f->C_FindObjectsInit(s, eraser, 2) == CKR_OK) {
			f->C_FindObjects(s, &obj, 1, &found);
			f->C_FindObjectsFinal(s);
		}
		printf("Card Eraser: %lu\n", (unsigned long)found);
		rv = f->C_FindObjectsInit(s, NULL, 0);
		printf("C_FindObjectsInit: %s\n", rv_name(rv));
		rv = f->C_SessionCancel(s, CKF_FIND_OBJECTS);
		printf("C_SessionCancel find: %s\n", rv_name(rv));
		rv = f->C_DestroyObject(s, obj);
		printf("C_DestroyObject eraser after cancel: %s\n", rv_name(rv));
		f->C_CloseSession(s);
	}
	rv = f->C_Finalize(NULL);
	printf("C_Finalize: %s\n", rv_name(rv));
	return 0;
}
