/*
 * Unit tests for the trace sink (src/trace/sink_posix.c, include/p11-trace-sink.h,
 * include/p11-trace-ring.h): room reserved in the companion FILE.tail, records
 * staged in its buffers and written to the file a buffer at a time.
 *
 * What must hold whatever happens: every record whole and in one piece,
 * none lost or doubled by threads and processes sharing the file, the
 * file 0600 and never opened through a symbolic link, what is staged
 * readable while it is (p11_ring_pending) and written to the file by the
 * process at close, exit or crash, or after a kill by the next process to
 * open it, with no NUL left, rotation at MaxSize, a removed or truncated file
 * replaced, a full disk reported once with the calls going on, and the
 * one-write-per-record fallback where FILE.tail cannot be made.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-support.h"

#include "p11-trace-ring.h"
#include "p11-trace-sink.h"

static char dir[256];

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static off_t size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---- records: "{"p":P,"t":T,"i":I,"x":"yyyy"}\n", of varied lengths ---- */

static size_t make_record(char *buf, size_t cap, unsigned long p, unsigned t, unsigned long i,
                          size_t pad)
{
	int n = snprintf(buf, cap, "{\"p\":%lu,\"t\":%u,\"i\":%lu,\"x\":\"", p, t, i);
	size_t o = (size_t)n;

	assert_true(n > 0 && o + pad + 3 <= cap);
	memset(buf + o, 'a' + (char)(i % 26), pad);
	o += pad;
	memcpy(buf + o, "\"}\n", 3);
	return o + 3;
}

/* A record's length varies with i: 40 to about 600 bytes. */
static size_t pad_for(unsigned long i)
{
	return (i * 7919) % 560;
}

typedef struct {
	char *text; /* NULs removed */
	size_t size, nuls, lines;
	bool whole; /* ends after a record */
} content;

static void read_file(const char *path, content *c)
{
	FILE *f = fopen(path, "rb");
	size_t i, o = 0, raw;
	struct stat st;

	memset(c, 0, sizeof(*c));
	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &st), 0);
	raw = (size_t)st.st_size;
	c->text = malloc(raw + 1);
	assert_non_null(c->text);
	assert_int_equal(fread(c->text, 1, raw, f), raw);
	fclose(f);
	for (i = 0; i < raw; i++) {
		if (c->text[i] == '\0')
			c->nuls++;
		else
			c->text[o++] = c->text[i];
	}
	c->text[o] = '\0';
	c->size = o;
	c->whole = o == 0 || c->text[o - 1] == '\n';
	for (i = 0; i < o; i++)
		if (c->text[i] == '\n')
			c->lines++;
}

/* What a reader of a live trace sees: the file, then what is staged in FILE.tail. */
static void read_live(const char *path, content *c)
{
	char *staged = NULL, *all;
	size_t n, i, o;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	read_file(path, c);
	n = p11_ring_pending(path, fd, &staged);
	close(fd);
	all = malloc(c->size + n + 1);
	assert_non_null(all);
	memcpy(all, c->text, c->size);
	for (i = 0, o = c->size; i < n; i++)
		if (staged[i] != '\0')
			all[o++] = staged[i];
	all[o] = '\0';
	for (i = c->size; i < o; i++)
		if (all[i] == '\n')
			c->lines++;
	free(c->text);
	free(staged);
	c->text = all;
	c->size = o;
	c->whole = o == 0 || all[o - 1] == '\n';
}

/* The last record of a whole file. */
static const char *last_line(const content *c)
{
	size_t i;

	assert_true(c->size > 0 && c->whole);
	for (i = c->size - 1; i > 0 && c->text[i - 1] != '\n'; i--)
		;
	return c->text + i;
}

/*
 * Checks every line is a whole record made by make_record, and marks
 * seen[p_index * threads * per + t * per + i]. pids maps p to an index.
 */
typedef struct {
	unsigned long pids[8];
	size_t n_pids;
	unsigned threads;
	unsigned long per;
	unsigned char *seen;
	unsigned long *last_i; /* per (process, thread): file order is call order */
} tally;

static void tally_init(tally *t, size_t procs, unsigned threads, unsigned long per)
{
	memset(t, 0, sizeof(*t));
	t->threads = threads;
	t->per = per;
	t->seen = calloc(procs * threads * per, 1);
	t->last_i = calloc(procs * threads, sizeof(unsigned long));
	assert_non_null(t->seen);
	assert_non_null(t->last_i);
	for (size_t k = 0; k < procs * threads; k++)
		t->last_i[k] = ULONG_MAX;
}

static void tally_free(tally *t)
{
	free(t->seen);
	free(t->last_i);
}

static void tally_text(tally *ta, const char *text, size_t procs)
{
	char expect[2048];
	const char *line = text, *nl;
	unsigned long p, i;
	unsigned t;
	size_t k, idx, len;

	while ((nl = strchr(line, '\n')) != NULL) {
		char head[64];
		/* sscanf on the line alone: on the whole rest it would be quadratic. */
		snprintf(head, sizeof(head), "%.*s", (int)(nl - line < 63 ? nl - line : 63), line);
		if (sscanf(head, "{\"p\":%lu,\"t\":%u,\"i\":%lu,", &p, &t, &i) != 3)
			fail_msg("not a record: %.80s", line);
		len = make_record(expect, sizeof(expect), p, t, i, pad_for(i));
		if ((size_t)(nl + 1 - line) != len || memcmp(line, expect, len) != 0)
			fail_msg("a broken record: %.*s", (int)(nl - line), line);
		for (k = 0; k < ta->n_pids && ta->pids[k] != p; k++)
			;
		if (k == ta->n_pids) {
			if (k == procs)
				fail_msg("records of more than %zu processes", procs);
			ta->pids[ta->n_pids++] = p;
		}
		if (t >= ta->threads || i >= ta->per)
			fail_msg("t %u i %lu out of range", t, i);
		idx = (k * ta->threads + t) * ta->per + i;
		if (ta->seen[idx]++)
			fail_msg("record p %lu t %u i %lu twice", p, t, i);
		if (ta->last_i[k * ta->threads + t] != ULONG_MAX &&
		    i <= ta->last_i[k * ta->threads + t])
			fail_msg("p %lu t %u: record %lu after %lu", p, t, i,
			         ta->last_i[k * ta->threads + t]);
		ta->last_i[k * ta->threads + t] = i;
		line = nl + 1;
	}
	if (*line != '\0')
		fail_msg("a cut record at the end: %.80s", line);
}

static void tally_all_seen(const tally *ta, size_t procs)
{
	size_t k, n = procs * ta->threads * ta->per;

	assert_int_equal(ta->n_pids, procs);
	for (k = 0; k < n; k++)
		if (!ta->seen[k])
			fail_msg("record %zu (process %zu, thread %zu, i %zu) lost", k,
			         (size_t)(k / (ta->threads * ta->per)),
			         (size_t)(k / ta->per % ta->threads), (size_t)(k % ta->per));
}

static void write_records(p11_sink *s, unsigned long p, unsigned t, unsigned long from,
                          unsigned long to)
{
	char buf[2048];
	unsigned long i;

	for (i = from; i < to; i++)
		p11_sink_write(s, buf, make_record(buf, sizeof(buf), p, t, i, pad_for(i)));
}

/* ---- setup ---- */

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/p11shim-test-sink-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	umask(0); /* the mode must be the sink's choice */
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	umask(022);
	test_remove_tree(dir);
	return 0;
}

/* ---- one process ---- */

static void test_records_whole_and_trimmed(void **state)
{
	static char big[300 * 1024 + 64];
	char path[PATH_MAX], tail[PATH_MAX + 8];
	struct stat st;
	content c;
	tally ta;
	p11_sink *s;

	(void)state;
	path_in_dir(path, sizeof(path), "whole.jsonl");
	snprintf(tail, sizeof(tail), "%s.tail", path);
	s = p11_sink_open(path, 0);
	assert_non_null(s);
	assert_int_equal(p11_sink_get_mode(s), P11_SINK_RING);
	assert_string_equal(p11_sink_path(s), path);
	write_records(s, 1, 0, 0, 3000);
	/* While it is open: the companion; the file holds the full buffers,
	 * and with what is staged a reader sees every record, once. */
	assert_true(exists(tail));
	read_file(path, &c);
	assert_true(c.lines > 0 && c.lines < 3000);
	free(c.text);
	read_live(path, &c);
	assert_true(c.whole);
	tally_init(&ta, 1, 1, 3000);
	tally_text(&ta, c.text, 1);
	tally_all_seen(&ta, 1);
	tally_free(&ta);
	free(c.text);
	/* A record bigger than a window, then more small ones. */
	memset(big, 'Z', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	p11_sink_write(s, big, sizeof(big));
	write_records(s, 1, 0, 3000, 4000);
	p11_sink_close(s);

	assert_false(exists(tail));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	read_file(path, &c);
	assert_int_equal(c.nuls, 0); /* trimmed: the size is the records' */
	assert_true(c.whole);
	/* The big record is in one piece where it was written. */
	{
		char *b = strstr(c.text, "ZZZZ");
		assert_non_null(b);
		assert_int_equal(strspn(b, "Z"), sizeof(big) - 1);
		memmove(b, b + sizeof(big), strlen(b + sizeof(big)) + 1);
	}
	tally_init(&ta, 1, 1, 4000);
	tally_text(&ta, c.text, 1);
	tally_all_seen(&ta, 1);
	tally_free(&ta);
	free(c.text);

	/* Reopened, it appends after what is there. */
	s = p11_sink_open(path, 0);
	assert_non_null(s);
	write_records(s, 2, 0, 0, 10);
	p11_sink_close(s);
	read_file(path, &c);
	assert_int_equal(c.lines, 4011);
	assert_int_equal(c.nuls, 0);
	free(c.text);
}

#define THREADS 16
#define PER_THREAD 4000

struct worker {
	pthread_t th;
	p11_sink *s;
	unsigned long p;
	unsigned t;
	unsigned long n;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	write_records(w->s, w->p, w->t, 0, w->n);
	return NULL;
}

static void run_threads(p11_sink *s, unsigned long p, unsigned threads, unsigned long per)
{
	struct worker w[THREADS];
	unsigned t;

	for (t = 0; t < threads; t++) {
		w[t] = (struct worker){ .s = s, .p = p, .t = t, .n = per };
		if (pthread_create(&w[t].th, NULL, work, &w[t]) != 0)
			_exit(90);
	}
	for (t = 0; t < threads; t++)
		pthread_join(w[t].th, NULL);
}

static void test_threads(void **state)
{
	char path[PATH_MAX];
	content c;
	tally ta;
	p11_sink *s;

	(void)state;
	path_in_dir(path, sizeof(path), "threads.jsonl");
	s = p11_sink_open(path, 0);
	assert_non_null(s);
	run_threads(s, 7, THREADS, PER_THREAD);
	p11_sink_close(s);
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_int_equal(c.lines, THREADS * PER_THREAD);
	tally_init(&ta, 1, THREADS, PER_THREAD);
	tally_text(&ta, c.text, 1);
	tally_all_seen(&ta, 1);
	tally_free(&ta);
	free(c.text);
}

/* ---- several processes ---- */

#define PROCS 4
#define PROC_THREADS 4
#define PROC_PER 3000

static void run_processes(const char *path, uint64_t max_size, pid_t *pids)
{
	int i;

	fflush(NULL);
	for (i = 0; i < PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			p11_sink *s = p11_sink_open(path, max_size);
			if (s == NULL)
				_exit(91);
			run_threads(s, (unsigned long)getpid(), PROC_THREADS, PROC_PER);
			p11_sink_close(s);
			_exit(0);
		}
	}
}

static void wait_all(const pid_t *pids)
{
	int i, status;

	for (i = 0; i < PROCS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("writer %d: status %d", i, status);
	}
}

static void test_processes(void **state)
{
	char path[PATH_MAX], tail[PATH_MAX + 8];
	pid_t pids[PROCS];
	content c;
	tally ta;
	p11_sink *mine;

	(void)state;
	path_in_dir(path, sizeof(path), "procs.jsonl");
	snprintf(tail, sizeof(tail), "%s.tail", path);
	run_processes(path, 0, pids);
	wait_all(pids);
	/* The last one out trimmed the file and removed the companion. */
	assert_false(exists(tail));
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_int_equal(c.lines, PROCS * PROC_THREADS * PROC_PER);
	tally_init(&ta, PROCS, PROC_THREADS, PROC_PER);
	tally_text(&ta, c.text, PROCS);
	tally_all_seen(&ta, PROCS);
	tally_free(&ta);
	free(c.text);

	/* With this process holding the file too: the writers leave it to us. */
	unlink(path);
	mine = p11_sink_open(path, 0);
	assert_non_null(mine);
	run_processes(path, 0, pids);
	wait_all(pids);
	assert_true(exists(tail));
	p11_sink_close(mine);
	assert_false(exists(tail));
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_int_equal(c.lines, PROCS * PROC_THREADS * PROC_PER);
	free(c.text);
}

/* Rotation while four processes write: FILE.1 and FILE hold every record once. */
static void test_processes_rotation(void **state)
{
	char path[PATH_MAX], old[PATH_MAX + 8], *both;
	pid_t pids[PROCS];
	content c0, c1;
	tally ta;
	/* About 15 MB of records: one rotation, never two (a second replaces FILE.1). */
	const uint64_t max = 9u << 20;

	(void)state;
	path_in_dir(path, sizeof(path), "procrot.jsonl");
	snprintf(old, sizeof(old), "%s.1", path);
	run_processes(path, max, pids);
	wait_all(pids);
	assert_true(exists(old));
	read_file(old, &c1);
	read_file(path, &c0);
	assert_int_equal(c1.nuls, 0);
	assert_int_equal(c0.nuls, 0);
	assert_true(c1.whole && c0.whole);
	/* Beyond MaxSize by what the other writers reserved while the one
	 * that crossed it rotated: a few records, more on a busy machine. */
	assert_true((uint64_t)size_of(old) >= max);
	if ((uint64_t)size_of(old) >= max + (4u << 20))
		fail_msg("%s is %lld bytes, MaxSize %llu", old, (long long)size_of(old),
		         (unsigned long long)max);
	assert_int_equal(c0.lines + c1.lines, PROCS * PROC_THREADS * PROC_PER);
	both = malloc(c0.size + c1.size + 1);
	assert_non_null(both);
	memcpy(both, c1.text, c1.size);
	memcpy(both + c1.size, c0.text, c0.size + 1);
	tally_init(&ta, PROCS, PROC_THREADS, PROC_PER);
	tally_text(&ta, both, PROCS);
	tally_all_seen(&ta, PROCS);
	tally_free(&ta);
	free(both);
	free(c0.text);
	free(c1.text);
}

/* ---- rotation, removal, truncation ---- */

static void test_rotation(void **state)
{
	char path[PATH_MAX], old[PATH_MAX + 8];
	const uint64_t max = 64 * 1024;
	unsigned long i = 0, first0, last1;
	content c0, c1;
	int rotations = 0;
	ino_t ino;
	p11_sink *s;

	(void)state;
	path_in_dir(path, sizeof(path), "rotate.jsonl");
	snprintf(old, sizeof(old), "%s.1", path);
	s = p11_sink_open(path, max);
	assert_non_null(s);
	ino = 0;
	while (rotations < 3 && i < 100000) {
		struct stat st;
		write_records(s, 3, 0, i, i + 1);
		i++;
		/* Never far beyond MaxSize, padding included. */
		if ((uint64_t)size_of(path) > max + 64 * 1024)
			fail_msg("%s is %lld bytes, MaxSize %llu", path, (long long)size_of(path),
			         (unsigned long long)max);
		if (stat(old, &st) == 0 && st.st_ino != ino) {
			ino = st.st_ino;
			rotations++;
		}
	}
	assert_int_equal(rotations, 3);
	write_records(s, 3, 0, i, i + 5);
	i += 5;
	p11_sink_close(s);
	read_file(old, &c1);
	read_file(path, &c0);
	/* The rotated file was trimmed to its records at the rotation. */
	assert_int_equal(c1.nuls, 0);
	assert_true(c1.whole && c0.whole);
	assert_true((uint64_t)c1.size >= max && (uint64_t)c1.size < max + 1024);
	/* Nothing lost or split at the seam: FILE goes on where FILE.1 stops. */
	assert_int_equal(sscanf(last_line(&c1), "{\"p\":3,\"t\":0,\"i\":%lu", &last1), 1);
	assert_int_equal(sscanf(c0.text, "{\"p\":3,\"t\":0,\"i\":%lu", &first0), 1);
	assert_int_equal(first0, last1 + 1);
	free(c0.text);
	free(c1.text);
}

static void test_removed_file_recreated(void **state)
{
	char path[PATH_MAX];
	unsigned long i = 0;
	content c;
	p11_sink *s;

	(void)state;
	path_in_dir(path, sizeof(path), "removed.jsonl");
	s = p11_sink_open(path, 0);
	assert_non_null(s);
	write_records(s, 4, 0, 0, 100);
	assert_int_equal(unlink(path), 0);
	/* Noticed within 64 KiB of records: about 200 here. */
	for (i = 100; i < 2000 && !exists(path); i++)
		write_records(s, 4, 0, i, i + 1);
	assert_true(exists(path));
	write_records(s, 4, 0, i, i + 10);
	p11_sink_close(s);
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_true(c.whole);
	assert_int_equal(c.lines, 10);
	free(c.text);
}

static void sigbus_repair(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	if (p11_sink_fault(info->si_addr))
		return;
	signal(sig, SIG_DFL);
}

/* `logrotate copytruncate`: the file is cut to 0 under the mapping. */
static void test_truncated_under_writers(void **state)
{
	char path[PATH_MAX];
	struct sigaction sa, old;
	unsigned long i;
	content c;
	p11_sink *s;
	int fd;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigbus_repair;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	path_in_dir(path, sizeof(path), "truncated.jsonl");
	s = p11_sink_open(path, 0);
	assert_non_null(s);
	write_records(s, 5, 0, 0, 1000);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	close(fd);
	/* Writing on: no crash; the records land in a new file at the path. */
	write_records(s, 5, 0, 1000, 3000);
	p11_sink_close(s);
	sigaction(SIGBUS, &old, NULL);
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_true(c.whole);
	assert_true(c.lines > 1000 && c.lines <= 2000);
	/* Whatever is there is whole, and the last records made it. */
	for (i = 2990; i < 3000; i++) {
		char needle[64];
		snprintf(needle, sizeof(needle), "\"i\":%lu,", i);
		assert_non_null(strstr(c.text, needle));
	}
	free(c.text);
}

/* ---- failures ---- */

/* A full disk (here: RLIMIT_FSIZE): records lost, reported once; calls go on. */
static void test_disk_full(void **state)
{
	char path[PATH_MAX], errpath[PATH_MAX];
	int status;
	content c, e;
	pid_t pid;

	(void)state;
	path_in_dir(path, sizeof(path), "full.jsonl");
	path_in_dir(errpath, sizeof(errpath), "full.stderr");
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit lim = { 2 << 20, 2 << 20 };
		p11_sink *s;
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 2);
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &lim);
		s = p11_sink_open(path, 0);
		if (s == NULL)
			_exit(92);
		write_records(s, 6, 0, 0, 30000); /* about 9 MB */
		p11_sink_close(s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	read_file(errpath, &e);
	assert_int_equal(e.lines, 1);
	assert_non_null(strstr(e.text, "p11shim: trace: cannot write"));
	assert_non_null(strstr(e.text, "calls go on"));
	free(e.text);
	read_file(path, &c);
	assert_true(c.whole);
	assert_true(c.lines > 1000);
	assert_true(c.size <= 2 << 20);
	free(c.text);
}

/* No companion possible (here FILE.tail is a folder): one write(2) per record. */
static void test_append_fallback(void **state)
{
	char path[PATH_MAX], tail[PATH_MAX + 8];
	content c;
	tally ta;
	p11_sink *s;

	(void)state;
	path_in_dir(path, sizeof(path), "append.jsonl");
	snprintf(tail, sizeof(tail), "%s.tail", path);
	assert_int_equal(mkdir(tail, 0700), 0);
	s = p11_sink_open(path, 0);
	assert_non_null(s);
	assert_int_equal(p11_sink_get_mode(s), P11_SINK_APPEND);
	run_threads(s, 8, 4, 1000);
	p11_sink_write_crash(s, "{\"p\":8,\"t\":4,", 13, "\"i\":0,\"x\":\"\"}\n", 14);
	p11_sink_close(s);
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_int_equal(c.lines, 4 * 1000 + 1);
	tally_init(&ta, 1, 5, 1000);
	tally_text(&ta, c.text, 1);
	tally_free(&ta);
	free(c.text);
	rmdir(tail);
}

static void test_symlink_refused(void **state)
{
	char path[PATH_MAX], target[PATH_MAX];

	(void)state;
	path_in_dir(path, sizeof(path), "link.jsonl");
	path_in_dir(target, sizeof(target), "target");
	assert_int_equal(symlink(target, path), 0);
	errno = 0;
	assert_null(p11_sink_open(path, 0));
	assert_int_equal(errno, ELOOP);
	assert_false(exists(target));
	unlink(path);
}

/* ---- death ---- */

/* The crash handler's path: the in-flight record, then the last one out trims. */
static void test_crash_record(void **state)
{
	char path[PATH_MAX], tail[PATH_MAX + 8];
	int status;
	content c;
	pid_t pid;

	(void)state;
	path_in_dir(path, sizeof(path), "crash.jsonl");
	snprintf(tail, sizeof(tail), "%s.tail", path);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		p11_sink *s = p11_sink_open(path, 0);
		if (s == NULL)
			_exit(93);
		write_records(s, 9, 0, 0, 3);
		p11_sink_write_crash(s, "{\"p\":9,\"t\":0,\"i\":3,", 19, "\"x\":\"dddd\"}\n", 12);
		p11_sink_crash_done();
		raise(SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_false(exists(tail));
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_int_equal(c.lines, 4);
	assert_non_null(strstr(c.text, "{\"p\":9,\"t\":0,\"i\":3,\"x\":\"dddd\"}\n"));
	free(c.text);
}

/* A killed process leaves its staged records in FILE.tail; the next one writes them. */
static void test_killed_then_reopened(void **state)
{
	char path[PATH_MAX], tail[PATH_MAX + 8];
	int status;
	content c;
	pid_t pid;
	p11_sink *s;

	(void)state;
	path_in_dir(path, sizeof(path), "killed.jsonl");
	snprintf(tail, sizeof(tail), "%s.tail", path);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		s = p11_sink_open(path, 0);
		if (s == NULL)
			_exit(94);
		write_records(s, 10, 0, 0, 50);
		raise(SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_true(exists(tail));
	read_file(path, &c);
	assert_int_equal(c.lines, 0); /* all still staged: less than a buffer */
	free(c.text);
	read_live(path, &c); /* the records survived the kill */
	assert_int_equal(c.lines, 50);
	assert_true(c.whole);
	free(c.text);

	s = p11_sink_open(path, 0);
	assert_non_null(s);
	write_records(s, 11, 0, 0, 5);
	p11_sink_close(s);
	read_file(path, &c);
	assert_int_equal(c.nuls, 0);
	assert_int_equal(c.lines, 55);
	/* The new records follow the old ones directly. */
	assert_non_null(strstr(c.text, "\"}\n{\"p\":11,\"t\":0,\"i\":0,"));
	free(c.text);
	assert_false(exists(tail));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_whole_and_trimmed),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_processes),
		cmocka_unit_test(test_processes_rotation),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_removed_file_recreated),
		cmocka_unit_test(test_truncated_under_writers),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_append_fallback),
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_crash_record),
		cmocka_unit_test(test_killed_then_reopened),
	};

	return cmocka_run_group_tests_name("trace sink", tests, group_setup, group_teardown);
}
