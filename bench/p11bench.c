/*
 * p11bench: what the shim costs per PKCS#11 call.
 *
 * The same calls are made on SoftHSM2 directly, through the shim with the
 * trace off, through the shim with the trace on (each Format and Data
 * setting), and through OpenSC's pkcs11-spy when it is installed. Each
 * configuration runs in a fresh process (fork + exec of this program with
 * --child), with its own P11SHIM_CONF, on a throw-away SoftHSM2 token made
 * here (softhsm2-util, SOFTHSM2_CONF in a temporary folder). The order of
 * the configurations changes from round to round (forward, backward,
 * rotated), so that a slow moment of the machine does not fall on one
 * configuration only; the figures are medians over the rounds.
 *
 * Per operation it prints wall and CPU time per call (CPU:
 * CLOCK_PROCESS_CPUTIME_ID over the timed loop, all threads), the ratio to
 * SoftHSM2 called directly, the CPU time added per call, and the trace
 * bytes per call; then the resident memory after C_Initialize, and the
 * issue's targets next to the figures. It is a benchmark, not a test: it
 * never fails on a number (exit 2 only when it cannot set up at all).
 *
 * Per round it also times one write(2) of a record (the machine's
 * yardstick) and the in-flight table's enter + exit (measure_inflight).
 *
 * init_cycle (C_Initialize + C_GetSlotList + C_Finalize, one thread, per
 * cycle) runs last in each process; the first C_Initialize of a process is
 * timed on its own. flt/1k: minor page faults per 1000 calls (getrusage).
 *
 * Usage: p11bench [--shim SO] [--backend SO] [--spy SO|none] [--softhsm2-util PROG]
 *                 [--rounds N] [--threads N] [--scale F] [--only CFG,...] [--ops OP,...]
 *                 [--keep]
 * `make bench` runs it with the module of the build tree; BENCH_FLAGS adds options.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "p11-inflight.h"
#include "p11-pkcs11.h"

#define USER_PIN "271828"
#define SO_PIN "31415926"
#define MAX_ROUNDS 64
#define MAX_THREADS 64

/* ---- what is measured ---- */

enum { K_DIRECT, K_SHIM, K_SPY };

static const struct cfg {
	const char *name;  /* for --only and the child */
	const char *label; /* in the tables */
	int kind;
	const char *format, *data; /* trace on: [trace] Format and Data */
} cfgs[] = {
	{ "direct", "SoftHSM2 directly", K_DIRECT, NULL, NULL },
	{ "off", "shim, trace off", K_SHIM, NULL, NULL },
	{ "jsonl-none", "shim, jsonl none", K_SHIM, "jsonl", "none" },
	{ "jsonl-length", "shim, jsonl length", K_SHIM, "jsonl", "length" },
	{ "jsonl-hex", "shim, jsonl hex", K_SHIM, "jsonl", "hex" },
	{ "text-none", "shim, text none", K_SHIM, "text", "none" },
	{ "text-length", "shim, text length", K_SHIM, "text", "length" },
	{ "text-hex", "shim, text hex", K_SHIM, "text", "hex" },
	{ "spy", "pkcs11-spy", K_SPY, NULL, NULL },
};
#define N_CFG (sizeof(cfgs) / sizeof(cfgs[0]))
#define CFG_DIRECT 0
#define CFG_JSONL_LENGTH 3
#define CFG_SPY 8

enum {
	OP_SLOTLIST,
	OP_TOKENINFO,
	OP_SESSION,
	OP_FIND,
	OP_GETATTR,
	OP_ECDSA,
	OP_RSA,
	OP_INIT_CYCLE,
	N_OP
};

static const struct op {
	const char *name;
	const char *label;
	int calls;  /* PKCS#11 calls per operation */
	long iters; /* operations per measurement, before --scale */
} ops[N_OP] = {
	{ "slotlist", "C_GetSlotList", 1, 200000 },
	{ "tokeninfo", "C_GetTokenInfo", 1, 100000 },
	{ "session", "C_OpenSession + C_CloseSession", 2, 40000 },
	{ "find", "C_FindObjectsInit + C_FindObjects + C_FindObjectsFinal", 3, 30000 },
	{ "getattr", "C_GetAttributeValue (6 attributes of an EC public key)", 1, 100000 },
	{ "ecdsa", "C_SignInit + C_Sign, ECDSA P-256", 2, 4000 },
	{ "rsa", "C_SignInit + C_Sign, SHA256-RSA-PKCS 2048", 2, 400 },
	/* Last, one thread: a client that initialises per job (google/pkcs11test
	 * initialises per test). Figures per cycle, not per call. */
	{ "init_cycle", "C_Initialize + C_GetSlotList + C_Finalize (per cycle)", 1, 2000 },
};

/* One measurement: an operation in one configuration, one thread count, one round. */
typedef struct {
	bool have;
	double wall, cpu; /* ns per call */
	double bytes;     /* trace bytes per call */
	double faults;    /* minor page faults per 1000 calls */
} sample;

/* ---- small helpers ---- */

static double now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "p11bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* Resident set size in KiB, from /proc/self/status (0 when unknown). */
/* A field of /proc/self/status (VmRSS), or of smaps_rollup when from names it. */
static long kib_from(const char *file, const char *field)
{
	char line[256];
	long v = 0;
	size_t n = strlen(field);
	FILE *f = fopen(file, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static long rss_kib(const char *field)
{
	return kib_from("/proc/self/status", field);
}

/*
 * The pages this process wrote (heap, stack, relocated data): what it costs
 * the machine. The rest of VmRSS is clean pages of mapped files (code,
 * read-only data), shared with every process that maps them and dropped
 * under memory pressure.
 */
static long dirty_kib(void)
{
	return kib_from("/proc/self/smaps_rollup", "Private_Dirty");
}

/*
 * Bytes of records in a trace file: its size less the NUL padding at the
 * end, which a trace that maps its file keeps ahead of its writers.
 */
static long long data_end(const char *path)
{
	unsigned char buf[65536];
	struct stat st;
	long long end;
	ssize_t n, i;
	int fd;

	if (path == NULL || path[0] == '\0')
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return 0;
	}
	end = (long long)st.st_size;
	while (end > 0) {
		long long from = end > (long long)sizeof(buf) ? end - (long long)sizeof(buf) : 0;
		n = pread(fd, buf, (size_t)(end - from), (off_t)from);
		if (n <= 0)
			break;
		for (i = n; i > 0 && buf[i - 1] == 0; i--)
			;
		if (i > 0) {
			end = from + i;
			break;
		}
		end = from;
	}
	close(fd);
	return end;
}

/* Minor page faults of this process so far (all threads). */
static long minflt(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- the child: one configuration ---- */

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE ec_key, ec_pub, rsa_key;
static pthread_barrier_t start_line, finish_line;

static CK_FUNCTION_LIST_PTR load_module(const char *path)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR list = NULL;
	void *dl;

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL)
		die("cannot load %s: %s", path, dlerror());
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (get == NULL || get(&list) != CKR_OK || list == NULL)
		die("%s: no function list", path);
	return list;
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label)
{
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)label, strlen(label) },
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	CK_ULONG n = 0;

	if (f->C_FindObjectsInit(s, t, 2) != CKR_OK)
		return CK_INVALID_HANDLE;
	if (f->C_FindObjects(s, &h, 1, &n) != CKR_OK || n != 1)
		h = CK_INVALID_HANDLE;
	f->C_FindObjectsFinal(s);
	return h;
}

typedef struct {
	int op;
	long iters;
	long failures;
} job;

/* One operation, once. Returns false when a call failed. */
static bool do_op(int op, CK_SESSION_HANDLE s)
{
	static const CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE find_t[] = {
		{ CKA_CLASS, (void *)&priv, sizeof(priv) },
		{ CKA_LABEL, "bench-ec", 8 },
	};
	CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
	CK_MECHANISM rsa = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_BYTE data[32], sig[512], label[64], id[64], point[128];
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	CK_BBOOL verify;
	CK_ATTRIBUTE get_t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },       { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_LABEL, label, sizeof(label) },    { CKA_ID, id, sizeof(id) },
		{ CKA_EC_POINT, point, sizeof(point) }, { CKA_VERIFY, &verify, sizeof(verify) },
	};
	CK_SLOT_ID slots[8];
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE s2;
	CK_OBJECT_HANDLE found[4];
	CK_ULONG n;

	switch (op) {
	case OP_SLOTLIST: n = 8; return f->C_GetSlotList(CK_TRUE, slots, &n) == CKR_OK;
	case OP_TOKENINFO: return f->C_GetTokenInfo(slot, &ti) == CKR_OK;
	case OP_SESSION:
		if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2) != CKR_OK)
			return false;
		return f->C_CloseSession(s2) == CKR_OK;
	case OP_FIND:
		if (f->C_FindObjectsInit(s, find_t, 2) != CKR_OK)
			return false;
		n = 0;
		if (f->C_FindObjects(s, found, 4, &n) != CKR_OK || n != 1) {
			f->C_FindObjectsFinal(s);
			return false;
		}
		return f->C_FindObjectsFinal(s) == CKR_OK;
	case OP_GETATTR: return f->C_GetAttributeValue(s, ec_pub, get_t, 6) == CKR_OK;
	case OP_ECDSA:
	case OP_RSA:
		memset(data, 0x5a, sizeof(data));
		if (f->C_SignInit(s, op == OP_ECDSA ? &ecdsa : &rsa,
		                  op == OP_ECDSA ? ec_key : rsa_key) != CKR_OK)
			return false;
		n = sizeof(sig);
		return f->C_Sign(s, data, sizeof(data), sig, &n) == CKR_OK;
	default: return false;
	}
}

static void *worker(void *arg)
{
	job *j = arg;
	CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
	long i;

	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
		j->failures++;
	pthread_barrier_wait(&start_line);
	for (i = 0; i < j->iters; i++)
		if (!do_op(j->op, s))
			j->failures++;
	pthread_barrier_wait(&finish_line);
	f->C_CloseSession(s);
	return NULL;
}

/* Runs iters operations spread over nthreads threads; prints one RESULT line. */
static void measure(const char *cfg, int op, int nthreads, long iters, const char *trace)
{
	pthread_t th[MAX_THREADS];
	job jobs[MAX_THREADS];
	double w0, w1, c0, c1;
	long long b0, b1;
	long failures = 0, calls, f0, f1;
	int t;

	iters -= iters % nthreads;
	pthread_barrier_init(&start_line, NULL, (unsigned)nthreads + 1);
	pthread_barrier_init(&finish_line, NULL, (unsigned)nthreads + 1);
	for (t = 0; t < nthreads; t++) {
		jobs[t].op = op;
		jobs[t].iters = iters / nthreads;
		jobs[t].failures = 0;
		if (pthread_create(&th[t], NULL, worker, &jobs[t]) != 0)
			die("pthread_create");
	}
	b0 = data_end(trace);
	pthread_barrier_wait(&start_line);
	f0 = minflt();
	w0 = now_ns(CLOCK_MONOTONIC);
	c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	pthread_barrier_wait(&finish_line);
	c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	w1 = now_ns(CLOCK_MONOTONIC);
	f1 = minflt();
	for (t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		failures += jobs[t].failures;
	}
	pthread_barrier_destroy(&start_line);
	pthread_barrier_destroy(&finish_line);
	b1 = data_end(trace);
	calls = iters * ops[op].calls;
	printf("RESULT %s %s %d %ld %.0f %.0f %lld %ld %ld\n", cfg, ops[op].name, nthreads, calls,
	       w1 - w0, c1 - c0, b1 - b0, failures, f1 - f0);
	fflush(stdout);
}

/*
 * init_cycle: C_Initialize + C_GetSlotList + C_Finalize, iters times, in
 * this thread; the module is not initialised before or after. One "call"
 * is one cycle.
 */
static void measure_cycles(const char *cfg, long iters, const char *trace)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_SLOT_ID list[8];
	CK_ULONG n;
	double w0, w1, c0, c1;
	long long b0, b1;
	long i, failures = 0, f0, f1;

	b0 = data_end(trace);
	f0 = minflt();
	w0 = now_ns(CLOCK_MONOTONIC);
	c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < iters; i++) {
		n = 8;
		if (f->C_Initialize(&args) != CKR_OK) {
			failures++;
			continue;
		}
		if (f->C_GetSlotList(CK_TRUE, list, &n) != CKR_OK)
			failures++;
		if (f->C_Finalize(NULL) != CKR_OK)
			failures++;
	}
	c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	w1 = now_ns(CLOCK_MONOTONIC);
	f1 = minflt();
	b1 = data_end(trace);
	printf("RESULT %s %s 1 %ld %.0f %.0f %lld %ld %ld\n", cfg, ops[OP_INIT_CYCLE].name, iters,
	       w1 - w0, c1 - c0, b1 - b0, failures, f1 - f0);
	fflush(stdout);
}

static int child_main(const char *cfg, const char *module, const char *trace, int nthreads,
                      double scale, const char *oplist, int round)
{
	CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
	CK_SESSION_HANDLE login;
	CK_SLOT_ID list[8];
	CK_ULONG n = 8;
	long rss_loaded, rss_init, rss_steps, dirty_steps, vm_init, iters;
	CK_INFO info;
	CK_SLOT_INFO slot_info;
	CK_TOKEN_INFO token_info;
	double cl, c0, c1;
	int op, k, mode, threads;

	cl = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	f = load_module(module);
	rss_loaded = rss_kib("VmRSS");
	c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	if (f->C_Initialize(&args) != CKR_OK)
		die("%s: C_Initialize failed", cfg);
	c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	rss_init = rss_kib("VmRSS");
	vm_init = rss_kib("VmSize");
	/* The first C_Initialize of a process: loading the backend, reading the
	 * configuration, opening the trace (the later ones may reuse them). */
	/* The shim loads the backend in its C_Initialize; directly, dlopen did:
	 * loading and the first C_Initialize are compared together too. */
	printf("FIRSTINIT %s %.0f %.0f\n", cfg, c1 - c0, c1 - cl);
	/*
	 * A client's first steps (pkcs11-tool --list-slots, SunPKCS11 and
	 * p11-kit all make them): the backend's code for them is paged in
	 * whether the shim asks (the middleware layer's C_GetInfo at
	 * C_Initialize, the readers layer's C_GetSlotInfo at the first
	 * C_GetSlotList) or the client does, about 400 KiB of SoftHSM2 and
	 * libstdc++. Resident memory after them is the shim's own cost.
	 */
	if (f->C_GetInfo(&info) != CKR_OK)
		die("%s: C_GetInfo failed", cfg);
	if (f->C_GetSlotList(CK_TRUE, list, &n) != CKR_OK || n < 1)
		die("%s: no token", cfg);
	slot = list[0];
	if (f->C_GetSlotInfo(slot, &slot_info) != CKR_OK ||
	    f->C_GetTokenInfo(slot, &token_info) != CKR_OK)
		die("%s: C_GetSlotInfo or C_GetTokenInfo failed", cfg);
	rss_steps = rss_kib("VmRSS");
	dirty_steps = dirty_kib();
	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &login) != CKR_OK ||
	    f->C_Login(login, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)) != CKR_OK)
		die("%s: cannot log in", cfg);
	ec_key = find_one(login, CKO_PRIVATE_KEY, "bench-ec");
	ec_pub = find_one(login, CKO_PUBLIC_KEY, "bench-ec");
	rsa_key = find_one(login, CKO_PRIVATE_KEY, "bench-rsa");
	if (ec_key == CK_INVALID_HANDLE || ec_pub == CK_INVALID_HANDLE || rsa_key == CK_INVALID_HANDLE)
		die("%s: the bench keys are missing", cfg);
	for (mode = 0; mode < 2; mode++) {
		threads = mode == 0 ? 1 : nthreads;
		/* The operations' order turns with the round too: the first one
		 * of a process meets a fresh trace file and cold caches. */
		for (k = 0; k < N_OP; k++) {
			op = (k + round) % N_OP;
			if (op == OP_INIT_CYCLE ||
			    (oplist != NULL && strstr(oplist, ops[op].name) == NULL))
				continue;
			iters = (long)((double)ops[op].iters * scale);
			if (iters < threads)
				iters = threads;
			/* Warm up: caches, the trace file's first pages, lazy binding. */
			measure("warmup", op, threads, iters / 20 + threads, NULL);
			measure(cfg, op, threads, iters, trace);
		}
	}
	printf("RSS %s %ld %ld %ld %ld %ld %ld %ld\n", cfg, rss_loaded, rss_init, rss_kib("VmRSS"),
	       rss_kib("VmHWM"), vm_init, rss_steps, dirty_steps);
	f->C_Logout(login);
	f->C_CloseSession(login);
	f->C_Finalize(NULL);
	if (oplist == NULL || strstr(oplist, ops[OP_INIT_CYCLE].name) != NULL) {
		iters = (long)((double)ops[OP_INIT_CYCLE].iters * scale);
		if (iters < 1)
			iters = 1;
		measure_cycles("warmup", iters / 20 + 1, NULL);
		measure_cycles(cfg, iters, trace);
	}
	return 0;
}

/* ---- the parent: token, rounds, tables ---- */

static char work[256];
static const char *opt_shim = "./.libs/p11shim.so";
static const char *opt_backend = "/usr/lib/softhsm/libsofthsm2.so";
static const char *opt_spy = "/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so";
static const char *opt_util = "softhsm2-util";
static const char *opt_only = NULL;
static const char *opt_ops = NULL;
static int opt_rounds = 5, opt_threads = 4;
static double opt_scale = 1.0;
static bool opt_keep = false;
static const char *opt_null = NULL; /* a module whose calls make no system call */

static sample results[MAX_ROUNDS][N_CFG][2][N_OP];
static double write_cost[MAX_ROUNDS];    /* CPU ns of one write(2) of a record, per round */
static double inflight_cost[MAX_ROUNDS]; /* CPU ns of one call's in-flight bookkeeping */
static long rss[MAX_ROUNDS][N_CFG][7];
static double first_init[MAX_ROUNDS][N_CFG]; /* CPU ns of the process's first C_Initialize */
static double first_load[MAX_ROUNDS][N_CFG]; /* ... with the dlopen of the module before it */
static bool ran[N_CFG];
/* [0] against SoftHSM2, [1] against --null; [trace off, on]; [C_GetSlotList, session] */
static double ab_res[2][2][2];
static bool ab_ran[2];

static int run(char *const argv[], const char *out)
{
	int status = 0;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		if (out != NULL) {
			int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* EC P-256 and RSA-2048 key pairs on the token, made on SoftHSM2 directly. */
static void make_keys(void)
{
	static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
	static const CK_BYTE e65537[] = { 0x01, 0x00, 0x01 };
	CK_BBOOL yes = CK_TRUE;
	CK_ULONG bits = 2048;
	CK_BYTE ec_id[] = { 0xec }, rsa_id[] = { 0x5a };
	CK_ATTRIBUTE ec_pub_t[] = {
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_VERIFY, &yes, 1 },
		{ CKA_LABEL, "bench-ec", 8 },
		{ CKA_ID, ec_id, 1 },
		{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
	};
	CK_ATTRIBUTE ec_priv_t[] = {
		{ CKA_TOKEN, &yes, 1 },     { CKA_SIGN, &yes, 1 },        { CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 }, { CKA_LABEL, "bench-ec", 8 }, { CKA_ID, ec_id, 1 },
	};
	CK_ATTRIBUTE rsa_pub_t[] = {
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_VERIFY, &yes, 1 },
		{ CKA_LABEL, "bench-rsa", 9 },
		{ CKA_ID, rsa_id, 1 },
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) },
		{ CKA_PUBLIC_EXPONENT, (void *)e65537, sizeof(e65537) },
	};
	CK_ATTRIBUTE rsa_priv_t[] = {
		{ CKA_TOKEN, &yes, 1 },     { CKA_SIGN, &yes, 1 },         { CKA_PRIVATE, &yes, 1 },
		{ CKA_SENSITIVE, &yes, 1 }, { CKA_LABEL, "bench-rsa", 9 }, { CKA_ID, rsa_id, 1 },
	};
	CK_MECHANISM ec_gen = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM rsa_gen = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_OBJECT_HANDLE pub, priv;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID list[8];
	CK_ULONG n = 8;

	f = load_module(opt_backend);
	if (f->C_Initialize(NULL) != CKR_OK || f->C_GetSlotList(CK_TRUE, list, &n) != CKR_OK ||
	    n < 1 ||
	    f->C_OpenSession(list[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s) != CKR_OK ||
	    f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, strlen(USER_PIN)) != CKR_OK)
		die("cannot open the bench token");
	if (f->C_GenerateKeyPair(s, &ec_gen, ec_pub_t, 5, ec_priv_t, 6, &pub, &priv) != CKR_OK ||
	    f->C_GenerateKeyPair(s, &rsa_gen, rsa_pub_t, 6, rsa_priv_t, 6, &pub, &priv) != CKR_OK)
		die("key generation failed");
	f->C_Logout(s);
	f->C_Finalize(NULL);
}

static void setup_token(void)
{
	char path[512], *argv[12];
	const char *tmp = getenv("TMPDIR");
	pid_t pid;
	int status = 0;
	FILE *fp;

	snprintf(work, sizeof(work), "%s/p11bench.XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(work) == NULL)
		die("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/tokens", work);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/softhsm2.conf", work);
	fp = fopen(path, "w");
	if (fp == NULL)
		die("%s: %s", path, strerror(errno));
	fprintf(fp,
	        "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
	        "slots.removable = false\n",
	        work);
	fclose(fp);
	setenv("SOFTHSM2_CONF", path, 1);
	argv[0] = (char *)opt_util;
	argv[1] = "--init-token";
	argv[2] = "--free";
	argv[3] = "--label";
	argv[4] = "p11bench";
	argv[5] = "--pin";
	argv[6] = USER_PIN;
	argv[7] = "--so-pin";
	argv[8] = SO_PIN;
	argv[9] = NULL;
	snprintf(path, sizeof(path), "%s/softhsm2-util.log", work);
	if (run(argv, path) != 0)
		die("%s --init-token failed (see %s)", opt_util, path);
	/* In a child: the bench process itself never loads a module. */
	pid = fork();
	if (pid == 0) {
		make_keys();
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("could not make the bench keys");
}

static bool wanted(size_t c)
{
	if (cfgs[c].kind == K_SPY && (opt_spy[0] == '\0' || access(opt_spy, R_OK) != 0))
		return false;
	if (opt_only == NULL || c == CFG_DIRECT)
		return true;
	/* A whole-word match in the comma list. */
	for (const char *p = opt_only; (p = strstr(p, cfgs[c].name)) != NULL; p++) {
		size_t n = strlen(cfgs[c].name);
		if ((p == opt_only || p[-1] == ',') && (p[n] == '\0' || p[n] == ','))
			return true;
	}
	return false;
}

/*
 * For scale: the CPU time of one write(2) of a 214-byte record (a typical
 * C_GetSlotList record) to an O_APPEND file in the work folder, the
 * system call the trace used to make per record.
 */
static double measure_write(void)
{
	char path[600], rec[214];
	double c0, c1;
	int fd, i, n = 50000;

	snprintf(path, sizeof(path), "%s/write-cost", work);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	memset(rec, 'x', sizeof(rec));
	rec[sizeof(rec) - 1] = '\n';
	c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < n; i++)
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec))
			break;
	c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	close(fd);
	unlink(path);
	return i > 0 ? (c1 - c0) / i : 0;
}

/*
 * What the in-flight table (FILE.inflight) costs a traced call: the
 * module's own p11_inflight_enter + p11_inflight_exit, linked in from the
 * core library, on a table in the same folder as the traces. The per-call
 * figures of the trace-on configurations include it; this says how much
 * of them it is. With the trace off there is no table and no cost.
 */
static double measure_inflight(void)
{
	char path[600], tpath[620], err[256];
	p11_inflight *t;
	double c0, c1;
	long i, n = (long)(2000000 * opt_scale);
	int s;

	snprintf(path, sizeof(path), "%s/inflight-cost.jsonl", work);
	t = p11_inflight_open(path, true, err, sizeof(err));
	if (t == NULL) {
		fprintf(stderr, "p11bench: in-flight table: %s\n", err);
		return 0;
	}
	c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	for (i = 0; i < n; i++) {
		s = p11_inflight_enter(t, 1, 1, (unsigned long)i, "C_GetSlotList",
		                       P11_INFLIGHT_SLOT, 0, 1);
		p11_inflight_exit(t, s);
	}
	c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	p11_inflight_close(t);
	snprintf(tpath, sizeof(tpath), "%s%s", path, P11_INFLIGHT_SUFFIX);
	unlink(tpath);
	return n > 0 ? (c1 - c0) / (double)n : 0;
}

/*
 * A P11SHIM_CONF for the shim in front of module; with format, the trace on
 * (MaxSize = 0: rotation would reset the file the bytes are counted in).
 */
static void write_conf(const char *conf, const char *module, const char *format, const char *data,
                       const char *trace)
{
	FILE *fp = fopen(conf, "w");

	if (fp == NULL)
		die("%s: %s", conf, strerror(errno));
	fprintf(fp, "[backend]\nPKCS11Library = %s\n", module);
	if (format != NULL)
		fprintf(fp, "[trace]\nFile = %s\nFormat = %s\nData = %s\nMaxSize = 0\n", trace,
		        format, data);
	fclose(fp);
}

/*
 * Forks a child whose stdout is a pipe: 0 in the child (which sets its
 * environment and execs), the child's pid in the parent, with *out reading
 * the pipe.
 */
static pid_t start_child(FILE **out)
{
	int pipefd[2];
	pid_t pid;

	if (pipe(pipefd) != 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		return 0;
	}
	close(pipefd[1]);
	*out = fdopen(pipefd[0], "r");
	return pid;
}

/* Runs one configuration in a fresh process; parses its lines into round r. */
static void run_config(const char *self, int r, size_t c)
{
	char conf[600], trace[600], thr[16], scale[32], rnd[16], line[512];
	const struct cfg *cf = &cfgs[c];
	const char *module;
	int status = 0;
	pid_t pid;
	FILE *fp;

	snprintf(trace, sizeof(trace), "%s/trace-%s-%d.%s", work, cf->name, r,
	         cf->kind == K_SPY                             ? "spy" :
	         cf->format && strcmp(cf->format, "text") == 0 ? "log" :
	                                                         "jsonl");
	snprintf(conf, sizeof(conf), "%s/p11shim-%s.conf", work, cf->name);
	module = cf->kind == K_DIRECT ? opt_backend : cf->kind == K_SPY ? opt_spy : opt_shim;
	if (cf->kind == K_SHIM)
		write_conf(conf, opt_backend, cf->format, cf->data, trace);
	pid = start_child(&fp);
	if (pid == 0) {
		if (cf->kind == K_SHIM)
			setenv("P11SHIM_CONF", conf, 1);
		if (cf->kind == K_SPY) {
			setenv("PKCS11SPY", opt_backend, 1);
			setenv("PKCS11SPY_OUTPUT", trace, 1);
		}
		snprintf(thr, sizeof(thr), "%d", opt_threads);
		snprintf(scale, sizeof(scale), "%g", opt_scale);
		snprintf(rnd, sizeof(rnd), "%d", r);
		execl("/proc/self/exe", self, "--child", cf->name, module,
		      cf->kind == K_SPY || cf->format != NULL ? trace : "", thr, scale,
		      opt_ops ? opt_ops : "", rnd, (char *)NULL);
		_exit(127);
	}
	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
		char name[64], opname[64];
		int threads, op;
		long calls, failures;
		double wall, cpu, first, load;
		long long bytes;
		long a, b, cc, d, e, g, h, faults;

		if (sscanf(line, "RESULT %63s %63s %d %ld %lf %lf %lld %ld %ld", name, opname,
		           &threads, &calls, &wall, &cpu, &bytes, &failures, &faults) == 9) {
			if (strcmp(name, "warmup") == 0)
				continue;
			for (op = 0; op < N_OP && strcmp(ops[op].name, opname) != 0; op++)
				;
			if (op == N_OP || calls <= 0)
				continue;
			if (failures > 0)
				fprintf(stderr, "p11bench: %s %s: %ld failed calls\n", cf->name,
				        opname, failures);
			results[r][c][threads == 1 ? 0 : 1][op] =
			        (sample){ true, wall / (double)calls, cpu / (double)calls,
				          (double)bytes / (double)calls,
				          1000.0 * (double)faults / (double)calls };
		} else if (sscanf(line, "RSS %63s %ld %ld %ld %ld %ld %ld %ld", name, &a, &b, &cc,
		                  &d, &e, &g, &h) == 8) {
			rss[r][c][0] = a;
			rss[r][c][1] = b;
			rss[r][c][2] = cc;
			rss[r][c][3] = d;
			rss[r][c][4] = e;
			rss[r][c][5] = g;
			rss[r][c][6] = h;
		} else if (sscanf(line, "FIRSTINIT %63s %lf %lf", name, &first, &load) == 3) {
			first_init[r][c] = first;
			first_load[r][c] = load;
		}
	}
	if (fp != NULL)
		fclose(fp);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "p11bench: %s: the child %s %d\n", cf->name,
		        WIFEXITED(status) ? "exited with" : "died of signal",
		        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	else
		ran[c] = true;
	if (!opt_keep) {
		unlink(trace);
		snprintf(line, sizeof(line), "%s.tail", trace);
		unlink(line);
	}
}

/* The median over the rounds of one field of a sample. */
static double med(size_t c, int mode, int op, int field, int *count)
{
	double v[MAX_ROUNDS];
	int r, n = 0;

	for (r = 0; r < opt_rounds; r++) {
		const sample *s = &results[r][c][mode][op];
		if (!s->have)
			continue;
		v[n++] = field == 0 ? s->wall :
		         field == 1 ? s->cpu :
		         field == 2 ? s->bytes :
		                      s->faults;
	}
	if (count != NULL)
		*count = n;
	return median(v, (size_t)n);
}

/*
 * Against SoftHSM2 directly, round by round (the same run, minutes apart at
 * most), then the median: ratio (as_ratio) or CPU ns added per call.
 */
static double paired(size_t c, int mode, int op, bool as_ratio)
{
	double v[MAX_ROUNDS];
	int r, n = 0;

	for (r = 0; r < opt_rounds; r++) {
		const sample *s = &results[r][c][mode][op], *d = &results[r][CFG_DIRECT][mode][op];
		if (!s->have || !d->have || d->cpu <= 0)
			continue;
		v[n++] = as_ratio ? s->cpu / d->cpu : s->cpu - d->cpu;
	}
	return median(v, (size_t)n);
}

static double med_rss(size_t c, int which)
{
	double v[MAX_ROUNDS];
	int r, n = 0;

	for (r = 0; r < opt_rounds; r++)
		if (rss[r][c][which] > 0)
			v[n++] = (double)rss[r][c][which];
	return median(v, (size_t)n);
}

static void print_tables(void)
{
	int mode, op, n;
	size_t c;

	for (mode = 0; mode < 2; mode++) {
		printf("\n== %d thread%s (per call; CPU = process CPU time over the loop, all threads;\n"
		       "   medians over the rounds; CPU x and +CPU ns against SoftHSM2 directly in the same round) ==\n",
		       mode == 0 ? 1 : opt_threads, mode == 0 ? "" : "s");
		for (op = 0; op < N_OP; op++) {
			double dwall;
			if (opt_ops != NULL && strstr(opt_ops, ops[op].name) == NULL)
				continue;
			dwall = med(CFG_DIRECT, mode, op, 0, &n);
			if (n == 0)
				continue;
			printf("\n%s  (%d call%s per operation)\n", ops[op].label, ops[op].calls,
			       ops[op].calls > 1 ? "s" : "");
			printf("  %-20s %11s %11s %9s %12s %9s %9s\n", "", "wall ns", "CPU ns",
			       "CPU x", "+CPU ns", "trace B", "flt/1k");
			for (c = 0; c < N_CFG; c++) {
				double wall = med(c, mode, op, 0, &n),
				       cpu = med(c, mode, op, 1, NULL);
				double bytes = med(c, mode, op, 2, NULL),
				       faults = med(c, mode, op, 3, NULL);
				if (n == 0)
					continue;
				printf("  %-20s %11.0f %11.0f %9.3f", cfgs[c].label, wall, cpu,
				       paired(c, mode, op, true));
				if (c == CFG_DIRECT)
					printf(" %12s %9s", "", "");
				else if (cfgs[c].kind == K_SHIM && cfgs[c].format == NULL)
					printf(" %+12.0f %9s", paired(c, mode, op, false), "");
				else
					printf(" %+12.0f %9.0f", paired(c, mode, op, false), bytes);
				printf(" %9.1f\n", faults);
			}
			(void)dwall;
		}
	}
	printf("\n== memory (KiB, median; VmRSS after dlopen, after C_Initialize, after the first\n"
	       "   steps (C_GetInfo, C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo), at the end; VmHWM;\n"
	       "   against SoftHSM2 directly: resident after C_Initialize and after the first steps,\n"
	       "   of that written by the process (Private_Dirty), virtual after C_Initialize) ==\n");
	for (c = 0; c < N_CFG; c++) {
		if (!ran[c])
			continue;
		printf("  %-20s %7.0f %7.0f %7.0f %7.0f %7.0f   %+5.0f %+5.0f RSS %+5.0f dirty %+6.0f "
		       "VmSize\n",
		       cfgs[c].label, med_rss(c, 0), med_rss(c, 1), med_rss(c, 5), med_rss(c, 2),
		       med_rss(c, 3), med_rss(c, 1) - med_rss(CFG_DIRECT, 1),
		       med_rss(c, 5) - med_rss(CFG_DIRECT, 5), med_rss(c, 6) - med_rss(CFG_DIRECT, 6),
		       med_rss(c, 4) - med_rss(CFG_DIRECT, 4));
	}
	printf("\n== the first C_Initialize of a process (CPU us, median; alone, and with the\n"
	       "   dlopen of the module before it: the shim loads the backend in C_Initialize) ==\n");
	for (c = 0; c < N_CFG; c++) {
		double v[MAX_ROUNDS], w[MAX_ROUNDS];
		int r;
		if (!ran[c])
			continue;
		for (r = 0, n = 0; r < opt_rounds; r++)
			if (first_init[r][c] > 0) {
				w[n] = first_load[r][c];
				v[n++] = first_init[r][c];
			}
		printf("  %-20s %9.0f %9.0f\n", cfgs[c].label, median(v, (size_t)n) / 1000,
		       median(w, (size_t)n) / 1000);
	}
}

/* The targets next to the figures; informative only. */
static void print_targets(void)
{
	double off, on, spy;
	int n;

	printf("\n== targets (CPU time, medians, same run) ==\n");
	{
		double v[MAX_ROUNDS];
		int r;
		for (r = 0; r < opt_rounds; r++)
			v[r] = write_cost[r];
		printf("  for scale: one write(2) of a 214-byte record to the same file system costs %.0f ns CPU here\n",
		       median(v, (size_t)opt_rounds));
		for (r = 0; r < opt_rounds; r++)
			v[r] = inflight_cost[r];
		printf("  in-flight table (FILE.inflight), its part of a traced call: %.0f ns CPU "
		       "(enter + exit, 1 thread; none with the trace off)\n",
		       median(v, (size_t)opt_rounds));
	}
#define ADDED(c, mode, op) paired((c), (mode), (op), false)
	if (ran[1]) {
		off = ADDED(1, 0, OP_SLOTLIST);
		printf("  trace off, C_GetSlotList: %+.0f ns per call (target <= 40)\n", off);
		off = paired(1, 0, OP_ECDSA, true);
		if (off > 0)
			printf("  trace off, ECDSA P-256 sign: %+.2f%% (target <= 2%%)\n",
			       (off - 1) * 100);
		off = paired(1, 0, OP_INIT_CYCLE, true);
		if (off > 0)
			printf("  trace off, init cycle: %.2fx direct (target <= 1.2x)\n", off);
		printf("  trace off, resident after the first steps: %+.0f KiB beyond the backend's "
		       "(target <= 256; after C_Initialize alone %+.0f), of which written %+.0f\n",
		       med_rss(1, 5) - med_rss(CFG_DIRECT, 5), med_rss(1, 1) - med_rss(CFG_DIRECT, 1),
		       med_rss(1, 6) - med_rss(CFG_DIRECT, 6));
	}
	if (ran[CFG_JSONL_LENGTH]) {
		int ops_on[] = { OP_SLOTLIST, OP_SESSION };
		for (size_t i = 0; i < 2; i++) {
			if (med(CFG_JSONL_LENGTH, 0, ops_on[i], 1, &n) <= 0 || n == 0)
				continue;
			on = ADDED(CFG_JSONL_LENGTH, 0, ops_on[i]);
			printf("  trace on (jsonl, length), %s: %+.0f ns per call (target <= 200",
			       ops[ops_on[i]].label, on);
			if (ran[CFG_SPY]) {
				spy = ADDED(CFG_SPY, 0, ops_on[i]);
				printf("; pkcs11-spy adds %.0f, a twentieth is %.0f", spy, spy / 20);
			}
			printf(")\n");
		}
		on = paired(CFG_JSONL_LENGTH, 0, OP_ECDSA, true);
		if (on > 0)
			printf("  trace on (jsonl, length), ECDSA P-256 sign: %+.2f%% (target <= 5%%)\n",
			       (on - 1) * 100);
		on = paired(CFG_JSONL_LENGTH, 0, OP_INIT_CYCLE, true);
		if (on > 0)
			printf("  trace on (jsonl, length), init cycle: %.2fx direct (target <= 2x)\n",
			       on);
		printf("  trace on, resident after the first steps: %+.0f KiB beyond the backend's "
		       "(target <= 256, trace windows aside; after C_Initialize alone %+.0f), of which "
		       "written %+.0f\n",
		       med_rss(CFG_JSONL_LENGTH, 5) - med_rss(CFG_DIRECT, 5),
		       med_rss(CFG_JSONL_LENGTH, 1) - med_rss(CFG_DIRECT, 1),
		       med_rss(CFG_JSONL_LENGTH, 6) - med_rss(CFG_DIRECT, 6));
		printf("  ... and at the end of the run: %+.0f KiB\n",
		       med_rss(CFG_JSONL_LENGTH, 2) - med_rss(CFG_DIRECT, 2));
	}
#undef ADDED
	if (ab_ran[1])
		printf("  the shim's own work (against --null, in one process), C_GetSlotList: trace off "
		       "%+.0f ns (target <= 40), trace on %+.0f ns (target <= 200)\n",
		       ab_res[1][0][0], ab_res[1][1][0]);
}

/*
 * In one process: the direct calls and the shim's alternate in batches of
 * 2000, so that neither a slow moment of the machine nor the layout of a
 * process falls on one side only (the tables above compare processes).
 * The module is loaded twice, directly from a copy and by the shim from
 * its own path, two instances that share nothing.
 *
 * Against SoftHSM2 and against --null, a module that makes no system call
 * (make bench: tests/integration/crashmod). SoftHSM2 makes one in every
 * call (getpid, its fork check), and on some virtual machines (this CI
 * kind, a PVM guest) a system call leaves the CPU's translation, data and
 * branch caches cold for the shim's code and data after it. Against
 * --null, the difference is the shim's own CPU time.
 */
#define AB_BATCH 2000

static double ab_batch(CK_FUNCTION_LIST_PTR fl, int op, CK_SLOT_ID at)
{
	CK_SLOT_ID list[8];
	CK_ULONG n;
	CK_SESSION_HANDLE h;
	double c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	int i;

	for (i = 0; i < AB_BATCH; i++) {
		if (op == OP_SLOTLIST) {
			n = 8;
			fl->C_GetSlotList(CK_TRUE, list, &n);
		} else if (fl->C_OpenSession(at, CKF_SERIAL_SESSION, NULL, NULL, &h) == CKR_OK) {
			fl->C_CloseSession(h);
		}
	}
	return now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

/* Child: the shim (its P11SHIM_CONF names module) against a copy of module, loaded directly. */
static int ab_main(const char *label, const char *shim, const char *copy, int rounds)
{
	CK_FUNCTION_LIST_PTR d = load_module(copy), s = load_module(shim);
	int ops_ab[] = { OP_SLOTLIST, OP_SESSION };
	CK_SLOT_ID list[8], ds, ss;
	CK_ULONG n = 8;
	double diff[MAX_ROUNDS * 8];
	size_t i;
	int r;

	if (d->C_Initialize(NULL) != CKR_OK || s->C_Initialize(NULL) != CKR_OK)
		die("%s: C_Initialize failed", label);
	if (d->C_GetSlotList(CK_TRUE, list, &n) != CKR_OK || n < 1)
		die("%s: the module has no slot", copy);
	ds = list[0];
	n = 8;
	if (s->C_GetSlotList(CK_TRUE, list, &n) != CKR_OK || n < 1)
		die("%s: no slot through the shim", label);
	ss = list[0];
	for (i = 0; i < 2; i++) {
		int op = ops_ab[i], k = rounds * 8;
		ab_batch(d, op, ds);
		ab_batch(s, op, ss);
		for (r = 0; r < k; r++) {
			double a = ab_batch(d, op, ds), b = ab_batch(s, op, ss);
			diff[r] = (b - a) / AB_BATCH / ops[op].calls;
		}
		printf("ABRESULT %s %s %.1f\n", label, ops[op].name, median(diff, (size_t)k));
	}
	s->C_Finalize(NULL);
	d->C_Finalize(NULL);
	return 0;
}

static void run_ab(const char *self, int which, const char *module, const char *what)
{
	static const struct {
		const char *label, *text;
		bool trace;
	} modes[] = {
		{ "off", "trace off", false },
		{ "on", "trace on (jsonl, length)", true },
	};
	char copy[600], conf[600], trace[600], rounds[16], line[512];
	double(*res)[2] = ab_res[which];
	size_t m;

	snprintf(copy, sizeof(copy), "%s/ab-direct.so", work);
	{
		char *cp[] = { "cp", (char *)module, copy, NULL };
		if (run(cp, NULL) != 0)
			die("cannot copy %s", module);
	}
	snprintf(rounds, sizeof(rounds), "%d", opt_rounds);
	for (m = 0; m < 2; m++) {
		pid_t pid;
		FILE *fp;

		snprintf(conf, sizeof(conf), "%s/p11shim-ab-%s.conf", work, modes[m].label);
		snprintf(trace, sizeof(trace), "%s/trace-ab.jsonl", work);
		write_conf(conf, module, modes[m].trace ? "jsonl" : NULL, "length", trace);
		pid = start_child(&fp);
		if (pid == 0) {
			setenv("P11SHIM_CONF", conf, 1);
			execl("/proc/self/exe", self, "--ab", modes[m].label, opt_shim, copy,
			      rounds, (char *)NULL);
			_exit(127);
		}
		while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
			char label[16], opname[32];
			double v;
			if (sscanf(line, "ABRESULT %15s %31s %lf", label, opname, &v) == 3)
				res[m][strcmp(opname, ops[OP_SLOTLIST].name) == 0 ? 0 : 1] = v;
		}
		if (fp != NULL)
			fclose(fp);
		waitpid(pid, NULL, 0);
		unlink(trace);
	}
	unlink(copy);
	ab_ran[which] = true;
	printf("\n== %s\n   (CPU ns added per call, 1 thread; direct and shim alternate in batches in\n"
	       "   one process, median over %d batch pairs) ==\n",
	       what, opt_rounds * 8);
	printf("                           %14s  %s\n", ops[OP_SLOTLIST].label,
	       ops[OP_SESSION].label);
	for (m = 0; m < 2; m++)
		printf("  shim, %-24s %+9.0f  %+9.0f\n", modes[m].text, res[m][0], res[m][1]);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: p11bench [--shim SO] [--backend SO] [--spy SO|none] [--softhsm2-util PROG]\n"
	        "                [--rounds N] [--threads N] [--scale F] [--only CFG,...] [--ops OP,...] [--keep]\n"
	        "                [--null SO]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct utsname u;
	char cpu[256] = "", line[512];
	int i, r;
	size_t k, c;
	FILE *fp;

	if (argc == 6 && strcmp(argv[1], "--ab") == 0)
		return ab_main(argv[2], argv[3], argv[4], atoi(argv[5]));
	if (argc == 9 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2], argv[3], argv[4], atoi(argv[5]), atof(argv[6]),
		                  argv[7][0] ? argv[7] : NULL, atoi(argv[8]));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--keep") == 0) {
			opt_keep = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--shim") == 0)
			opt_shim = v;
		else if (strcmp(a, "--backend") == 0)
			opt_backend = v;
		else if (strcmp(a, "--spy") == 0)
			opt_spy = strcmp(v, "none") == 0 ? "" : v;
		else if (strcmp(a, "--softhsm2-util") == 0)
			opt_util = v;
		else if (strcmp(a, "--rounds") == 0)
			opt_rounds = atoi(v);
		else if (strcmp(a, "--threads") == 0)
			opt_threads = atoi(v);
		else if (strcmp(a, "--scale") == 0)
			opt_scale = atof(v);
		else if (strcmp(a, "--only") == 0)
			opt_only = v;
		else if (strcmp(a, "--ops") == 0)
			opt_ops = v;
		else if (strcmp(a, "--null") == 0)
			opt_null = v;
		else
			usage();
	}
	if (opt_rounds < 1 || opt_rounds > MAX_ROUNDS || opt_threads < 2 ||
	    opt_threads > MAX_THREADS || opt_scale <= 0)
		usage();
	if (access(opt_backend, R_OK) != 0)
		die("no backend at %s (SoftHSM2: apt-get install softhsm2)", opt_backend);
	if (access(opt_shim, R_OK) != 0)
		die("no shim at %s (build it: make)", opt_shim);
	fp = fopen("/proc/cpuinfo", "r");
	while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, "model name", 10) == 0 && strchr(line, ':') != NULL) {
			snprintf(cpu, sizeof(cpu), "%s", strchr(line, ':') + 2);
			cpu[strcspn(cpu, "\n")] = '\0';
			break;
		}
	}
	if (fp != NULL)
		fclose(fp);
	uname(&u);
	printf("p11bench: %s, %ld CPUs, %s %s; %d rounds, %d threads, scale %g\n",
	       cpu[0] ? cpu : u.machine, sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release,
	       opt_rounds, opt_threads, opt_scale);
	printf("  backend %s\n  shim    %s\n  spy     %s\n", opt_backend, opt_shim,
	       wanted(CFG_SPY) ? opt_spy : "(not installed: skipped)");
	fflush(stdout);
	signal(SIGPIPE, SIG_IGN);
	setup_token();
	for (r = 0; r < opt_rounds; r++) {
		size_t order[N_CFG];
		/* Forward in even rounds, backward in odd ones, rotated by the round. */
		for (k = 0; k < N_CFG; k++) {
			size_t j = (k + (size_t)r) % N_CFG;
			order[k] = r % 2 ? N_CFG - 1 - j : j;
		}
		write_cost[r] = measure_write();
		inflight_cost[r] = measure_inflight();
		fprintf(stderr, "p11bench: round %d/%d:", r + 1, opt_rounds);
		for (k = 0; k < N_CFG; k++) {
			c = order[k];
			if (!wanted(c))
				continue;
			fprintf(stderr, " %s", cfgs[c].name);
			run_config(argv[0], r, c);
		}
		fprintf(stderr, "\n");
	}
	print_tables();
	run_ab(argv[0], 0, opt_backend, "against SoftHSM2, in one process");
	if (opt_null != NULL)
		run_ab(argv[0], 1, opt_null,
		       "the shim's own work: against --null, a module that makes no system call");
	print_targets();
	if (opt_keep) {
		printf("\nkept %s\n", work);
	} else {
		char *rm[] = { "rm", "-rf", work, NULL };
		run(rm, NULL);
	}
	return 0;
}
