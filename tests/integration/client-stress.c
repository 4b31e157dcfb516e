/*
 * client-stress: threads, processes and lifecycles against one module
 * (issue 7, "Threads and processes", "Faults"). Every call made through
 * the module is counted, with its return value, so that the test can
 * compare the counts with the trace record by record. The PIN comes from
 * the environment variable TEST_PIN (never argv).
 *
 *   client-stress MODULE threads N ROUNDS os|callbacks LABEL
 *       N threads, each ROUNDS times: C_OpenSession, C_Login (CKR_OK, or
 *       CKR_USER_ALREADY_LOGGED_IN when another thread's session is logged
 *       in: the login state is the application's, PKCS#11 6.7.4),
 *       C_FindObjectsInit/C_FindObjects/C_FindObjectsFinal of the private
 *       key LABEL, C_SignInit, C_Sign, C_CloseSession; and every fourth
 *       round a C_Logout followed by a C_Login. The logout/login pair runs
 *       while no other thread is between its login and its signature (a
 *       read-write lock in this client: readers sign, the writer logs out),
 *       so no call can fail for a reason that is the workload's own race.
 *       os: CKF_OS_LOCKING_OK; callbacks: the client's own mutex callbacks
 *       (pthread mutexes; mutex_ops counts their creations and locks).
 *   client-stress MODULE cycles N
 *       N times C_Initialize (alternately NULL, CKF_OS_LOCKING_OK and the
 *       mutex callbacks), C_GetSlotList, C_OpenSession, C_GetTokenInfo,
 *       C_CloseSession, C_Finalize.
 *   client-stress MODULE loop N [wait]
 *       C_Initialize, then N rounds of C_GetInfo, C_GetSlotList,
 *       C_GetSlotInfo, C_GetTokenInfo, C_OpenSession, C_GetSessionInfo,
 *       C_CloseSession, then C_Finalize. With wait: after half the rounds
 *       prints "half" and waits for a line on stdin (the test acts), and
 *       prints the longest call in microseconds at the end.
 *   client-stress MODULE fork N THREADS
 *       forked children initialise while other threads call (see forks()).
 *
 * Prints "calls=N ok=N already=N other=N failures=N max_us=N mutex_ops=N"; before it, for
 * each failure, a line naming the call and its rv. Exits 1 on a failure.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11-const.h"
#include "p11-pkcs11.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static const char *label, *pin;
static int rounds;
static atomic_long calls, oks, already, others, failures, max_us;
static atomic_long mutex_ops;
static pthread_rwlock_t login_lock = PTHREAD_RWLOCK_INITIALIZER;

static const char *rvname(CK_RV rv)
{
	static __thread char buf[32];
	const char *n = p11_const_name(P11_CONST_RV, rv);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

static long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Counts one call; `allowed` is an rv besides CKR_OK that is no failure. */
static CK_RV counted(const char *what, CK_RV rv, CK_RV allowed, long start)
{
	long took = now_us() - start, m;

	atomic_fetch_add(&calls, 1);
	m = atomic_load(&max_us);
	while (took > m && !atomic_compare_exchange_weak(&max_us, &m, took))
		;
	if (rv == CKR_OK) {
		atomic_fetch_add(&oks, 1);
	} else if (rv == allowed && rv == CKR_USER_ALREADY_LOGGED_IN) {
		atomic_fetch_add(&already, 1);
	} else if (rv == allowed) {
		atomic_fetch_add(&others, 1);
	} else {
		atomic_fetch_add(&failures, 1);
		fprintf(stderr, "FAILED: %s: %s\n", what, rvname(rv));
	}
	return rv;
}

#define C(what, allowed, call) (t0 = now_us(), counted(what, (call), (allowed), t0))

/* The client's own mutexes (PKCS#11 5.4): pthread mutexes, counted. */
static CK_RV create_mutex(CK_VOID_PTR_PTR m)
{
	pthread_mutex_t *p = malloc(sizeof(*p));

	if (p == NULL)
		return CKR_HOST_MEMORY;
	pthread_mutex_init(p, NULL);
	*m = p;
	atomic_fetch_add(&mutex_ops, 1);
	return CKR_OK;
}

static CK_RV destroy_mutex(CK_VOID_PTR m)
{
	pthread_mutex_destroy(m);
	free(m);
	return CKR_OK;
}

static CK_RV lock_mutex(CK_VOID_PTR m)
{
	atomic_fetch_add(&mutex_ops, 1);
	return pthread_mutex_lock(m) == 0 ? CKR_OK : CKR_MUTEX_BAD;
}

static CK_RV unlock_mutex(CK_VOID_PTR m)
{
	return pthread_mutex_unlock(m) == 0 ? CKR_OK : CKR_MUTEX_NOT_LOCKED;
}

static void init_args(CK_C_INITIALIZE_ARGS *a, const char *locking)
{
	memset(a, 0, sizeof(*a));
	if (strcmp(locking, "os") == 0) {
		a->flags = CKF_OS_LOCKING_OK;
	} else {
		a->CreateMutex = create_mutex;
		a->DestroyMutex = destroy_mutex;
		a->LockMutex = lock_mutex;
		a->UnlockMutex = unlock_mutex;
	}
}

static int first_slot(void)
{
	CK_SLOT_ID list[16];
	CK_ULONG n = 16;
	long t0;

	if (C("C_GetSlotList", CKR_OK, f->C_GetSlotList(CK_TRUE, list, &n)) != CKR_OK || n < 1)
		return -1;
	slot = list[0];
	return 0;
}

static void *worker(void *arg)
{
	long id = (long)arg, t0;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_BYTE hash[32], sig[256];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_ULONG n, len;
	int r;

	memset(hash, (int)id, sizeof(hash));
	for (r = 0; r < rounds; r++) {
		if (C("C_OpenSession", CKR_OK,
		      f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
			continue;
		pthread_rwlock_rdlock(&login_lock);
		C("C_Login", CKR_USER_ALREADY_LOGGED_IN,
		  f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
		n = 0;
		if (C("C_FindObjectsInit", CKR_OK, f->C_FindObjectsInit(s, tmpl, 2)) == CKR_OK) {
			C("C_FindObjects", CKR_OK, f->C_FindObjects(s, &key, 1, &n));
			C("C_FindObjectsFinal", CKR_OK, f->C_FindObjectsFinal(s));
		}
		if (n == 1 && C("C_SignInit", CKR_OK, f->C_SignInit(s, &mech, key)) == CKR_OK) {
			len = sizeof(sig);
			C("C_Sign", CKR_OK, f->C_Sign(s, hash, sizeof(hash), sig, &len));
		} else if (n != 1) {
			atomic_fetch_add(&failures, 1);
			fprintf(stderr, "FAILED: thread %ld round %d: key '%s' not found\n", id, r,
			        label);
		}
		pthread_rwlock_unlock(&login_lock);
		if ((r + id) % 4 == 0) {
			/* Nobody signs meanwhile: the logout cannot break another thread's call. */
			pthread_rwlock_wrlock(&login_lock);
			C("C_Logout", CKR_OK, f->C_Logout(s));
			C("C_Login", CKR_OK,
			  f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)));
			pthread_rwlock_unlock(&login_lock);
		}
		C("C_CloseSession", CKR_OK, f->C_CloseSession(s));
	}
	return NULL;
}

static int threads(int n, const char *locking)
{
	CK_C_INITIALIZE_ARGS args;
	pthread_t *th;
	long i, t0;

	init_args(&args, locking);
	if (C("C_Initialize", CKR_OK, f->C_Initialize(&args)) != CKR_OK || first_slot() != 0)
		return 1;
	th = calloc((size_t)n, sizeof(*th));
	if (th == NULL)
		return 1;
	for (i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	free(th);
	C("C_Finalize", CKR_OK, f->C_Finalize(NULL));
	return 0;
}

static int cycles(int n)
{
	static const char *const locking[] = { NULL, "os", "callbacks" };
	CK_C_INITIALIZE_ARGS args;
	CK_SESSION_HANDLE s;
	CK_TOKEN_INFO ti;
	long t0;
	int i;

	for (i = 0; i < n; i++) {
		if (locking[i % 3] != NULL)
			init_args(&args, locking[i % 3]);
		if (C("C_Initialize", CKR_OK, f->C_Initialize(locking[i % 3] ? &args : NULL)) !=
		            CKR_OK ||
		    first_slot() != 0)
			return 1;
		if (C("C_OpenSession", CKR_OK,
		      f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) == CKR_OK) {
			C("C_GetTokenInfo", CKR_OK, f->C_GetTokenInfo(slot, &ti));
			C("C_CloseSession", CKR_OK, f->C_CloseSession(s));
		}
		if (C("C_Finalize", CKR_OK, f->C_Finalize(NULL)) != CKR_OK)
			return 1;
	}
	return 0;
}

static int loop(int n, int wait)
{
	CK_INFO info;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SESSION_INFO ssi;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID list[16];
	CK_ULONG cnt;
	long t0;
	int i;

	if (C("C_Initialize", CKR_OK, f->C_Initialize(NULL)) != CKR_OK || first_slot() != 0)
		return 1;
	for (i = 0; i < n; i++) {
		if (wait && i == n / 2) {
			char line[16];
			printf("half\n");
			fflush(stdout);
			if (read(0, line, sizeof(line)) < 0)
				return 1;
		}
		cnt = 16;
		C("C_GetInfo", CKR_OK, f->C_GetInfo(&info));
		C("C_GetSlotList", CKR_OK, f->C_GetSlotList(CK_FALSE, list, &cnt));
		C("C_GetSlotInfo", CKR_OK, f->C_GetSlotInfo(slot, &si));
		C("C_GetTokenInfo", CKR_OK, f->C_GetTokenInfo(slot, &ti));
		if (C("C_OpenSession", CKR_OK,
		      f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s)) == CKR_OK) {
			C("C_GetSessionInfo", CKR_OK, f->C_GetSessionInfo(s, &ssi));
			C("C_CloseSession", CKR_OK, f->C_CloseSession(s));
		}
	}
	C("C_Finalize", CKR_OK, f->C_Finalize(NULL));
	return 0;
}

/*
 * fork N THREADS: THREADS threads call the module without pause while the
 * main thread forks N children, one after the other; each child (whose
 * copy of any lock another thread held at the fork may be locked forever)
 * calls C_Initialize, C_GetSlotList, C_GetInfo, C_Finalize (PKCS#11 6.7.7)
 * and exits; a child that hangs is killed by its alarm and
 * counted as a failure (after 10 s), as is any failed call of a child or the parent.
 */
static atomic_int stop;

static void *busy(void *arg)
{
	CK_INFO info;
	CK_SLOT_ID list[16];
	CK_ULONG n;
	long t0;

	int i;

	(void)arg;
	/* Calls all the time, but a bounded number: a hanging child must not
	 * make the trace grow for the whole time its alarm takes. */
	for (i = 0; i < 20000 && !atomic_load(&stop); i++) {
		n = 16;
		C("C_GetInfo", CKR_OK, f->C_GetInfo(&info));
		C("C_GetSlotList", CKR_OK, f->C_GetSlotList(CK_FALSE, list, &n));
	}
	return NULL;
}

static int forks(int n, int nthreads)
{
	CK_C_INITIALIZE_ARGS args;
	pthread_t th[16];
	long t0, child_calls = 0;
	int i, status;

	init_args(&args, "os");
	if (nthreads > 16)
		nthreads = 16;
	if (C("C_Initialize", CKR_OK, f->C_Initialize(&args)) != CKR_OK || first_slot() != 0)
		return 1;
	for (i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, busy, NULL);
	for (i = 0; i < n; i++) {
		pid_t pid;
		usleep(2000);
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			CK_INFO info;
			CK_SLOT_ID list[16];
			CK_ULONG cnt = 16;
			int bad = 0;
			alarm(10);
			/* Before its own C_Initialize the child may not use the module. */
			bad |= f->C_GetInfo(&info) != CKR_CRYPTOKI_NOT_INITIALIZED;
			bad |= f->C_Initialize(&args) != CKR_OK;
			bad |= f->C_GetSlotList(CK_TRUE, list, &cnt) != CKR_OK || cnt < 1;
			bad |= f->C_GetInfo(&info) != CKR_OK;
			bad |= f->C_Finalize(NULL) != CKR_OK;
			_exit(bad ? 3 : 0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			atomic_fetch_add(&failures, 1);
			fprintf(stderr, "FAILED: forked child %d: %s %d\n", i,
			        pid > 0 && WIFSIGNALED(status) ? "killed by signal" : "exit",
			        pid > 0 && WIFSIGNALED(status) ? WTERMSIG(status) :
			                                         WEXITSTATUS(status));
		} else {
			child_calls +=
			        4; /* traced: C_Initialize, C_GetSlotList, C_GetInfo, C_Finalize */
		}
	}
	atomic_store(&stop, 1);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	C("C_Finalize", CKR_OK, f->C_Finalize(NULL));
	printf("children=%d child_calls=%ld\n", n, child_calls);
	return 0;
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	void *dl;
	int rc = 2;

	pin = getenv("TEST_PIN");
	if (argc < 4) {
		fprintf(stderr,
		        "usage: %s MODULE threads N ROUNDS os|callbacks LABEL | cycles N | loop N [wait] | "
		        "fork N THREADS\n",
		        argv[0]);
		return 2;
	}
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL || (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK) {
		fprintf(stderr, "client-stress: cannot load %s\n", argv[1]);
		return 2;
	}
	if (strcmp(argv[2], "threads") == 0 && argc == 7 && pin != NULL) {
		rounds = atoi(argv[4]);
		label = argv[6];
		rc = threads(atoi(argv[3]), argv[5]);
	} else if (strcmp(argv[2], "cycles") == 0) {
		rc = cycles(atoi(argv[3]));
	} else if (strcmp(argv[2], "fork") == 0 && argc == 5) {
		rc = forks(atoi(argv[3]), atoi(argv[4]));
	} else if (strcmp(argv[2], "loop") == 0) {
		rc = loop(atoi(argv[3]), argc > 4 && strcmp(argv[4], "wait") == 0);
	} else {
		fprintf(stderr, "client-stress: bad arguments\n");
		return 2;
	}
	printf("calls=%ld ok=%ld already=%ld other=%ld failures=%ld max_us=%ld mutex_ops=%ld\n",
	       atomic_load(&calls), atomic_load(&oks), atomic_load(&already), atomic_load(&others),
	       atomic_load(&failures), atomic_load(&max_us), atomic_load(&mutex_ops));
	/* No dlclose: the module may have threads of its own (PKCS#11 clients rarely unload). */
	return rc != 0 ? rc : atomic_load(&failures) != 0;
}
