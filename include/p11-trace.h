/*
 * Trace record building.
 *
 * One builder serves both formats: JSON Lines and the readable text line.
 * The per-kind formatters below are what the kinds of p11kinds.def expand
 * to in the trace layer, and what tests call directly. They never read
 * through a NULL pointer, never read more than the limits below of a
 * buffer whose length the client gave, and never show a secret.
 */
#ifndef P11_TRACE_H
#define P11_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "p11-pkcs11.h"

typedef enum { P11_FMT_JSONL, P11_FMT_TEXT } p11_format;
typedef enum { P11_DATA_NONE, P11_DATA_LENGTH, P11_DATA_HEX } p11_data;

/* Beyond these, a buffer or template is described, not read. */
#define P11_TRACE_MAX_HEX 4096
#define P11_TRACE_MAX_ATTRS 256
#define P11_TRACE_MAX_LIST 1024

typedef struct {
	char *p;
	size_t len, cap;
	bool heap;   /* p was allocated by the builder */
	bool failed; /* out of memory: the record is cut short */
	p11_format format;
	p11_data data;
	unsigned depth;
	unsigned char first[16]; /* per nesting level: no separator yet */
} p11_tb;

void p11_tb_init(p11_tb *tb, char *storage, size_t cap, p11_format format, p11_data data);
void p11_tb_free(p11_tb *tb);
void p11_tb_raw_grow(p11_tb *tb, const char *s, size_t n);

/*
 * Appends bytes. Inline: every record is some thirty of these, mostly
 * string literals whose length and copy the compiler then knows.
 */
static inline void p11_tb_raw(p11_tb *tb, const char *s, size_t n)
{
	if (__builtin_expect(tb->cap - tb->len > n, 1)) {
		memcpy(tb->p + tb->len, s, n);
		tb->len += n;
	} else {
		p11_tb_raw_grow(tb, s, n);
	}
}

static inline void p11_tb_rawz(p11_tb *tb, const char *s)
{
	p11_tb_raw(tb, s, strlen(s));
}

void p11_tb_key(p11_tb *tb, const char *key);
void p11_tb_open(p11_tb *tb, char c);  /* '{' or '[' */
void p11_tb_close(p11_tb *tb, char c); /* '}' or ']' */
void p11_tb_item(p11_tb *tb);          /* separator before an array item */
void p11_tb_ulong(p11_tb *tb, unsigned long v);
void p11_tb_str(p11_tb *tb, const char *s, size_t n);
/* A blank-padded field; answers its length when it is not UTF-8 (else 0). */
size_t p11_tb_padded(p11_tb *tb, const unsigned char *s, size_t n);
void p11_tb_null(p11_tb *tb);
void p11_tb_bool(p11_tb *tb, bool v);

/* Per-kind argument formatters: *_in before the call, *_out after it. */
typedef struct p11_tf p11_tf;
struct p11_tf {
	p11_tb *tb;
	CK_RV rv;
};

void tf_init_args(p11_tb *tb, const char *name, CK_VOID_PTR p);
void tf_ptr_present(p11_tb *tb, const char *name, const void *p);
void tf_ulong(p11_tb *tb, const char *name, CK_ULONG v);
void tf_bool(p11_tb *tb, const char *name, CK_BBOOL v);
void tf_const(p11_tb *tb, const char *name, int set, CK_ULONG v);
void tf_flags(p11_tb *tb, const char *name, int set, CK_FLAGS v);
void tf_pin(p11_tb *tb, const char *name, CK_UTF8CHAR_PTR p, CK_ULONG n);
void tf_label(p11_tb *tb, const char *name, CK_UTF8CHAR_PTR p);
void tf_mech(p11_tb *tb, const char *name, CK_MECHANISM_PTR m);
void tf_bytes(p11_tb *tb, const char *name, const CK_BYTE *p, CK_ULONG n, bool secret);
void tf_buf_cap(p11_tb *tb, const char *name, const void *p, CK_ULONG_PTR pn);
void tf_attrs(p11_tb *tb, const char *name, CK_ATTRIBUTE_PTR t, CK_ULONG n);
void tf_attr_types(p11_tb *tb, const char *name, CK_ATTRIBUTE_PTR t, CK_ULONG n);

/* PKCS#11 3.0 kinds (src/trace/format_msg.c). */
void tf_username(p11_tb *tb, const char *name, CK_UTF8CHAR_PTR p, CK_ULONG n);
void tf_msg_flags(p11_tb *tb, const char *name, CK_FLAGS f);
void tf_msg_param(p11_tb *tb, const char *name, CK_VOID_PTR p, CK_ULONG n);
void tf_out_msg_param(p11_tb *tb, CK_RV rv, const char *name, CK_VOID_PTR p, CK_ULONG n);

void tf_out_ulong(p11_tb *tb, CK_RV rv, const char *name, CK_ULONG_PTR p);
/*
 * Outputs. `cap` is the room the client's buffer had before the call (its
 * *pulCount or *pulLen); `asked` the client's template copied before the
 * call, or NULL to trust t. They never read past what the client gave, and
 * answer true (or the number of attributes) when the backend claimed more
 * than that: a lie, for the caller to note.
 */
bool tf_out_slots(p11_tb *tb, CK_RV rv, const char *name, const char *count, CK_ULONG_PTR list,
                  CK_ULONG_PTR n, int set, CK_ULONG cap);
bool tf_out_bytes(p11_tb *tb, CK_RV rv, const char *name, const char *lenname, const CK_BYTE *p,
                  CK_ULONG_PTR pn, bool secret, CK_ULONG cap);
bool tf_out_handles(p11_tb *tb, CK_RV rv, const char *name, const char *count,
                    CK_OBJECT_HANDLE_PTR p, CK_ULONG max, CK_ULONG_PTR pn);
CK_ULONG tf_out_attrs(p11_tb *tb, CK_RV rv, const char *name, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                      const CK_ATTRIBUTE *asked);
void tf_out_info(p11_tb *tb, CK_RV rv, const char *name, CK_INFO_PTR p);
void tf_out_slot_info(p11_tb *tb, CK_RV rv, const char *name, CK_SLOT_INFO_PTR p);
void tf_out_token_info(p11_tb *tb, CK_RV rv, const char *name, CK_TOKEN_INFO_PTR p);
void tf_out_mech_info(p11_tb *tb, CK_RV rv, const char *name, CK_MECHANISM_INFO_PTR p);
void tf_out_session_info(p11_tb *tb, CK_RV rv, const char *name, CK_SESSION_INFO_PTR p);

/* Whether an attribute's value is a secret in a template of the given class
 * (CK_UNAVAILABLE_INFORMATION: class unknown). */
bool p11_attr_is_secret(CK_ATTRIBUTE_TYPE type, CK_OBJECT_CLASS cls);

/* The last "seq" this process gave a call (0 before the first): seq counts per process. */
unsigned long p11_trace_last_seq(void);

/* Length of the valid UTF-8 sequence (at most 4 bytes) at s[0..n), or 0:
 * not UTF-8 (a stray byte, an overlong form, a surrogate, a cut sequence). */
size_t p11_utf8_len(const unsigned char *s, size_t n);

/* The CKR name, or "0x..." in a static per-thread buffer. */
const char *p11_rv_str(CK_RV rv);

#endif /* P11_TRACE_H */
