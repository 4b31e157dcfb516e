/*
 * Names of PKCS#11 constants and flags, for the trace and the CLI.
 *
 * p11_const_name() runs for every constant of every traced call, so it is a
 * binary search over static tables and never allocates (p11-kit
 * common/constants.c does the same).
 */
#ifndef P11_CONST_H
#define P11_CONST_H

#include <stddef.h>

#include "p11-pkcs11.h"

/*
 * Vendor user types of p11shim. The public include/p11shim.h defines them
 * too, with the same value: guarded so that either header may come first.
 * p11-kit 0.24 lacks CKU_VENDOR_DEFINED, hence the literal 0x80000000UL.
 */
#ifndef CKU_P11SHIM_PUK
#define CKU_P11SHIM_PUK (0x80000000UL + 0x5031UL)
#endif
#ifndef CKU_P11SHIM_OPERATOR_PIN
#define CKU_P11SHIM_OPERATOR_PIN (0x80000000UL + 0x5032UL)
#endif

typedef enum {
	P11_CONST_RV,         /* CKR_ */
	P11_CONST_ATTR,       /* CKA_ */
	P11_CONST_CLASS,      /* CKO_ */
	P11_CONST_MECH,       /* CKM_ */
	P11_CONST_KEY_TYPE,   /* CKK_ */
	P11_CONST_USER,       /* CKU_, incl. the p11shim vendor types */
	P11_CONST_CERT_TYPE,  /* CKC_ */
	P11_CONST_HW_FEATURE, /* CKH_ */
	P11_CONST_STATE,      /* CKS_ */
	P11_CONST_MGF,        /* CKG_MGF1_ */
	P11_CONST_KDF,        /* CKD_ */
	P11_CONST_COUNT
} p11_const_set;

typedef struct {
	CK_ULONG value;
	const char *name;
} p11_const_entry;

/*
 * Name of a value, e.g. "CKR_OK", or NULL when unknown (or set is out of
 * range). Where PKCS#11 has two names for one value, the modern one:
 * "CKK_EC", not "CKK_ECDSA". O(log n), no allocation.
 */
const char *p11_const_name(p11_const_set set, CK_ULONG value);

/* A return value's name, or "0x..." in buf when it has none. */
const char *p11_rv_name(CK_RV rv, char *buf, size_t len);

/*
 * Reverse lookup: exact, case-sensitive name within one set, deprecated
 * aliases included ("CKK_ECDSA" gives CKK_EC). Returns 0 and sets *value,
 * or -1 when the name is unknown. Linear: for the CLI and config, not hot.
 */
int p11_const_value(p11_const_set set, const char *name, CK_ULONG *value);

typedef enum {
	P11_FLAGS_TOKEN,   /* CK_TOKEN_INFO.flags */
	P11_FLAGS_SLOT,    /* CK_SLOT_INFO.flags */
	P11_FLAGS_SESSION, /* CK_SESSION_INFO.flags, C_OpenSession */
	P11_FLAGS_MECH,    /* CK_MECHANISM_INFO.flags */
	P11_FLAGS_INIT,    /* CK_C_INITIALIZE_ARGS.flags */
	P11_FLAGS_WAIT,    /* C_WaitForSlotEvent */
	P11_FLAGS_COUNT
} p11_flag_set;

/*
 * Called once per known bit with its name and rest = that bit; then, if
 * unknown bits remain, once with name = NULL and rest = those bits.
 */
typedef void (*p11_flag_emit)(void *ctx, const char *name, CK_FLAGS rest);

/*
 * Calls emit for each known bit set in flags, in ascending bit order, then
 * for the unknown remainder if any (see p11_flag_emit). Returns the number
 * of names emitted; the remainder call is not counted. emit may be NULL to
 * only count.
 */
size_t p11_flags_names(p11_flag_set set, CK_FLAGS flags, p11_flag_emit emit, void *ctx);

/*
 * Table access for tests and tools: entries sorted by value, strictly
 * ascending, aliases excluded. NULL with *count = 0 for an unknown set.
 */
const p11_const_entry *p11_const_table(p11_const_set set, size_t *count);
const p11_const_entry *p11_flags_table(p11_flag_set set, size_t *count);

/*
 * How an attribute's value is encoded, so the trace can print it
 * (PKCS#11 v2.40 section 4, attribute tables).
 */
typedef enum {
	P11_ATTR_BYTES,  /* byte array, DER, big integer: anything else */
	P11_ATTR_BOOL,   /* CK_BBOOL */
	P11_ATTR_ULONG,  /* CK_ULONG, maybe named by a const set */
	P11_ATTR_STRING, /* RFC 2279 (UTF-8) string, not NUL-terminated */
	P11_ATTR_DATE,   /* CK_DATE */
	P11_ATTR_ATTRS,  /* CK_ATTRIBUTE array (CKF_ARRAY_ATTRIBUTE) */
	P11_ATTR_MECHS   /* CK_MECHANISM_TYPE array */
} p11_attr_kind;

/*
 * Kind of an attribute's value. For P11_ATTR_ULONG, *ulong_names is the set
 * naming its values (CKA_CLASS: P11_CONST_CLASS), or P11_CONST_COUNT for a
 * plain number (CKA_MODULUS_BITS); for other kinds it is P11_CONST_COUNT.
 * ulong_names may be NULL. Unknown and vendor attributes are bytes.
 */
p11_attr_kind p11_attr_kind_of(CK_ATTRIBUTE_TYPE type, p11_const_set *ulong_names);

#endif /* P11_CONST_H */
