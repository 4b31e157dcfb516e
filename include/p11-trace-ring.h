/*
 * The trace's companion file, FILE.tail, and the records staged in it
 * (src/trace/ring.c; written by src/trace/sink_posix.c, read by the CLI).
 *
 * FILE.tail is mapped MAP_SHARED by every process tracing to FILE. Its
 * first page holds the shared reservation word and, for each of
 * P11_RING_SLOTS process slots, the heads of that slot's P11_RING_BUFS
 * staging buffers; the buffers follow the first page. A process takes a slot
 * (an OFD lock on its byte) and copies each record, behind a 16-byte entry
 * head, into its slot's current buffer; a full buffer is written to FILE with
 * one pwritev(2) and emptied. Because the buffers are pages of a shared file
 * mapping that are written again and again, a record costs a copy into memory
 * that is already mapped and hot, and it survives a kill of the process in
 * the page cache: the next process to open the file writes what a dead slot
 * still holds, and readers (p11_ring_pending) add it to what the file holds.
 *
 * One layout for 32- and 64-bit processes: fixed-size fields only.
 */
#ifndef P11_TRACE_RING_H
#define P11_TRACE_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define P11_RING_MAGIC "p11shimR"
#define P11_RING_VERSION 2
#define P11_RING_HEAD 4096
#define P11_RING_SLOTS 16
#define P11_RING_BUFS 2
/* 32 KiB: one pwritev per about 150 records of 214 bytes. */
#define P11_RING_BUF (32 * 1024)
#define P11_RING_SIZE (P11_RING_HEAD + P11_RING_SLOTS * P11_RING_BUFS * P11_RING_BUF)
/* Byte of FILE.tail locked (OFD) by the process owning slot i. */
#define P11_RING_SLOT_LOCK(i) (16 + (i))

/* The reservation word: generation << 48 | the next free byte of its file. */
#define P11_RING_GEN_SHIFT 48
#define P11_RING_GEN(w) ((w) >> P11_RING_GEN_SHIFT)
#define P11_RING_OFF(w) ((w) & ((UINT64_C(1) << P11_RING_GEN_SHIFT) - 1))

enum { P11_RING_EMPTY = 0, P11_RING_STAGING = 1 };

/* The head of one staging buffer: 64 bytes. */
struct p11_ring_buf {
	_Atomic uint64_t state; /* P11_RING_EMPTY or P11_RING_STAGING */
	_Atomic uint64_t pos;   /* bytes taken by entries (may run past the buffer) */
	_Atomic uint64_t done;  /* bytes copied; the buffer is full at P11_RING_BUF */
	_Atomic uint64_t end;   /* where the entries end: the first that did not fit */
	uint64_t pad[4];
};

struct p11_ring_head {
	char magic[8];
	uint32_t version;
	uint32_t size;
	char pad0[48];
	_Atomic uint64_t word; /* at 64: generation << 48 | next free byte */
	char pad1[56];
	_Atomic uint64_t ino; /* at 128: the current generation's file */
	_Atomic uint64_t dev;
	char pad2[1024 - 144];
	struct p11_ring_buf buf[P11_RING_SLOTS * P11_RING_BUFS]; /* at 1024 */
};

/*
 * An entry in a buffer: this head, then len bytes of record, then NULs up to
 * a multiple of 8. mark is stored last (release): an entry without it was
 * being copied when its process died, and is not a record.
 */
struct p11_ring_entry {
	uint64_t word; /* where the record goes: generation << 48 | offset */
	uint32_t len;
	_Atomic uint32_t mark;
};
#define P11_RING_MARK UINT32_C(0x31434552) /* "REC1" */
#define P11_RING_ENTRY_SIZE(n) (sizeof(struct p11_ring_entry) + (((n) + 7) & ~(size_t)7))

/* Buffer b (slot * P11_RING_BUFS + k) of a mapped FILE.tail. */
static inline char *p11_ring_data(struct p11_ring_head *h, unsigned b)
{
	return (char *)h + P11_RING_HEAD + (size_t)b * P11_RING_BUF;
}

/*
 * Calls fn for each whole entry in buffer b, in buffer order, up to its end
 * (or the first entry head never written); stops early when fn returns
 * nonzero, and returns that.
 */
typedef int (*p11_ring_entry_fn)(void *data, uint64_t word, const char *rec, size_t len);
int p11_ring_walk(struct p11_ring_head *h, unsigned b, p11_ring_entry_fn fn, void *data);

/*
 * For a reader of the trace file open as fd (at path): the records that
 * processes tracing to it still hold in path.tail and the file does not
 * hold yet, in file order, in a malloc'd buffer (*out; NULL when none).
 * Returns their length in bytes.
 */
size_t p11_ring_pending(const char *path, int fd, char **out);

#endif /* P11_TRACE_RING_H */
