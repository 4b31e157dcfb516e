/*
 * Unit tests for src/layers/numrange.c (include/p11-numrange.h; issue 4, "Serial
 * numbers"; issue 7, number-range state files): parsing with every
 * message, allocation in order with zero padding, exhaustion, status,
 * untrustworthy state files (an error, and the file left as it was),
 * range changes, a too-small buffer, threads, and a lock held by a live
 * and then by a killed process. Races between processes and kills at
 * random points are in tests/integration/test-numrange.sh.
 *
 * Every file lives in one mkdtemp folder, each test with its own state.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-support.h"

#include "p11-numrange.h"

static char dir[256];
static char err[1024];

static int group_setup(void **state)
{
	snprintf(dir, sizeof(dir), "%s/p11shim-numrange.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	char path[512];
	struct dirent *e;
	DIR *d = opendir(dir);

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(dir);
}

/* A fresh state path in the test folder: DIR/NAME, no file there yet. */
static const char *state_path(const char *name)
{
	static char path[512];
	char lock[600];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	unlink(path);
	unlink(lock);
	return path;
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* The file's contents, NUL-terminated (static; at most 1 KiB). */
static const char *read_file(const char *path, size_t *len)
{
	static char buf[1024];
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

static p11_range range(const char *text)
{
	p11_range r;

	if (!p11_range_parse(text, &r, err, sizeof(err)))
		fail_msg("%s", err);
	return r;
}

/* ---- parsing ---- */

static void test_parse_good(void **state)
{
	p11_range r;

	assert_true(p11_range_parse("100-199", &r, err, sizeof(err)));
	assert_true(r.first == 100 && r.last == 199 && r.width == 3);
	assert_true(p11_range_parse("000100-000199", &r, err, sizeof(err)));
	assert_true(r.first == 100 && r.last == 199 && r.width == 6);
	assert_true(p11_range_parse("  7 -\t9 ", &r, err, sizeof(err)));
	assert_true(r.first == 7 && r.last == 9 && r.width == 1);
	assert_true(p11_range_parse("0-0", &r, err, sizeof(err)));
	assert_true(r.first == 0 && r.last == 0 && r.width == 1);
	/* LAST may be wider than FIRST: the padding follows FIRST. */
	assert_true(p11_range_parse("0100-99999", &r, err, sizeof(err)));
	assert_true(r.first == 100 && r.last == 99999 && r.width == 4);
	assert_true(p11_range_parse("999999999999999998-999999999999999999", &r, err, sizeof(err)));
	assert_true(r.first == 999999999999999998ULL && r.last == 999999999999999999ULL &&
	            r.width == 18);
}

static void test_parse_bad(void **state)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "", "the number range is empty; write FIRST-LAST" },
		{ "   ", "the number range is empty" },
		{ "abc", "number range 'abc': FIRST is not a decimal number; write FIRST-LAST" },
		{ "-5-10", "'-5-10': FIRST is not a decimal number" },
		{ "+5-10", "FIRST is not a decimal number" },
		{ "100", "number range '100': no '-' after FIRST; write FIRST-LAST" },
		{ "100 200", "no '-' after FIRST" },
		{ "100-", "number range '100-': LAST is not a decimal number" },
		{ "100-abc", "LAST is not a decimal number" },
		{ "100-199x", "number range '100-199x': unexpected text after LAST" },
		{ "100-199-300", "unexpected text after LAST" },
		{ "0x10-0x20", "no '-' after FIRST" },
		{ "200-100", "number range '200-100': FIRST 200 is above LAST 100; write the lower "
		             "number first" },
		{ "1234567890123456789-1234567890123456790", "FIRST has more than 18 digits; use at "
		                                             "most 18" },
		{ "1-1234567890123456789", "LAST has more than 18 digits" },
	};
	p11_range r = { 1, 2, 3 };
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		if (p11_range_parse(cases[i].text, &r, err, sizeof(err)))
			fail_msg("'%s' parsed", cases[i].text);
		assert_contains(err, cases[i].msg);
	}
	/* A failed parse leaves the range alone. */
	assert_true(r.first == 1 && r.last == 2 && r.width == 3);
	assert_false(p11_range_parse(NULL, &r, err, sizeof(err)));
	assert_contains(err, "no number range given");
	/* err may be NULL or tiny: no crash, no overflow. */
	assert_false(p11_range_parse("x", &r, NULL, 0));
	assert_false(p11_range_parse("x", &r, err, 4));
	assert_int_equal(strlen(err), 3);
}

/* ---- allocation ---- */

static void test_sequence_and_exhaustion(void **state)
{
	const char *path = state_path("seq");
	p11_range r = range("000100-000104");
	char out[32], before[1024], tmp[600];
	const char *expect[] = { "000100", "000101", "000102", "000103", "000104" };
	unsigned long long last = 0;
	struct stat sb;
	bool any = true;
	size_t i;

	assert_int_equal(p11_range_status(&r, path, &last, &any, err, sizeof(err)), 0);
	assert_false(any);
	for (i = 0; i < 5; i++) {
		assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), 0);
		assert_string_equal(out, expect[i]);
		assert_int_equal(p11_range_status(&r, path, &last, &any, err, sizeof(err)), 0);
		assert_true(any);
		assert_true(last == 100 + i);
	}
	assert_string_equal(read_file(path, NULL),
	                    "p11shim-numrange 1\nrange 000100-000104\nlast 000104\n");
	/* 0600: another user may neither read nor change the state (Windows:
	 * the folder's ACL decides; the C library shows no per-user modes). */
	assert_int_equal(stat(path, &sb), 0);
#ifndef _WIN32
	assert_int_equal(sb.st_mode & 0777, 0600);
#endif
	/* No temporary file is left behind. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	assert_int_equal(access(tmp, F_OK), -1);

	snprintf(before, sizeof(before), "%s", read_file(path, NULL));
	strcpy(out, "untouched");
	assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, path);
	assert_contains(err, "number range 000100-000104 is exhausted (last handed out: 000104); "
	                     "widen [serial] NumberRange");
	assert_string_equal(out, "untouched");
	assert_string_equal(read_file(path, NULL), before);
	/* Exhausted stays exhausted. */
	assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "exhausted");
}

static void test_no_padding_and_growth(void **state)
{
	const char *path = state_path("grow");
	p11_range r = range("8-11");
	char out[8];

	assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "8");
	assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "9");
	assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "10");
}

/* A buffer too small fails before the number is recorded, so none is lost. */
static void test_small_buffer(void **state)
{
	const char *path = state_path("small");
	p11_range r = range("000100-000199");
	char out[32];

	assert_int_equal(p11_range_next(&r, path, out, 6, err, sizeof(err)), -1);
	assert_contains(err, "too small");
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(p11_range_next(&r, path, NULL, 0, err, sizeof(err)), -1);
	assert_int_equal(p11_range_next(&r, path, out, 7, err, sizeof(err)), 0);
	assert_string_equal(out, "000100");
}

static void test_bad_arguments(void **state)
{
	p11_range r = range("1-2"), bad = { 5, 4, 1 };
	unsigned long long last;
	char out[8];
	bool any;

	assert_int_equal(p11_range_next(&r, NULL, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "set [serial] NumberRangeState");
	assert_int_equal(p11_range_next(&r, "", out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "set [serial] NumberRangeState");
	assert_int_equal(p11_range_status(&r, "", &last, &any, err, sizeof(err)), -1);
	assert_int_equal(p11_range_next(&bad, state_path("bad"), out, sizeof(out), err, sizeof(err)),
	                 -1);
	assert_contains(err, "set [serial] NumberRange = FIRST-LAST");
	assert_int_equal(p11_range_next(NULL, state_path("bad"), out, sizeof(out), err, sizeof(err)),
	                 -1);
}

/* ---- state files that cannot be trusted ---- */

static void test_untrusted_state(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		const char *msg;
	} cases[] = {
#define C(s, m) { s, sizeof(s) - 1, m }
		C("", "is empty (a crash, a full disk or an editor may have truncated it)"),
		C("p11shim-num", "is truncated (in its first line)"),
		C("p11shim-numrange 1", "is truncated (in its first line)"),
		C("p11shim-numrange 1\nrange 100-1", "is truncated (before or in its 'range' line)"),
		C("p11shim-numrange 1\nrange 100-199\n",
		  "is truncated (before or in its 'last' line)"),
		C("p11shim-numrange 1\nrange 100-199\nlast 12",
		  "is truncated (before or in its 'last' line)"),
		C("serial=123\n", "not a p11shim number-range state file (it does not start with "
		                  "'p11shim-numrange')"),
		C("\x7f"
		  "ELF\x02\x01\x01\0\0\0\0",
		  "not a p11shim number-range state file (binary"),
		C("p11shim-numrange 2\nrange 100-199\nlast 120\n", "format '2' is not known to this "
		                                                   "p11shim (it knows 1)"),
		C("p11shim-numrange 1\nrange 199-100\nlast 120\n", "is corrupt (its 'range' line)"),
		C("p11shim-numrange 1\nlast 120\nrange 100-199\n", "is corrupt (its 'range' line)"),
		C("p11shim-numrange 1\nrange 100-199\nlast 1x0\n", "is corrupt ('last 1x0' is not a "
		                                                   "number)"),
		C("p11shim-numrange 1\nrange 100-199\nlast\n", "is corrupt (its 'last' line)"),
		C("p11shim-numrange 1\nrange 100-199\nlast 250\n", "is corrupt (last 250 is outside "
		                                                   "its range 100-199)"),
		C("p11shim-numrange 1\nrange 100-199\nlast 120\nlast 130\n", "is corrupt (text after "
		                                                             "the 'last' line)"),
		C("p11shim-numrange 1\r\nrange 100-199\r\nlast 120\r\n", "format '1\r' is not known"),
#undef C
	};
	const char *path = state_path("untrusted");
	p11_range r = range("100-199");
	unsigned long long last;
	const char *now;
	char out[32];
	size_t i, len;
	bool any;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file(path, cases[i].text, cases[i].len);
		err[0] = '\0';
		if (p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)) == 0)
			fail_msg("case %zu: handed out %s", i, out);
		assert_contains(err, path);
		assert_contains(err, cases[i].msg);
		/* The file stays exactly as it was, for a person to look at. */
		now = read_file(path, &len);
		assert_int_equal(len, cases[i].len);
		assert_memory_equal(now, cases[i].text, len);
		err[0] = '\0';
		assert_int_equal(p11_range_status(&r, path, &last, &any, err, sizeof(err)), -1);
		assert_contains(err, cases[i].msg);
	}
	/* Never "start again": the fix says how to recover without reusing numbers. */
	write_file(path, "", 0);
	assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "numbers may already be in use, so it is not restarted");
	assert_contains(err, "delete it only if no number of the range is in use yet");

	/* A folder is no state file. */
	assert_int_equal(p11_range_next(&r, dir, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "not a regular file");
	unlink(path);
}

/* Hand-written states in the documented format are accepted. */
static void test_handwritten_state(void **state)
{
	const char *path = state_path("hand");
	p11_range r = range("000100-000199");
	unsigned long long last = 0;
	char out[32];
	bool any = false;

	write_file(path, "p11shim-numrange 1\nrange 100-199\nlast 150\n", 42);
	assert_int_equal(p11_range_status(&r, path, &last, &any, err, sizeof(err)), 0);
	assert_true(any && last == 150);
	assert_int_equal(p11_range_next(&r, path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "000151");
	/* Rewritten with the configured width. */
	assert_string_equal(read_file(path, NULL),
	                    "p11shim-numrange 1\nrange 000100-000199\nlast 000151\n");
}

/* ---- the configured range changes ---- */

static void test_range_changed(void **state)
{
	const char *path = state_path("changed");
	p11_range r1 = range("100-199"), wider = range("100-299"), above = range("200-299"),
	          below = range("100-149"), lower = range("10-99");
	unsigned long long last = 0;
	char out[32], before[1024];
	bool any = true;

	write_file(path, "p11shim-numrange 1\nrange 100-199\nlast 150\n", 42);

	/* Below the state's last number: numbers of it may be in use. */
	snprintf(before, sizeof(before), "%s", read_file(path, NULL));
	assert_int_equal(p11_range_next(&below, path, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "the last number handed out, 150, lies above the configured range "
	                     "100-149 (the state was written for 100-199)");
	assert_contains(err, "set [serial] NumberRange to start above 150");
	assert_int_equal(p11_range_status(&lower, path, &last, &any, err, sizeof(err)), -1);
	assert_contains(err, "lies above the configured range 10-99");
	assert_string_equal(read_file(path, NULL), before);

	/* Wider: continue after the last number. */
	assert_int_equal(p11_range_next(&wider, path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "151");
	assert_contains(read_file(path, NULL), "range 100-299\nlast 151\n");

	/* The old range still fits the state (151 inside 100-199). */
	assert_int_equal(p11_range_next(&r1, path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "152");

	/* Moved above the last number: start at the new FIRST, nothing of it used yet. */
	assert_int_equal(p11_range_status(&above, path, &last, &any, err, sizeof(err)), 0);
	assert_false(any);
	assert_int_equal(p11_range_next(&above, path, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "200");
	assert_int_equal(p11_range_status(&above, path, &last, &any, err, sizeof(err)), 0);
	assert_true(any && last == 200);

	/* And back to the first range: 200 lies above it. */
	assert_int_equal(p11_range_next(&r1, path, out, sizeof(out), err, sizeof(err)), -1);
	assert_contains(err, "lies above the configured range 100-199");
}

/* ---- threads: the process's fcntl lock is shared, the mutex is not ---- */

#define THREADS 8
#define PER_THREAD 200

typedef struct {
	const p11_range *r;
	const char *path;
	unsigned long long got[PER_THREAD];
	int failed;
	char err[512];
} worker;

static void *work(void *arg)
{
	worker *w = arg;
	char out[32];
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		if (p11_range_next(w->r, w->path, out, sizeof(out), w->err, sizeof(w->err)) < 0) {
			w->failed = 1;
			break;
		}
		w->got[i] = strtoull(out, NULL, 10);
	}
	return NULL;
}

static int cmp_ull(const void *a, const void *b)
{
	unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;

	return x < y ? -1 : x > y;
}

static void test_threads(void **state)
{
	static worker w[THREADS];
	static unsigned long long all[THREADS * PER_THREAD];
	const char *path = state_path("threads");
	p11_range r = range("1000000-1999999");
	pthread_t t[THREADS];
	unsigned long long last = 0;
	bool any = false;
	size_t i, j, n = 0;

	for (i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].r = &r;
		w[i].path = path;
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		if (w[i].failed)
			fail_msg("thread %zu: %s", i, w[i].err);
		for (j = 0; j < PER_THREAD; j++)
			all[n++] = w[i].got[j];
	}
	qsort(all, n, sizeof(all[0]), cmp_ull);
	/* Distinct and, with nobody killed, without a gap. */
	for (i = 0; i < n; i++) {
		if (all[i] != 1000000 + i)
			fail_msg("number %zu is %llu, expected %zu", i, all[i], 1000000 + i);
	}
	assert_int_equal(p11_range_status(&r, path, &last, &any, err, sizeof(err)), 0);
	assert_true(any && last == 1000000 + THREADS * PER_THREAD - 1);
}

/* ---- a lock held by another process, alive and then killed ---- */

#ifdef _WIN32
/*
 * Windows has no fork(): the holder is this program again, started with
 * --hold LOCK (main below), taking the lock through the same platform
 * layer the allocator uses (LockFileEx) and waiting to be terminated.
 */
#include <windows.h>

#include "p11-compat.h"

static int hold_lock(const char *lock)
{
	char why[256];
	compat_lockfile *l = compat_lockfile_open(lock, why, sizeof(why));

	if (l == NULL || compat_lockfile_try(l, why, sizeof(why)) != 0)
		return 1;
	printf("locked\n");
	fflush(stdout);
	Sleep(INFINITE);
	return 0;
}

static void test_lock_holder(void **state)
{
	const char *path = state_path("locked");
	p11_range r = range("1-100");
	char lock[600], out[32], pidtext[32], cmd[1400], self[MAX_PATH], line[16];
	SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };
	STARTUPINFOA si;
	PROCESS_INFORMATION pi;
	HANDLE rd, wr;
	DWORD n = 0;

	(void)state;
	snprintf(lock, sizeof(lock), "%s.lock", path);
	GetModuleFileNameA(NULL, self, sizeof(self));
	snprintf(cmd, sizeof(cmd), "\"%s\" --hold \"%s\"", self, lock);
	assert_true(CreatePipe(&rd, &wr, &sa, 0));
	SetHandleInformation(rd, HANDLE_FLAG_INHERIT, 0);
	memset(&si, 0, sizeof(si));
	si.cb = sizeof(si);
	si.dwFlags = STARTF_USESTDHANDLES;
	si.hStdOutput = wr;
	si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
	si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
	assert_true(CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi));
	CloseHandle(wr);
	assert_true(ReadFile(rd, line, 7, &n, NULL) && n == 7);
	CloseHandle(rd);

	/* A live holder: a timeout naming it, and nothing handed out. */
	assert_int_equal(p11_range_next_wait(&r, path, 200, out, sizeof(out), err, sizeof(err)), -1);
	snprintf(pidtext, sizeof(pidtext), "process %lu ", (unsigned long)pi.dwProcessId);
	assert_contains(err, lock);
	assert_contains(err, pidtext);
	assert_contains(err, "more than 200 ms; look for that process");
	assert_int_equal(access(path, F_OK), -1);

	/* Killed while holding it: Windows released the lock, the next call just works. */
	assert_true(TerminateProcess(pi.hProcess, 9));
	WaitForSingleObject(pi.hProcess, INFINITE);
	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	assert_int_equal(p11_range_next_wait(&r, path, 0, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "1");
}
#else
/* A sibling thread that waits 100 ms for the lock, holding the process's own turn. */
struct sibling {
	const p11_range *r;
	const char *path;
	int rc;
};

static void *sibling_wait(void *p)
{
	struct sibling *s = p;
	char out[32], why[600];

	s->rc = p11_range_next_wait(s->r, s->path, 100, out, sizeof(out), why, sizeof(why));
	return NULL;
}

static void test_lock_holder(void **state)
{
	const char *path = state_path("locked");
	p11_range r = range("1-100");
	char lock[600], out[32], pidtext[32], c;
	int ready[2], fd, status;
	struct flock fl;
	pid_t pid;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child takes the lock the way the allocator does, then hangs. */
		fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		alarm(60); /* ends by itself when a failed check leaves it behind */
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	/* A live holder: a timeout naming it, and nothing handed out. */
	assert_int_equal(p11_range_next_wait(&r, path, 200, out, sizeof(out), err, sizeof(err)), -1);
	snprintf(pidtext, sizeof(pidtext), "process %ld ", (long)pid);
	assert_contains(err, lock);
	assert_contains(err, pidtext);
	assert_contains(err, "more than 200 ms; look for that process");
	assert_int_equal(access(path, F_OK), -1);

	/*
	 * Behind a sibling thread that waits too: the wait for the sibling
	 * counts against the timeout, and the message names the whole timeout
	 * the caller gave (it said the remainder, "199 ms", on a busy machine).
	 */
	{
		struct sibling sib = { &r, path, 0 };
		pthread_t t;

		assert_int_equal(pthread_create(&t, NULL, sibling_wait, &sib), 0);
		usleep(20 * 1000); /* the sibling is first in line */
		assert_int_equal(p11_range_next_wait(&r, path, 300, out, sizeof(out), err,
		                                     sizeof(err)),
		                 -1);
		pthread_join(t, NULL);
		assert_int_equal(sib.rc, -1);
		assert_contains(err, "more than 300 ms");
	}

	/* Killed while holding it: the kernel released the lock, the next call just works. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(p11_range_next_wait(&r, path, 0, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "1");
}
#endif

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_sequence_and_exhaustion),
		cmocka_unit_test(test_no_padding_and_growth),
		cmocka_unit_test(test_small_buffer),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_untrusted_state),
		cmocka_unit_test(test_handwritten_state),
		cmocka_unit_test(test_range_changed),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_lock_holder),
	};

#ifdef _WIN32
	if (argc == 3 && strcmp(argv[1], "--hold") == 0)
		return hold_lock(argv[2]);
#endif
	(void)argc, (void)argv;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
