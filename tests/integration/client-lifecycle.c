/*
 * A small PKCS#11 client for the lifecycle tests: C_Initialize with each
 * kind of locking argument, re-initialisation, and the answers before and
 * after. Usage:
 *   client-lifecycle MODULE locking   run the locking and lifecycle checks
 *   client-lifecycle MODULE init      C_Initialize(NULL), print the rv name
 *   client-lifecycle MODULE fork      C_Initialize, fork, the child initialises
 * Prints "ok - ..." lines; exits 1 on the first failure.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11-pkcs11.h"
#include "p11-const.h"

static CK_FUNCTION_LIST_PTR f;
static int mutexes_created, mutex_locks;

static CK_RV create_mutex(CK_VOID_PTR_PTR m)
{
	mutexes_created++;
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
	mutex_locks++;
	return CKR_OK;
}

static CK_RV unlock_mutex(CK_VOID_PTR m)
{
	return CKR_OK;
}

static const char *rvname(CK_RV rv)
{
	const char *n = p11_const_name(P11_CONST_RV, rv);
	static char buf[32];

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "0x%lx", rv);
	return buf;
}

static void expect(const char *what, CK_RV got, CK_RV want)
{
	if (got != want) {
		printf("FAIL: %s: got %s, expected %s\n", what, rvname(got), rvname(want));
		exit(1);
	}
	printf("ok - %s: %s\n", what, rvname(got));
}

static void slots(const char *what)
{
	CK_ULONG n = 0;

	expect(what, f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	if (n == 0) {
		printf("FAIL: %s: no slot\n", what);
		exit(1);
	}
}

static int locking(void)
{
	CK_C_INITIALIZE_ARGS args;
	CK_ULONG n;

	expect("C_GetSlotList before C_Initialize", f->C_GetSlotList(CK_FALSE, NULL, &n),
	       CKR_CRYPTOKI_NOT_INITIALIZED);
	expect("C_Finalize before C_Initialize", f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);

	expect("C_Initialize(NULL)", f->C_Initialize(NULL), CKR_OK);
	expect("second C_Initialize", f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
	slots("C_GetSlotList after C_Initialize(NULL)");
	expect("C_Finalize with pReserved set", f->C_Finalize(&n), CKR_ARGUMENTS_BAD);
	expect("C_Finalize", f->C_Finalize(NULL), CKR_OK);
	expect("C_GetSlotList after C_Finalize", f->C_GetSlotList(CK_FALSE, NULL, &n),
	       CKR_CRYPTOKI_NOT_INITIALIZED);
	expect("C_Finalize after C_Finalize", f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	expect("C_Initialize(CKF_OS_LOCKING_OK) after C_Finalize", f->C_Initialize(&args), CKR_OK);
	slots("C_GetSlotList with OS locking");
	expect("C_Finalize", f->C_Finalize(NULL), CKR_OK);

	/* The client's own mutex callbacks must reach the backend (PKCS#11 5.4). */
	memset(&args, 0, sizeof(args));
	args.CreateMutex = create_mutex;
	args.DestroyMutex = destroy_mutex;
	args.LockMutex = lock_mutex;
	args.UnlockMutex = unlock_mutex;
	expect("C_Initialize with mutex callbacks", f->C_Initialize(&args), CKR_OK);
	slots("C_GetSlotList with mutex callbacks");
	if (mutexes_created == 0 || mutex_locks == 0) {
		printf("FAIL: the backend never used the client's mutex callbacks\n");
		return 1;
	}
	printf("ok - the backend used the client's mutex callbacks (%d created, %d locks)\n",
	       mutexes_created, mutex_locks);
	expect("C_Finalize", f->C_Finalize(NULL), CKR_OK);

	memset(&args, 0, sizeof(args));
	args.CreateMutex = create_mutex; /* some but not all: PKCS#11 5.4 says bad */
	expect("C_Initialize with half the callbacks", f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
	memset(&args, 0, sizeof(args));
	args.pReserved = &n;
	expect("C_Initialize with pReserved set", f->C_Initialize(&args), CKR_ARGUMENTS_BAD);
	expect("C_Initialize after failed ones", f->C_Initialize(NULL), CKR_OK);
	expect("C_Finalize", f->C_Finalize(NULL), CKR_OK);
	return 0;
}

static int forked(void)
{
	CK_ULONG n;
	pid_t pid;
	int status;

	expect("C_Initialize in the parent", f->C_Initialize(NULL), CKR_OK);
	pid = fork();
	if (pid == 0) {
		/* PKCS#11 6.7.7: the child must initialise before use. */
		expect("child: C_GetSlotList before its C_Initialize",
		       f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
		expect("child: C_Initialize", f->C_Initialize(NULL), CKR_OK);
		slots("child: C_GetSlotList");
		expect("child: C_Finalize", f->C_Finalize(NULL), CKR_OK);
		fflush(stdout);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		printf("FAIL: the forked child failed\n");
		return 1;
	}
	slots("parent: C_GetSlotList after the child");
	expect("parent: C_Finalize", f->C_Finalize(NULL), CKR_OK);
	return 0;
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	void *dl;

	if (argc != 3) {
		fprintf(stderr, "usage: %s MODULE locking|init|fork\n", argv[0]);
		return 2;
	}
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return 2;
	}
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK)
		return 2;
	if (strcmp(argv[2], "locking") == 0)
		return locking();
	if (strcmp(argv[2], "fork") == 0)
		return forked();
	printf("%s\n", rvname(f->C_Initialize(NULL)));
	return 0;
}
