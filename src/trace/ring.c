/*
 * Reading the records staged in FILE.tail (include/p11-trace-ring.h): the
 * walk over one buffer's entries that the sink flushes and recovers with,
 * and what a reader of the trace adds to the file (p11_ring_pending).
 */
#include "config.h"

#include "p11-trace-ring.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int p11_ring_walk(struct p11_ring_head *h, unsigned b, p11_ring_entry_fn fn, void *data)
{
	const char *base = p11_ring_data(h, b);
	uint64_t end = atomic_load(&h->buf[b].end), pos = 0;
	int r;

	if (end > P11_RING_BUF)
		end = P11_RING_BUF;
	while (pos + sizeof(struct p11_ring_entry) <= end) {
		struct p11_ring_entry *e = (struct p11_ring_entry *)(base + pos);
		uint32_t mark = atomic_load_explicit(&e->mark, memory_order_acquire);
		size_t size = P11_RING_ENTRY_SIZE(e->len);

		if (e->len == 0 || pos + size > end)
			break; /* a head never written: nothing after it is known */
		if (mark == P11_RING_MARK &&
		    (r = fn(data, e->word, (const char *)(e + 1), e->len)) != 0)
			return r;
		pos += size;
	}
	return 0;
}

/* A staged record, copied out of FILE.tail: len bytes at data + at of its list. */
typedef struct {
	uint64_t off;
	size_t at, len;
} pending_rec;

typedef struct {
	uint64_t gen;
	pending_rec *v;
	size_t n, cap;
	char *data; /* the records' bytes */
	size_t used, room;
} pending_list;

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 256;
	void *q;

	if (need <= *cap)
		return true;
	while (n < need)
		n *= 2;
	if ((q = realloc(*p, n * size)) == NULL)
		return false;
	*p = q;
	*cap = n;
	return true;
}

/*
 * Copies one record of the current generation out of the mapping. The
 * writer may flush and empty the buffer meanwhile (the record is then in
 * the file): an entry whose mark is gone after the copy is left out.
 */
static int collect(void *data, uint64_t word, const char *rec, size_t len)
{
	pending_list *l = data;
	const struct p11_ring_entry *e = (const struct p11_ring_entry *)rec - 1;

	if (P11_RING_GEN(word) != l->gen)
		return 0; /* for a file rotated away */
	if (!grow((void **)&l->v, &l->cap, l->n + 1, sizeof(*l->v)) ||
	    !grow((void **)&l->data, &l->room, l->used + len, 1))
		return 1;
	memcpy(l->data + l->used, rec, len);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&e->mark, memory_order_relaxed) != P11_RING_MARK || e->word != word)
		return 0;
	l->v[l->n++] = (pending_rec){ P11_RING_OFF(word), l->used, len };
	l->used += len;
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	uint64_t x = ((const pending_rec *)a)->off, y = ((const pending_rec *)b)->off;

	return x < y ? -1 : x > y;
}

/* Whether fd's file already holds the record (flushed since it was staged). */
static bool in_file(int fd, const pending_rec *p, const char *rec)
{
	char buf[4096];
	size_t done = 0;

	while (done < p->len) {
		size_t n = p->len - done < sizeof(buf) ? p->len - done : sizeof(buf);
		if (pread(fd, buf, n, (off_t)(p->off + done)) != (ssize_t)n ||
		    memcmp(buf, rec + done, n) != 0)
			return false;
		done += n;
	}
	return true;
}

size_t p11_ring_pending(const char *path, int fd, char **out)
{
	char tail[4200];
	struct p11_ring_head *h;
	pending_list l = { 0 };
	struct stat st, fst;
	size_t total = 0, i;
	unsigned b;
	char *o;
	int cfd;

	*out = NULL;
	if (snprintf(tail, sizeof(tail), "%s.tail", path) >= (int)sizeof(tail))
		return 0;
	cfd = open(tail, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (fstat(cfd, &st) != 0 || st.st_size < P11_RING_SIZE || fstat(fd, &fst) != 0) {
		close(cfd);
		return 0;
	}
	h = mmap(NULL, P11_RING_SIZE, PROT_READ, MAP_SHARED, cfd, 0);
	close(cfd);
	if (h == MAP_FAILED)
		return 0;
	if (memcmp(h->magic, P11_RING_MAGIC, 8) != 0 || h->version != P11_RING_VERSION ||
	    atomic_load(&h->ino) != (uint64_t)fst.st_ino ||
	    atomic_load(&h->dev) != (uint64_t)fst.st_dev)
		goto out;
	l.gen = P11_RING_GEN(atomic_load(&h->word));
	for (b = 0; b < P11_RING_SLOTS * P11_RING_BUFS; b++)
		if (atomic_load(&h->buf[b].state) == P11_RING_STAGING &&
		    p11_ring_walk(h, b, collect, &l) != 0)
			goto out;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), by_offset);
	/* The copies are the output, in file order, less what the file holds. */
	if (l.n == 0 || (o = malloc(l.used)) == NULL)
		goto out;
	for (i = 0; i < l.n; i++)
		if (!in_file(fd, &l.v[i], l.data + l.v[i].at)) {
			memcpy(o + total, l.data + l.v[i].at, l.v[i].len);
			total += l.v[i].len;
		}
	if (total == 0)
		free(o);
	else
		*out = o;
out:
	free(l.v);
	free(l.data);
	munmap(h, P11_RING_SIZE);
	return total;
}
