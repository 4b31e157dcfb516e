/*
 * The in-flight table (include/p11-inflight.h): which calls are inside the
 * backend right now, in a shared mapping that outlives the process.
 *
 * Layout: a 64-byte header, then P11_INFLIGHT_SLOTS slots of 128 bytes
 * (two cache lines; a slot is written by one thread at a time). A slot is
 * taken with a compare-and-swap of its state from 0 to 1 and freed with a
 * store of 0; its fields are plain stores between the two. A thread starts
 * looking at the slot its tid hashes to, so a thread mostly finds its own
 * slot again: one uncontended compare-and-swap per call. A reader copies a
 * slot and checks that its state and seq did not change meanwhile (a slot
 * freed and taken again while read is skipped).
 */
#include "config.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11-compat.h"
#include "p11-inflight.h"

#ifndef O_BINARY
#define O_BINARY 0
#endif

#define MAGIC "p11shim inflight" /* 16 bytes, no NUL */
#define TABLE_VERSION 1u
#define SLOT_SIZE 128u
#define HEADER_SIZE 64u
#define TABLE_SIZE (HEADER_SIZE + P11_INFLIGHT_SLOTS * SLOT_SIZE)
#define PROBES 32 /* slots tried before a call goes without one */
#define DAY_US (24LL * 3600 * 1000000)

typedef struct {
	char magic[16];
	uint32_t version, slots, slot_size, pad;
} header;

typedef struct {
	_Atomic uint64_t state; /* 0 free, 1 in flight */
	_Atomic uint64_t seq;
	uint64_t pid, tid;
	int64_t entry_us;
	_Atomic int64_t seen_us;
	uint64_t id;
	uint32_t kind;
	_Atomic uint32_t noted;
	char fn[40];
} slot;

_Static_assert(sizeof(slot) <= SLOT_SIZE, "an in-flight slot fits its room");
_Static_assert(sizeof(header) <= HEADER_SIZE, "the header fits its room");

struct p11_inflight {
	unsigned char *map;
};

static slot *slot_at(unsigned char *map, size_t i)
{
	return (slot *)(void *)(map + HEADER_SIZE + i * SLOT_SIZE);
}

p11_inflight *p11_inflight_open(const char *trace_path, bool fresh, char *err, size_t errlen)
{
	char path[4200];
	p11_inflight *t;
	header *h;
	bool created;
	int64_t now = compat_wall_us();
	size_t i;

	snprintf(path, sizeof(path), "%s%s", trace_path, P11_INFLIGHT_SUFFIX);
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->map = compat_map_file(path, TABLE_SIZE, &created, err, errlen);
	if (t->map == NULL) {
		free(t);
		return NULL;
	}
	h = (header *)(void *)t->map;
	if (memcmp(h->magic, MAGIC, 16) != 0 || h->version != TABLE_VERSION) {
		/* New (zeroed), or not ours: a table starts empty. */
		memset(t->map, 0, TABLE_SIZE);
		h->version = TABLE_VERSION;
		h->slots = P11_INFLIGHT_SLOTS;
		h->slot_size = SLOT_SIZE;
		memcpy(h->magic, MAGIC, 16);
	}
	for (i = 0; i < P11_INFLIGHT_SLOTS; i++) {
		slot *s = slot_at(t->map, i);
		if (atomic_load(&s->state) == 0)
			continue;
		if ((fresh || now - s->entry_us > DAY_US) &&
		    !compat_process_alive((unsigned long)s->pid))
			atomic_store(&s->state, 0);
	}
	return t;
}

void p11_inflight_close(p11_inflight *t)
{
	if (t == NULL)
		return;
	compat_unmap_file(t->map, TABLE_SIZE);
	free(t);
}

int p11_inflight_enter(p11_inflight *t, unsigned long pid, unsigned long tid, unsigned long seq,
                       const char *fn, p11_inflight_kind kind, uint64_t id, int64_t entry_us)
{
	size_t start = (size_t)((tid * 0x9e3779b1u) >> 8) % P11_INFLIGHT_SLOTS, i;

	for (i = 0; i < PROBES; i++) {
		size_t k = (start + i) % P11_INFLIGHT_SLOTS;
		slot *s = slot_at(t->map, k);
		uint64_t expect = 0;

		if (atomic_load_explicit(&s->state, memory_order_relaxed) != 0 ||
		    !atomic_compare_exchange_strong_explicit(&s->state, &expect, 1,
		                                             memory_order_acquire,
		                                             memory_order_relaxed))
			continue;
		s->pid = pid;
		s->tid = tid;
		s->entry_us = entry_us;
		atomic_store_explicit(&s->seen_us, 0, memory_order_relaxed);
		s->id = id;
		s->kind = (uint32_t)kind;
		atomic_store_explicit(&s->noted, 0, memory_order_relaxed);
		strncpy(s->fn, fn, sizeof(s->fn) - 1);
		s->fn[sizeof(s->fn) - 1] = '\0';
		atomic_store_explicit(&s->seq, seq, memory_order_release);
		return (int)k;
	}
	return -1;
}

void p11_inflight_exit(p11_inflight *t, int k)
{
	if (t != NULL && k >= 0)
		atomic_store_explicit(&slot_at(t->map, (size_t)k)->state, 0, memory_order_release);
}

/* A consistent copy of slot s, or false when it is free or changed while read. */
static bool copy_slot(const slot *s, p11_inflight_entry *e)
{
	slot *m = (slot *)s;
	uint64_t seq = atomic_load_explicit(&m->seq, memory_order_acquire);

	if (atomic_load_explicit(&m->state, memory_order_acquire) == 0)
		return false;
	e->pid = (unsigned long)s->pid;
	e->tid = (unsigned long)s->tid;
	e->seq = (unsigned long)seq;
	memcpy(e->fn, s->fn, sizeof(e->fn));
	e->fn[sizeof(e->fn) - 1] = '\0';
	e->kind = (p11_inflight_kind)s->kind;
	e->id = s->id;
	e->entry_us = s->entry_us;
	e->seen_us = atomic_load_explicit(&m->seen_us, memory_order_relaxed);
	e->noted = atomic_load_explicit(&m->noted, memory_order_relaxed) != 0;
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&m->state, memory_order_relaxed) != 0 &&
	       atomic_load_explicit(&m->seq, memory_order_relaxed) == seq && e->entry_us > 0;
}

void p11_inflight_watch(p11_inflight *t, unsigned long pid, int64_t now_us, int64_t slow_us,
                        void (*slow)(void *data, const p11_inflight_entry *e), void *data)
{
	size_t i;

	for (i = 0; i < P11_INFLIGHT_SLOTS; i++) {
		slot *s = slot_at(t->map, i);
		p11_inflight_entry e;

		if (atomic_load_explicit(&s->state, memory_order_relaxed) == 0 || s->pid != pid ||
		    !copy_slot(s, &e))
			continue;
		atomic_store_explicit(&s->seen_us, now_us, memory_order_relaxed);
		if (slow_us > 0 && !e.noted && now_us - e.entry_us >= slow_us) {
			atomic_store_explicit(&s->noted, 1, memory_order_relaxed);
			e.seen_us = now_us;
			slow(data, &e);
		}
	}
}

static int by_entry(const void *a, const void *b)
{
	const p11_inflight_entry *x = a, *y = b;

	return (x->entry_us > y->entry_us) - (x->entry_us < y->entry_us);
}

int p11_inflight_read(const char *trace_path, p11_inflight_entry *out, size_t max)
{
	char path[4200];
	unsigned char *buf;
	const header *h;
	ssize_t got = 0, r;
	size_t n = 0, i;
	int fd;

	snprintf(path, sizeof(path), "%s%s", trace_path, P11_INFLIGHT_SUFFIX);
	fd = open(path, O_RDONLY | O_BINARY);
	if (fd < 0)
		return -1;
	buf = malloc(TABLE_SIZE);
	if (buf == NULL) {
		close(fd);
		return -1;
	}
	while (got < (ssize_t)TABLE_SIZE && (r = read(fd, buf + got, TABLE_SIZE - (size_t)got)) > 0)
		got += r;
	close(fd);
	h = (const header *)(const void *)buf;
	if (got != (ssize_t)TABLE_SIZE || memcmp(h->magic, MAGIC, 16) != 0 ||
	    h->version != TABLE_VERSION) {
		free(buf);
		return -1;
	}
	for (i = 0; i < P11_INFLIGHT_SLOTS && n < max; i++) {
		if (copy_slot(slot_at(buf, i), &out[n]))
			n++;
	}
	free(buf);
	qsort(out, n, sizeof(*out), by_entry);
	return (int)n;
}
