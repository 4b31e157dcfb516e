/*
 * The trace sink (include/p11-trace-sink.h): whole records appended to a
 * file shared by threads and processes, with no system call per record.
 * Why this design, and what it costs, is explained at the top of
 * src/trace/layer.c; this comment says how it works.
 *
 * Files. FILE holds the records. FILE.tail (the companion, 1 MiB; its layout
 * is in include/p11-trace-ring.h) is mapped MAP_SHARED by every process
 * tracing to FILE and holds the reservation word (generation << 48 | the
 * next free byte of that generation's file), the file's identity (ino,
 * dev), and one slot of staging buffers per process. A generation is one
 * file at FILE: rotation (MaxSize), a removed file or a file truncated under
 * the writers start the next one.
 *
 * Writing a record (the fast path): w = fetch_add(word, n) reserves
 * [off, off + n) of generation g in the file, so records of threads and
 * processes never overlap and the file's order is the order of the
 * reservations. The record, behind a 16-byte entry head holding w, is copied
 * into the process's current staging buffer (32 KiB, its room taken with a
 * second fetch_add, on the buffer). The thread whose copy fills a buffer
 * writes it to the file: one pwritev(2) per run of consecutive offsets (a
 * single process: one per buffer), then empties it; meanwhile the other
 * buffer takes the records. No lock, no system call, and no page the
 * process has not written before: the trace's cost is a copy into hot
 * memory and an atomic add or two. Records bigger than half a buffer are
 * written at their reservation at once.
 *
 * What a record waits for. Staged, a record is in the page cache (in
 * FILE.tail) but not yet in FILE: readers of a live trace add what the
 * slots hold (p11_ring_pending, which `p11shim trace` uses); the last
 * process to leave, or a process killed and the next one to open the file,
 * writes it to FILE. Leaving (C_Finalize, exit, the crash handler) a
 * process writes its buffers; a killed one leaves them in its slot, locked
 * by an OFD lock on the slot's byte that the kernel drops at its death: the
 * next process to open the file writes what a slot it can lock still holds.
 * So nothing a process wrote is lost when it is killed, as long as FILE.tail
 * is there; the records are in FILE once any process opens it again.
 *
 * Trimming: every tracing process holds a shared OFD lock on byte 1 of
 * FILE.tail. Leaving, a process takes LOCK_MUTATE (byte 0) and tries to
 * turn its shared lock into an exclusive one: if it can, it is the last:
 * it writes what dead slots hold, cuts the file to the end of the
 * reservations and removes FILE.tail; if not, it drops its shared lock
 * before LOCK_MUTATE, so that of several leaving at once the last trims.
 *
 * Generations. Rotation renames FILE to FILE.1, starts the next generation
 * in a new FILE and cuts FILE.1 to the end of its reservations; records of
 * the old generation still staged are written to FILE.1 through the
 * descriptor kept for it (old_fd). A file removed from under the writers,
 * or truncated (its size below what this process wrote to it), starts the
 * next generation at the path; records staged for a truncated file are
 * dropped, as a truncation means.
 *
 * Without a companion (a folder the client may not create files in), the
 * sink writes each record with one write(2) to FILE opened O_APPEND; with
 * a companion but no free slot (more than P11_RING_SLOTS processes), each
 * record is written at its reservation with pwrite(2). Both are correct,
 * only slower. Nothing here maps FILE itself, so a full disk is a failed
 * write (reported once; calls go on), never a SIGBUS; FILE.tail's blocks
 * are reserved before it is mapped.
 */
#include "config.h"

#include "p11-trace-ring.h"
#include "p11-trace-sink.h"
#include "p11-text.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define GEN_MASK UINT64_C(0xffff)
#define GEN_OF(w) P11_RING_GEN(w)
#define OFF_OF(w) P11_RING_OFF(w)
#define PACK(g, o) ((((uint64_t)(g)&GEN_MASK) << P11_RING_GEN_SHIFT) | (uint64_t)(o))

#define CHECK_SHIFT 16 /* a removed or truncated file is noticed within 64 KiB of records */
#define RETRY_AFTER ((uint64_t)64 * 1024)     /* a failed rotation is tried again this much later */
#define SCAN_MAX ((uint64_t)16 * 1024 * 1024) /* NUL padding looked for at open */
#define LOCK_MUTATE 0 /* byte of FILE.tail: exclusive while the shared state changes */
#define LOCK_LIVE 1   /* shared by every process tracing to FILE */
#define STAGE_MAX (P11_RING_BUF / 2) /* bigger records are written at once */
#define RUN_IOV 256 /* entries of a buffer written with one pwritev (IOV_MAX is 1024) */
#define HOLD_AHEAD (2 * P11_RING_BUF) /* file blocks reserved ahead of the reservations */
#define NO_GEN (GEN_MASK + 1)
#define MAX_SINKS 16

_Static_assert(offsetof(struct p11_ring_head, word) == 64 &&
                       offsetof(struct p11_ring_head, ino) == 128 &&
                       offsetof(struct p11_ring_head, dev) == 136 &&
                       offsetof(struct p11_ring_head, buf) == 1024 &&
                       sizeof(struct p11_ring_buf) == 64 &&
                       sizeof(struct p11_ring_head) <= P11_RING_HEAD &&
                       sizeof(struct p11_ring_entry) == 16,
               "FILE.tail's layout is the same in 32- and 64-bit processes");
_Static_assert(P11_RING_SLOT_LOCK(P11_RING_SLOTS) < 4096, "the slot locks lie in FILE.tail");

struct p11_sink {
	/* Read on every record. */
	struct p11_ring_head *sh;
	_Atomic int cur;     /* the buffer being filled (0 or 1); -1: none, write at once */
	int slot;            /* this process's slot in FILE.tail, -1 when none */
	atomic_bool damaged; /* a SIGBUS in FILE.tail was repaired: one write per record */
	_Atomic p11_sink_mode mode;
	uint64_t max_size;

	pthread_mutex_t lock;              /* flushing, generations, the slow paths */
	_Atomic uint64_t cur_gen, old_gen; /* read by the crash handler */
	_Atomic int cur_fd, old_fd;
	uint64_t written; /* the end of what this process wrote to cur_gen's file */
	uint64_t held;    /* cur_gen's file has blocks reserved up to here (reserve_ahead_inlock) */
	int ctl_fd;
	_Atomic uint64_t rotate_retry; /* offset after which a failed rotation is tried again */
	atomic_bool closed;
	atomic_int lost; /* why records are lost (LOST_*), reported once */
	pid_t pid;

	/* APPEND mode */
	int afd;
	atomic_ullong since_check, est_size;
	atomic_bool cut_short; /* the last record was written in part */

	char path[4096];
	char ctl_path[4200];
};

static int open_append(p11_sink *s);

/* Live sinks, for the crash handler, the SIGBUS repair and exit. */
static p11_sink *_Atomic sinks[MAX_SINKS];

/*
 * A loss is noted once on stderr, until what caused it is over: a file at
 * the path again (LOST_FILE), a write that works (LOST_WRITE).
 */
enum { LOST_NONE, LOST_FILE, LOST_WRITE };

static void regained(p11_sink *s, int kind)
{
	int expect = kind;

	atomic_compare_exchange_strong(&s->lost, &expect, LOST_NONE);
}

static void report_loss_as(p11_sink *s, int kind, int err)
{
	int expect = LOST_NONE;
	char shown[1024];

	if (atomic_compare_exchange_strong(&s->lost, &expect, kind))
		fprintf(stderr,
		        "p11shim: trace: cannot write %s: %s; calls go on, records are lost "
		        "until it is writable again\n",
		        p11_text_safe(shown, sizeof(shown), s->path), strerror(err));
}

static void report_loss(p11_sink *s, int err)
{
	report_loss_as(s, LOST_WRITE, err);
}

static int ofd_lock(int fd, short type, off_t byte, bool wait)
{
	struct flock fl;
	int r;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = byte;
	fl.l_len = 1;
	do
		r = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
	while (r != 0 && errno == EINTR && wait);
	return r;
}

/*
 * pwritev(2) of whole records at their reserved offset. Records that could
 * only be written in part (disk full, RLIMIT_FSIZE) are blanked with NULs,
 * which readers skip: the file holds whole records or none. Async-signal-safe.
 */
static bool put_iov(p11_sink *s, int fd, struct iovec *iov, int cnt, uint64_t off)
{
	static const char zeros[512];
	size_t done = 0, total = 0, z;
	ssize_t w;
	int i;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	while (done < total) {
		w = pwritev(fd, iov, cnt, (off_t)(off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			report_loss(s, w < 0 ? errno : ENOSPC);
			for (z = 0; z < done; z += (size_t)w) {
				w = pwrite(fd, zeros,
				           done - z < sizeof(zeros) ? done - z : sizeof(zeros),
				           (off_t)(off + z));
				if (w <= 0)
					break;
			}
			return false;
		}
		done += (size_t)w;
		/* A short write: go on after what was written. */
		while (cnt > 0 && (size_t)w >= iov[0].iov_len) {
			w -= (ssize_t)iov[0].iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov[0].iov_base = (char *)iov[0].iov_base + w;
			iov[0].iov_len -= (size_t)w;
		}
	}
	regained(s, LOST_WRITE);
	return true;
}

static bool put(p11_sink *s, int fd, const char *p, size_t n, uint64_t off)
{
	struct iovec iov = { (void *)p, n };

	return put_iov(s, fd, &iov, 1, off);
}

/*
 * Cuts a file to the end of its reservations, t, but never lengthens it:
 * records still staged for the room beyond its size lengthen it when they
 * are written.
 */
static void cut(int fd, uint64_t t)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && (uint64_t)st.st_size > t && ftruncate(fd, (off_t)t) != 0) {
		/* the padding stays; readers skip it */
	}
}

/*
 * Where the records of a file end: its size less the NUL padding a process
 * that was killed left (looked for in the last SCAN_MAX bytes only).
 */
static uint64_t data_end(int fd, uint64_t size)
{
	char buf[4096]; /* small: this runs on the client's stack */
	uint64_t end = size, floor = size > SCAN_MAX ? size - SCAN_MAX : 0;
	ssize_t n, i;

	while (end > floor) {
		uint64_t from = end - floor > sizeof(buf) ? end - sizeof(buf) : floor;
		n = pread(fd, buf, (size_t)(end - from), (off_t)from);
		if (n <= 0)
			return size;
		for (i = n; i > 0 && buf[i - 1] == '\0'; i--)
			;
		if (i > 0)
			return from + (uint64_t)i;
		end = from;
	}
	return end == 0 ? 0 : size;
}

/* The end of the records of fd's file, with any padding trimmed. */
static uint64_t trim_padding(int fd)
{
	struct stat st;
	uint64_t end;

	if (fstat(fd, &st) != 0)
		return 0;
	end = data_end(fd, (uint64_t)st.st_size);
	if (end < (uint64_t)st.st_size && ftruncate(fd, (off_t)end) != 0)
		return (uint64_t)st.st_size;
	return end;
}

/*
 * Blocks reserved for [off, off + len) of fd, so that no store into a
 * mapping of it can fault for want of room (SIGBUS). posix_fallocate does
 * what the file system offers (glibc writes zeros where fallocate(2) is
 * missing); false with errno set when the room is not there.
 */
static bool backed(int fd, uint64_t off, uint64_t len)
{
	int err;

	if (len == 0)
		return true;
	do
		err = posix_fallocate(fd, (off_t)off, (off_t)len);
	while (err == EINTR);
	errno = err;
	return err == 0;
}

/* ---- generations ---- */

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
	       sa.st_dev == sb.st_dev;
}

/*
 * Under s->lock: generation g's file is fd (-1: none). The file before is
 * kept for the records still staged for it, unless g's file is that same
 * file (truncated under the writers): then they have no place any more.
 */
static void adopt_inlock(p11_sink *s, uint64_t g, int fd)
{
	int old = atomic_load(&s->old_fd), cur = atomic_load(&s->cur_fd);

	atomic_store(&s->old_fd, -1);
	atomic_store(&s->old_gen, NO_GEN);
	if (old >= 0)
		close(old);
	if (cur >= 0 && fd >= 0 && same_file(cur, fd)) {
		close(cur);
	} else {
		atomic_store(&s->old_fd, cur);
		atomic_store(&s->old_gen, atomic_load(&s->cur_gen));
	}
	atomic_store(&s->cur_fd, fd);
	atomic_store(&s->cur_gen, g);
	s->written = 0;
	s->held = 0;
}

/*
 * Under s->lock and LOCK_MUTATE: generation g ends and the file at the path
 * starts generation g + 1 (rotate: the old file is renamed to PATH.1 first).
 * Returns false when nothing changed.
 */
static bool next_generation_inlock(p11_sink *s, uint64_t g, bool rotate)
{
	struct stat pst, fst, cst;
	char old[4200];
	uint64_t start, t;
	int fd, cur = atomic_load(&s->cur_fd);

	if (GEN_OF(atomic_load(&s->sh->word)) != g)
		return false; /* another process did it */
	if (rotate && stat(s->path, &pst) == 0 && (uint64_t)pst.st_ino == atomic_load(&s->sh->ino) &&
	    (uint64_t)pst.st_dev == atomic_load(&s->sh->dev)) {
		snprintf(old, sizeof(old), "%s.1", s->path);
		if (rename(s->path, old) != 0) {
			report_loss_as(s, LOST_FILE, errno);
			return false;
		}
	}
	fd = open(s->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fstat(fd, &fst) != 0) {
		report_loss_as(s, LOST_FILE, errno);
		if (fd >= 0)
			close(fd);
		return false;
	}
	regained(s, LOST_FILE);
	start = trim_padding(fd);
	atomic_store(&s->sh->ino, (uint64_t)fst.st_ino);
	atomic_store(&s->sh->dev, (uint64_t)fst.st_dev);
	t = OFF_OF(atomic_exchange(&s->sh->word, PACK(g + 1, start)));
	/* The old file keeps exactly its records: every reservation of g ends below t. */
	if (atomic_load(&s->cur_gen) == g && cur >= 0 && fstat(cur, &cst) == 0 &&
	    (cst.st_ino != fst.st_ino || cst.st_dev != fst.st_dev))
		cut(cur, t);
	adopt_inlock(s, (g + 1) & GEN_MASK, fd);
	return true;
}

/*
 * Under s->lock: another process started generation g; open its file. A
 * file at the path that is not g's (removed since) starts the next one.
 */
static bool follow_inlock(p11_sink *s, uint64_t g)
{
	struct stat st;
	bool ok = false;
	int fd;

	if (ofd_lock(s->ctl_fd, F_WRLCK, LOCK_MUTATE, true) != 0)
		return false;
	if (GEN_OF(atomic_load(&s->sh->word)) != g)
		goto out; /* rotated again since: this record's file is gone */
	fd = open(s->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_ino == atomic_load(&s->sh->ino) &&
	    (uint64_t)st.st_dev == atomic_load(&s->sh->dev)) {
		adopt_inlock(s, g, fd);
		ok = true;
	} else {
		/* g's file is gone, and its records with it: a new file. */
		if (fd >= 0)
			close(fd);
		adopt_inlock(s, g, -1);
		next_generation_inlock(s, g, false);
	}
out:
	ofd_lock(s->ctl_fd, F_UNLCK, LOCK_MUTATE, false);
	return ok;
}

/*
 * The descriptor for records of generation g, or -1 (their file is gone).
 * locked: under s->lock, where a generation another process started is
 * followed; else (the crash handler) only the two files already open.
 */
static int fd_for(p11_sink *s, uint64_t g, bool locked)
{
	if (g == atomic_load(&s->cur_gen))
		return atomic_load(&s->cur_fd);
	if (g == atomic_load(&s->old_gen))
		return atomic_load(&s->old_fd);
	if (locked && g == GEN_OF(atomic_load(&s->sh->word)) && follow_inlock(s, g))
		return atomic_load(&s->cur_fd);
	return -1;
}

/*
 * Under s->lock: cur_fd's file is shorter than what this process wrote to
 * it: truncated under the writers (`logrotate copytruncate`). The next
 * generation starts at the path; records staged for the old one are dropped.
 */
static bool truncated_inlock(p11_sink *s)
{
	struct stat st;
	uint64_t g = atomic_load(&s->cur_gen);
	int fd = atomic_load(&s->cur_fd);

	if (fd < 0 || s->written == 0 || fstat(fd, &st) != 0 || (uint64_t)st.st_size >= s->written)
		return false;
	if (ofd_lock(s->ctl_fd, F_WRLCK, LOCK_MUTATE, true) == 0) {
		if (!next_generation_inlock(s, g, false))
			s->written = 0; /* another process did it; follow on the next write */
		ofd_lock(s->ctl_fd, F_UNLCK, LOCK_MUTATE, false);
	}
	return true;
}

/* ---- staging buffers ---- */

/* Consecutive records of one generation, written with one pwritev. */
typedef struct {
	p11_sink *s;
	bool locked;
	int n;
	uint64_t gen, off, next;
	struct iovec iov[RUN_IOV];
} run;

static void run_write(run *r)
{
	p11_sink *s = r->s;
	int fd;

	if (r->n == 0)
		return;
	fd = fd_for(s, r->gen, r->locked);
	if (fd >= 0 && put_iov(s, fd, r->iov, r->n, r->off) && r->locked &&
	    fd == atomic_load(&s->cur_fd) && r->next > s->written)
		s->written = r->next;
	r->n = 0;
}

static int run_add(void *data, uint64_t word, const char *rec, size_t len)
{
	run *r = data;

	if (r->n > 0 && (GEN_OF(word) != r->gen || OFF_OF(word) != r->next || r->n == RUN_IOV))
		run_write(r);
	if (r->n == 0) {
		r->gen = GEN_OF(word);
		r->off = r->next = OFF_OF(word);
	}
	r->iov[r->n].iov_base = (void *)rec;
	r->iov[r->n].iov_len = len;
	r->n++;
	r->next += len;
	return 0;
}

/*
 * Writes what buffer b of FILE.tail holds to the file and empties it.
 * locked: under s->lock; else the crash handler's (async-signal-safe).
 */
static void flush_buf(p11_sink *s, unsigned b, bool locked)
{
	struct p11_ring_buf *h = &s->sh->buf[b];
	run r = { .s = s, .locked = locked };
	uint64_t end;

	if (atomic_load(&h->state) != P11_RING_STAGING)
		return;
	if (locked)
		truncated_inlock(s); /* once per buffer: one fstat per about 150 records */
	p11_ring_walk(s->sh, b, run_add, &r);
	run_write(&r);
	end = atomic_load(&h->end);
	atomic_store(&h->state, P11_RING_EMPTY);
	memset(p11_ring_data(s->sh, b), 0, end < P11_RING_BUF ? end : P11_RING_BUF);
}

static void flush(p11_sink *s, unsigned b)
{
	pthread_mutex_lock(&s->lock);
	flush_buf(s, b, true);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Under s->lock: the file's blocks for the next HOLD_AHEAD bytes of records
 * are reserved (without growing the file), so that records staged now are
 * still written when the disk fills before their buffer is. Once per
 * buffer of this process, when the reservations have come near the end of
 * what is held; where fallocate(2) cannot, the records take their chance.
 */
static void reserve_ahead_inlock(p11_sink *s)
{
#ifdef FALLOC_FL_KEEP_SIZE
	uint64_t w = atomic_load(&s->sh->word), off = OFF_OF(w);
	int fd = atomic_load(&s->cur_fd);

	if (fd < 0 || GEN_OF(w) != atomic_load(&s->cur_gen) || off + P11_RING_BUF <= s->held)
		return;
	if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)off, HOLD_AHEAD) == 0)
		s->held = off + HOLD_AHEAD;
#else
	(void)s;
#endif
}

/* Under s->lock: buffer k of this process's slot takes the next records. */
static void arm_inlock(p11_sink *s, int k)
{
	struct p11_ring_buf *h = &s->sh->buf[s->slot * P11_RING_BUFS + k];

	reserve_ahead_inlock(s);

	atomic_store(&h->done, 0);
	atomic_store(&h->end, P11_RING_BUF);
	atomic_store(&h->state, P11_RING_STAGING);
	atomic_store(&h->pos, 0);
	atomic_store_explicit(&s->cur, k, memory_order_release);
}

/*
 * Buffer k is full: the other one takes over once it is written out (by
 * the thread that filled it, which needs the lock meanwhile). Only while k
 * is still full: a thread that found it full may come late, when k has
 * been written out and taken up again.
 */
static void switch_buf(p11_sink *s, int k)
{
	struct p11_ring_buf *h = &s->sh->buf[s->slot * P11_RING_BUFS + k];

	pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->closed) && atomic_load(&s->cur) == k &&
	       atomic_load(&h->pos) >= P11_RING_BUF) {
		int o = 1 - k;
		if (atomic_load(&s->sh->buf[s->slot * P11_RING_BUFS + o].state) == P11_RING_EMPTY) {
			arm_inlock(s, o);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		sched_yield();
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * Buffer b ends at pos, where the first entry that did not fit (or a
 * flush) found it: the room after it counts as copied, and the thread whose
 * count completes the buffer writes it. A pos at or past the end: another
 * thread ended it first.
 */
static void end_buf(p11_sink *s, unsigned b, uint64_t pos)
{
	struct p11_ring_buf *h = &s->sh->buf[b];

	if (pos >= P11_RING_BUF)
		return;
	atomic_store(&h->end, pos);
	if (atomic_fetch_add(&h->done, P11_RING_BUF - pos) + (P11_RING_BUF - pos) == P11_RING_BUF)
		flush(s, b);
}

/* The fast path: copies the record reserved at w into the current buffer. */
static bool stage(p11_sink *s, uint64_t w, const char *p, size_t n)
{
	uint64_t need = P11_RING_ENTRY_SIZE(n), pos;

	if (n > STAGE_MAX)
		return false;
	for (;;) {
		int k = atomic_load_explicit(&s->cur, memory_order_acquire);
		unsigned b;
		struct p11_ring_buf *h;

		if (k < 0)
			return false;
		b = (unsigned)(s->slot * P11_RING_BUFS + k);
		h = &s->sh->buf[b];
		pos = atomic_fetch_add(&h->pos, need);
		if (pos + need <= P11_RING_BUF) {
			struct p11_ring_entry *e =
			        (struct p11_ring_entry *)(p11_ring_data(s->sh, b) + pos);
			e->word = w;
			e->len = (uint32_t)n;
			memcpy(e + 1, p, n);
			atomic_store_explicit(&e->mark, P11_RING_MARK, memory_order_release);
			if (atomic_fetch_add(&h->done, need) + need == P11_RING_BUF)
				flush(s, b);
			return true;
		}
		end_buf(s, b, pos);
		switch_buf(s, k);
	}
}

/*
 * Flushes what this process has staged: the current buffer is ended where
 * its entries end and written once the copies into it are done; the other
 * takes the records that come meanwhile. Called by the watchdog, so that
 * the records of an idle client reach the file within a tick.
 */
void p11_sink_flush(p11_sink *s)
{
	struct p11_ring_buf *h;
	uint64_t pos;
	int k;

	if (s == NULL || atomic_load(&s->mode) != P11_SINK_RING || atomic_load(&s->closed) ||
	    (k = atomic_load_explicit(&s->cur, memory_order_acquire)) < 0)
		return;
	h = &s->sh->buf[s->slot * P11_RING_BUFS + k];
	pos = atomic_load(&h->pos);
	if (pos == 0 || pos >= P11_RING_BUF)
		return; /* nothing staged, or full and being written */
	end_buf(s, (unsigned)(s->slot * P11_RING_BUFS + k), atomic_fetch_add(&h->pos, P11_RING_BUF));
	switch_buf(s, k);
}

/* A record that is not staged: written at its reservation now. */
static void write_now(p11_sink *s, uint64_t g, uint64_t off, const char *p, size_t n)
{
	int fd;

	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->closed) && (fd = fd_for(s, g, true)) >= 0) {
		if (fd == atomic_load(&s->cur_fd) && truncated_inlock(s))
			fd = fd_for(s, g, true);
		if (fd >= 0 && put(s, fd, p, n, off) && fd == atomic_load(&s->cur_fd) &&
		    off + n > s->written)
			s->written = off + n;
	}
	pthread_mutex_unlock(&s->lock);
}

/*
 * Under s->lock and LOCK_MUTATE: writes what the slots of dead processes
 * hold (their lock is free) and empties them; keeps the first free slot
 * for this process when it has none.
 */
static void recover_slots_inlock(p11_sink *s, bool claim)
{
	unsigned i, k;

	for (i = 0; i < P11_RING_SLOTS; i++) {
		if ((int)i == s->slot ||
		    ofd_lock(s->ctl_fd, F_WRLCK, P11_RING_SLOT_LOCK(i), false) != 0)
			continue;
		for (k = 0; k < P11_RING_BUFS; k++)
			flush_buf(s, i * P11_RING_BUFS + k, true);
		if (claim && s->slot < 0)
			s->slot = (int)i;
		else
			ofd_lock(s->ctl_fd, F_UNLCK, P11_RING_SLOT_LOCK(i), false);
	}
}

/* Every 64 KiB of records: is the file at the path still this generation's, and whole? */
static void check_file(p11_sink *s, uint64_t g)
{
	struct stat st;

	if (g != atomic_load(&s->cur_gen))
		return;
	if (stat(s->path, &st) == 0 && (uint64_t)st.st_ino == atomic_load(&s->sh->ino) &&
	    (uint64_t)st.st_dev == atomic_load(&s->sh->dev) && (uint64_t)st.st_size >= s->written)
		return;
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->closed) && !truncated_inlock(s) &&
	    ofd_lock(s->ctl_fd, F_WRLCK, LOCK_MUTATE, true) == 0) {
		/* Removed: a new file at the path. */
		if (stat(s->path, &st) != 0 || (uint64_t)st.st_ino != atomic_load(&s->sh->ino) ||
		    (uint64_t)st.st_dev != atomic_load(&s->sh->dev))
			next_generation_inlock(s, g, false);
		ofd_lock(s->ctl_fd, F_UNLCK, LOCK_MUTATE, false);
	}
	pthread_mutex_unlock(&s->lock);
}

static void rotate(p11_sink *s, uint64_t g, uint64_t off)
{
	bool rotated = false;

	if (GEN_OF(atomic_load(&s->sh->word)) != g)
		return;
	pthread_mutex_lock(&s->lock);
	if (!atomic_load(&s->closed) && atomic_load(&s->cur_gen) == g &&
	    ofd_lock(s->ctl_fd, F_WRLCK, LOCK_MUTATE, true) == 0) {
		rotated = next_generation_inlock(s, g, true);
		if (!rotated && GEN_OF(atomic_load(&s->sh->word)) == g)
			atomic_store(&s->rotate_retry,
			             off + RETRY_AFTER); /* failed: not on every record */
		ofd_lock(s->ctl_fd, F_UNLCK, LOCK_MUTATE, false);
	}
	pthread_mutex_unlock(&s->lock);
	/* PATH.1 gets what this process staged for it now, not at the next flush. */
	if (rotated)
		p11_sink_flush(s);
}

/* ---- APPEND mode: one write(2) per record ---- */

static int open_append(p11_sink *s)
{
	struct stat st;

	s->afd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->afd < 0)
		return -1;
	if (fstat(s->afd, &st) == 0)
		atomic_store(&s->est_size, (unsigned long long)st.st_size);
	s->mode = P11_SINK_APPEND;
	return 0;
}

/* Every 64 KiB: reopen a removed file; rotate beyond MaxSize under an flock. */
static void append_check(p11_sink *s)
{
	struct stat fst, pst;
	char old[4200];
	int fd;

	pthread_mutex_lock(&s->lock);
	atomic_store(&s->since_check, 0);
	if (fstat(s->afd, &fst) != 0)
		goto out;
	atomic_store(&s->est_size, (unsigned long long)fst.st_size);
	if (stat(s->path, &pst) != 0 || pst.st_ino != fst.st_ino || pst.st_dev != fst.st_dev)
		goto reopen;
	if (s->max_size == 0 || (uint64_t)fst.st_size < s->max_size)
		goto out;
	if (flock(s->afd, LOCK_EX) == 0) {
		if (stat(s->path, &pst) == 0 && pst.st_ino == fst.st_ino &&
		    (uint64_t)pst.st_size >= s->max_size) {
			snprintf(old, sizeof(old), "%s.1", s->path);
			if (rename(s->path, old) != 0)
				report_loss(s, errno);
		}
		flock(s->afd, LOCK_UN);
	}
	atomic_store(&s->est_size, 0);
reopen:
	fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		dup2(fd, s->afd);
		close(fd);
	}
out:
	pthread_mutex_unlock(&s->lock);
}

/*
 * A record the disk could hold only the beginning of (a short write) stays
 * cut short; the next record this process writes starts with a newline, so
 * that it does not run into it (readers report the piece as cut short).
 */
static void append_write(p11_sink *s, const char *p, size_t n)
{
	struct iovec iov[2] = { { (void *)"\n", 1 }, { (void *)p, n } };
	bool after_cut = atomic_load_explicit(&s->cut_short, memory_order_relaxed);
	ssize_t w = after_cut ? writev(s->afd, iov, 2) : write(s->afd, p, n);
	size_t want = after_cut ? n + 1 : n;

	if (w > 0)
		atomic_store(&s->cut_short, (size_t)w < want);
	if (w < 0 || (size_t)w != want)
		report_loss(s, w < 0 ? errno : ENOSPC);
	else if (atomic_load(&s->lost) != LOST_NONE)
		atomic_store(&s->lost, LOST_NONE);
	if (atomic_fetch_add(&s->since_check, n) + n >= (1u << CHECK_SHIFT) ||
	    (s->max_size != 0 && atomic_fetch_add(&s->est_size, n) + n >= s->max_size))
		append_check(s);
}

/* ---- open, write, close ---- */

/*
 * Alone (no process holds LOCK_LIVE): what FILE.tail still holds of a
 * session whose processes were killed is written to the file at the path
 * (fd) when that is the file it was for; then FILE.tail starts afresh.
 */
static void recover_alone(p11_sink *s, int cfd, int fd)
{
	struct stat cst, fst;
	struct p11_ring_head *h;
	unsigned b;

	if (fstat(cfd, &cst) != 0 || cst.st_size < P11_RING_SIZE || fstat(fd, &fst) != 0)
		return;
	h = mmap(NULL, P11_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
	if (h == MAP_FAILED)
		return;
	if (memcmp(h->magic, P11_RING_MAGIC, 8) == 0 && h->version == P11_RING_VERSION &&
	    atomic_load(&h->ino) == (uint64_t)fst.st_ino &&
	    atomic_load(&h->dev) == (uint64_t)fst.st_dev) {
		s->sh = h;
		atomic_store(&s->cur_gen, GEN_OF(atomic_load(&h->word)));
		atomic_store(&s->cur_fd, fd);
		for (b = 0; b < P11_RING_SLOTS * P11_RING_BUFS; b++)
			flush_buf(s, b, false);
		atomic_store(&s->cur_fd, -1);
		s->sh = NULL;
	}
	munmap(h, P11_RING_SIZE);
}

/* Joins the processes tracing to the path through FILE.tail; -1 when there can be no companion. */
static int join(p11_sink *s)
{
	struct stat cst, pst, dst;
	struct p11_ring_head *sh;
	bool first = false;
	int dfd, cfd = -1, tries;
	uint64_t end, g;

	dfd = open(s->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (dfd < 0)
		return -1;
	for (tries = 0; tries < 8; tries++) {
		cfd = open(s->ctl_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (cfd < 0)
			goto fail;
		if (ofd_lock(cfd, F_WRLCK, LOCK_MUTATE, true) != 0)
			goto fail; /* no OFD locks (Linux < 3.15) */
		/* The last process of a previous session may have removed it meanwhile. */
		if (fstat(cfd, &cst) == 0 && stat(s->ctl_path, &pst) == 0 &&
		    cst.st_ino == pst.st_ino && cst.st_dev == pst.st_dev)
			break;
		close(cfd);
		cfd = -1;
	}
	if (cfd < 0)
		goto fail;
	first = ofd_lock(cfd, F_WRLCK, LOCK_LIVE, false) == 0;
	if (first) {
		/* The path's file now, under the lock (a rotation may have moved dfd's). */
		if (stat(s->path, &pst) != 0 || fstat(dfd, &dst) != 0 || pst.st_ino != dst.st_ino) {
			close(dfd);
			dfd = open(s->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (dfd < 0 || fstat(dfd, &dst) != 0)
				goto fail;
		}
		recover_alone(s, cfd, dfd);
		if (ftruncate(cfd, 0) != 0 || ftruncate(cfd, P11_RING_SIZE) != 0)
			goto fail;
	}
	if (!first && (fstat(cfd, &cst) != 0 || cst.st_size < P11_RING_SIZE))
		goto fail;
	/* Backed before it is mapped: ftruncate alone leaves a hole, and the
	 * first store into it on a full file system raised SIGBUS in the
	 * client. Without room, one write(2) per record. */
	if (!backed(cfd, 0, P11_RING_SIZE)) {
		/* Alone and leaving: no companion left for others to join
		 * (one that waits for LOCK_MUTATE sees it gone and retries). */
		if (first)
			unlink(s->ctl_path);
		goto fail;
	}
	sh = mmap(NULL, P11_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0);
	if (sh == MAP_FAILED)
		goto fail;
	if (!atomic_is_lock_free(&sh->word) || (!first && (memcmp(sh->magic, P11_RING_MAGIC, 8) != 0 ||
	                                                   sh->version != P11_RING_VERSION))) {
		munmap(sh, P11_RING_SIZE);
		goto fail;
	}
	s->sh = sh;
	s->ctl_fd = cfd;
	if (first) {
		/* Alone: the path's file starts generation 1, its old padding trimmed. */
		end = trim_padding(dfd);
		memcpy(sh->magic, P11_RING_MAGIC, 8);
		sh->version = P11_RING_VERSION;
		sh->size = P11_RING_SIZE;
		atomic_store(&sh->ino, (uint64_t)dst.st_ino);
		atomic_store(&sh->dev, (uint64_t)dst.st_dev);
		atomic_store(&sh->word, PACK(1, end));
		atomic_store(&s->cur_gen, 1);
		atomic_store(&s->cur_fd, dfd);
		ofd_lock(cfd, F_RDLCK, LOCK_LIVE, false); /* downgrade: others may join */
	} else {
		ofd_lock(cfd, F_RDLCK, LOCK_LIVE, false);
		g = GEN_OF(atomic_load(&sh->word));
		atomic_store(&s->cur_gen, g);
		/* The path's file now, under the lock: dfd was opened before it, and
		 * a rotation may have moved that file to PATH.1 since. */
		close(dfd);
		dfd = open(s->path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		atomic_store(&s->cur_fd, dfd);
		if (dfd < 0 || fstat(dfd, &dst) != 0 ||
		    (uint64_t)dst.st_ino != atomic_load(&sh->ino) ||
		    (uint64_t)dst.st_dev != atomic_load(&sh->dev)) {
			/* The generation's file was removed: a new one at the path. */
			atomic_store(&s->cur_fd, -1);
			if (dfd >= 0)
				close(dfd);
			next_generation_inlock(s, g, false);
		}
	}
	recover_slots_inlock(s, true);
	if (s->slot >= 0)
		arm_inlock(s, 0);
	ofd_lock(cfd, F_UNLCK, LOCK_MUTATE, false);
	s->mode = s->slot >= 0 ? P11_SINK_RING : P11_SINK_PWRITE;
	return 0;
fail:
	if (cfd >= 0)
		close(cfd); /* releases its locks */
	if (dfd >= 0)
		close(dfd);
	atomic_store(&s->cur_fd, -1);
	s->ctl_fd = -1;
	return -1;
}

static void register_sink(p11_sink *s)
{
	size_t i;

	for (i = 0; i < MAX_SINKS; i++) {
		p11_sink *expect = NULL;
		if (atomic_compare_exchange_strong(&sinks[i], &expect, s))
			return;
	}
}

static void unregister_sink(p11_sink *s)
{
	size_t i;

	for (i = 0; i < MAX_SINKS; i++) {
		p11_sink *expect = s;
		atomic_compare_exchange_strong(&sinks[i], &expect, NULL);
	}
}

p11_sink *p11_sink_open(const char *path, uint64_t max_size)
{
	p11_sink *s = calloc(1, sizeof(*s));
	int err;

	if (s == NULL)
		return NULL;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->ctl_path, sizeof(s->ctl_path), "%s.tail", path);
	s->max_size = max_size;
	atomic_store(&s->rotate_retry, max_size + RETRY_AFTER);
	s->pid = getpid();
	s->ctl_fd = s->afd = -1;
	s->slot = -1;
	atomic_store(&s->cur, -1);
	atomic_store(&s->cur_fd, -1);
	atomic_store(&s->old_fd, -1);
	atomic_store(&s->old_gen, NO_GEN);
	pthread_mutex_init(&s->lock, NULL);
	if (join(s) != 0 && open_append(s) != 0) {
		err = errno;
		pthread_mutex_destroy(&s->lock);
		free(s);
		errno = err;
		return NULL;
	}
	register_sink(s);
	return s;
}

/* After a SIGBUS in FILE.tail (truncated under the writers): one write per record from now on. */
static void repair(p11_sink *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->mode != P11_SINK_APPEND) {
		atomic_store(&s->cur, -1);
		if (open_append(s) != 0)
			report_loss(s, errno);
	}
	pthread_mutex_unlock(&s->lock);
}

void p11_sink_write(p11_sink *s, const char *p, size_t n)
{
	uint64_t w, g, off;

	if (atomic_load_explicit(&s->damaged, memory_order_relaxed) && s->mode != P11_SINK_APPEND)
		repair(s);
	if (atomic_load_explicit(&s->mode, memory_order_relaxed) == P11_SINK_APPEND) {
		if (s->afd >= 0)
			append_write(s, p, n);
		return;
	}
	w = atomic_fetch_add(&s->sh->word, (uint64_t)n);
	g = GEN_OF(w);
	off = OFF_OF(w);
	if (!stage(s, w, p, n))
		write_now(s, g, off, p, n);
	if (s->max_size != 0 && off + n > s->max_size &&
	    (off < s->max_size || off >= atomic_load_explicit(&s->rotate_retry, memory_order_relaxed)))
		rotate(s, g, off);
	else if (off >> CHECK_SHIFT != (off + n) >> CHECK_SHIFT)
		check_file(s, g);
}

void p11_sink_write_crash(p11_sink *s, const char *a, size_t an, const char *b, size_t bn)
{
	struct iovec iov[2];
	uint64_t w;
	int fd;

	if (atomic_load(&s->closed))
		return;
	iov[0].iov_base = (void *)a;
	iov[0].iov_len = an;
	iov[1].iov_base = (void *)b;
	iov[1].iov_len = bn;
	if (s->mode == P11_SINK_APPEND) {
		if (writev(s->afd, iov, 2) < 0) {
			/* nothing more can be done in a signal handler */
		}
		return;
	}
	w = atomic_fetch_add(&s->sh->word, (uint64_t)(an + bn));
	/* pwritev: async-signal-safe. */
	if ((fd = fd_for(s, GEN_OF(w), false)) >= 0)
		put_iov(s, fd, iov, 2, OFF_OF(w));
}

/*
 * Leaving: this process's staged records go to the file; the last process
 * tracing to it also writes what dead ones left, cuts the file to the end
 * of the reservations and removes FILE.tail. Caller holds s->lock, except
 * in a signal handler (dying).
 */
static void finish(p11_sink *s, bool dying)
{
	uint64_t g;
	unsigned k;
	int fd;

	if (s->mode == P11_SINK_APPEND || s->ctl_fd < 0 || atomic_load(&s->closed))
		return;
	atomic_store(&s->closed, true);
	atomic_store(&s->cur, -1); /* later records (other threads at exit) are dropped */
	if (s->slot >= 0)
		for (k = 0; k < P11_RING_BUFS; k++)
			flush_buf(s, (unsigned)s->slot * P11_RING_BUFS + k, !dying);
	if (ofd_lock(s->ctl_fd, F_WRLCK, LOCK_MUTATE, !dying) != 0)
		return;
	if (ofd_lock(s->ctl_fd, F_WRLCK, LOCK_LIVE, false) == 0) {
		if (!dying)
			recover_slots_inlock(s, false);
		g = GEN_OF(atomic_load(&s->sh->word));
		fd = atomic_load(&s->cur_fd);
		if (g == atomic_load(&s->cur_gen) && fd >= 0)
			cut(fd, OFF_OF(atomic_load(&s->sh->word)));
		unlink(s->ctl_path);
	} else {
		/* Others trace on. Leaving before LOCK_MUTATE is released: of
		 * processes closing at once, the one that comes last finds no other
		 * shared lock, and trims. */
		ofd_lock(s->ctl_fd, F_UNLCK, LOCK_LIVE, false);
	}
	ofd_lock(s->ctl_fd, F_UNLCK, LOCK_MUTATE, false);
}

void p11_sink_crash_done(void)
{
	pid_t pid = getpid();
	size_t i;

	for (i = 0; i < MAX_SINKS; i++) {
		p11_sink *s = atomic_load(&sinks[i]);
		if (s != NULL && s->pid == pid)
			finish(s, true);
	}
}

bool p11_sink_fault(void *addr)
{
	uintptr_t a = (uintptr_t)addr;
	size_t i;

	for (i = 0; i < MAX_SINKS; i++) {
		p11_sink *s = atomic_load(&sinks[i]);
		if (s == NULL || s->sh == NULL)
			continue;
		if (a >= (uintptr_t)s->sh && a < (uintptr_t)s->sh + P11_RING_SIZE) {
			/* FILE.tail shrank under the mapping: anonymous pages take the
			 * rest of this copy; the next record switches to one write each. */
			if (mmap(s->sh, P11_RING_SIZE, PROT_READ | PROT_WRITE,
			         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				return false;
			atomic_store(&s->damaged, true);
			return true;
		}
	}
	return false;
}

void p11_sink_close(p11_sink *s)
{
	int fd;

	if (s == NULL)
		return;
	unregister_sink(s);
	/* A forked child leaves the file to its parent, and the lock alone: a
	 * thread of the parent may have held it at the fork. */
	if (s->pid == getpid()) {
		pthread_mutex_lock(&s->lock);
		finish(s, false);
	}
	atomic_store(&s->closed, true);
	if (s->sh != NULL)
		munmap(s->sh, P11_RING_SIZE);
	if ((fd = atomic_load(&s->cur_fd)) >= 0)
		close(fd);
	if ((fd = atomic_load(&s->old_fd)) >= 0)
		close(fd);
	if (s->ctl_fd >= 0)
		close(s->ctl_fd);
	if (s->afd >= 0)
		close(s->afd);
	if (s->pid == getpid()) {
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_destroy(&s->lock);
	}
	free(s);
}

/*
 * A client that never calls C_Finalize (Java) still leaves its records in
 * the file and a trimmed file: at exit, each process writes its buffers
 * and the last trims. Nothing is freed or unmapped (other threads may still
 * be writing); records after this point are dropped.
 */
__attribute__((destructor)) static void sink_at_exit(void)
{
	pid_t pid = getpid();
	size_t i;

	for (i = 0; i < MAX_SINKS; i++) {
		p11_sink *s = atomic_load(&sinks[i]);
		if (s == NULL || s->pid != pid)
			continue;
		pthread_mutex_lock(&s->lock);
		finish(s, false);
		pthread_mutex_unlock(&s->lock);
	}
}

p11_sink_mode p11_sink_get_mode(const p11_sink *s)
{
	return s->mode;
}

const char *p11_sink_path(const p11_sink *s)
{
	return s->path;
}
