/*
 * Trace load client (issue 8): THREADS threads, each making ROUNDS rounds
 * of cheap calls through MODULE as fast as it can, so that the trace sink
 * sees many records at once: C_GetSlotList, C_OpenSession, C_GetSessionInfo,
 * C_GetTokenInfo, C_CloseSession per round. Prints "calls=N failures=F".
 * With START it prints "ready" after C_Initialize and waits for the file
 * START to exist before the threads start, so that several processes start
 * together. Usage: client-trace-load MODULE THREADS ROUNDS [START]
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11-pkcs11.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static int rounds;
static atomic_long calls, failures;

static void check(CK_RV rv)
{
	atomic_fetch_add(&calls, 1);
	if (rv != CKR_OK)
		atomic_fetch_add(&failures, 1);
}

static void *worker(void *arg)
{
	CK_SESSION_HANDLE s;
	CK_SESSION_INFO si;
	CK_TOKEN_INFO ti;
	CK_SLOT_ID list[8];
	CK_ULONG n;
	int i;

	for (i = 0; i < rounds; i++) {
		n = 8;
		check(f->C_GetSlotList(CK_TRUE, list, &n));
		check(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s));
		check(f->C_GetSessionInfo(s, &si));
		if (i % 16 == 0)
			check(f->C_GetTokenInfo(slot, &ti)); /* slow in SoftHSM2: now and then */
		check(f->C_CloseSession(s));
	}
	return arg;
}

int main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_C_GetFunctionList get;
	CK_SLOT_ID list[8];
	CK_ULONG n = 8;
	pthread_t *th;
	int nthreads, i;
	void *dl;

	if (argc < 4) {
		fprintf(stderr, "usage: %s MODULE THREADS ROUNDS [START]\n", argv[0]);
		return 2;
	}
	nthreads = atoi(argv[2]);
	rounds = atoi(argv[3]);
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL || (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK)
		return 2;
	check(f->C_Initialize(&args));
	check(f->C_GetSlotList(CK_TRUE, list, &n));
	if (atomic_load(&failures) != 0 || n < 1) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	slot = list[0];
	if (argc > 4) {
		printf("ready\n");
		fflush(stdout);
		for (i = 0; access(argv[4], F_OK) != 0; i++) {
			if (i > 60000)
				return 1;
			usleep(1000);
		}
	}
	th = calloc((size_t)nthreads, sizeof(*th));
	if (th == NULL)
		return 1;
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	free(th);
	check(f->C_Finalize(NULL));
	printf("calls=%ld failures=%ld\n", atomic_load(&calls), atomic_load(&failures));
	return atomic_load(&failures) == 0 ? 0 : 1;
}
