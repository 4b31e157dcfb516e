/*
 * Threaded client: N threads, each with its own session, each doing M
 * ECDSA signs with the token's key labelled LABEL (the user is logged in
 * once, as PKCS#11 login state is per application). Prints the number of
 * PKCS#11 calls it made through the module, so that the test can compare
 * it with the trace. Usage: client-threads MODULE THREADS SIGNS LABEL
 * (the PIN comes from the environment variable TEST_PIN, never argv, so
 * that it does not show in process listings).
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-pkcs11.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static const char *label;
static int signs;
static atomic_long calls, failures;

#define CALL(expr) (atomic_fetch_add(&calls, 1), (expr))

static void *worker(void *arg)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_BYTE hash[32], sig[128];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_ULONG n, len;
	int i;

	memset(hash, 0x5a, sizeof(hash));
	if (CALL(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK) {
		atomic_fetch_add(&failures, 1);
		return NULL;
	}
	if (CALL(f->C_FindObjectsInit(s, tmpl, 2)) != CKR_OK ||
	    CALL(f->C_FindObjects(s, &key, 1, &n)) != CKR_OK || n != 1 ||
	    CALL(f->C_FindObjectsFinal(s)) != CKR_OK) {
		atomic_fetch_add(&failures, 1);
		goto out;
	}
	for (i = 0; i < signs; i++) {
		len = sizeof(sig);
		if (CALL(f->C_SignInit(s, &mech, key)) != CKR_OK ||
		    CALL(f->C_Sign(s, hash, sizeof(hash), sig, &len)) != CKR_OK || len != 64)
			atomic_fetch_add(&failures, 1);
	}
out:
	CALL(f->C_CloseSession(s));
	return arg;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	CK_SESSION_HANDLE login;
	const char *pin = getenv("TEST_PIN");
	pthread_t *th;
	CK_SLOT_ID list[16];
	CK_ULONG n = 16;
	int nthreads, i;
	void *dl;

	if (argc != 5 || pin == NULL) {
		fprintf(stderr, "usage: TEST_PIN=... %s MODULE THREADS SIGNS LABEL\n", argv[0]);
		return 2;
	}
	nthreads = atoi(argv[2]);
	signs = atoi(argv[3]);
	label = argv[4];
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL || (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK)
		return 2;
	if (CALL(f->C_Initialize(&args)) != CKR_OK ||
	    CALL(f->C_GetSlotList(CK_TRUE, list, &n)) != CKR_OK || n < 1 || (slot = list[0], 0) ||
	    CALL(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &login)) != CKR_OK ||
	    CALL(f->C_Login(login, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin))) != CKR_OK) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	th = calloc((size_t)nthreads, sizeof(*th));
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	free(th);
	CALL(f->C_Logout(login));
	CALL(f->C_CloseSession(login));
	CALL(f->C_Finalize(NULL));
	printf("%ld calls, %ld failures\n", atomic_load(&calls), atomic_load(&failures));
	return atomic_load(&failures) == 0 ? 0 : 1;
}
