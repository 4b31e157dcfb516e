/*
 * A scripted in-memory PKCS#11 backend for the unit tests (STYLE.md
 * section 8, after p11-kit's common/mock.c): a bottom layer of the shape of
 * include/p11-layer.h, so each policy layer can be tested alone over it and
 * stacked as in production (mock-stack.h).
 *
 * The world: slots with the IDs the test chooses (use odd ones, 52 and 134
 * as p11-kit's mock, so an index taken for an ID shows), each with a reader
 * name (a virtual reader too), a token or none, PINs per user type (CKU_USER,
 * CKU_SO and any vendor type, e.g. Personal's other admin type), objects
 * with attributes, sessions, and the login state of each token.
 *
 * The script, per function: answer an rv without acting, fail the Nth call
 * from now, delay every call. The record: every call that reached the mock,
 * with its arguments by kind as p11fn.def tags them, so a test asserts what
 * reached the bottom ("C_Login came with user type CKU_SO", "C_SetPIN never
 * came", "no call named slot 134").
 *
 * Generated from p11fn.def: a function the mock does not implement answers
 * CKR_FUNCTION_NOT_SUPPORTED, and is still recorded and scripted. Every
 * function but C_Initialize answers CKR_CRYPTOKI_NOT_INITIALIZED before it.
 * C_WaitForSlotEvent never blocks: no queued event answers CKR_NO_EVENT.
 * The record keeps argument values, never the bytes a pointer points to:
 * a PIN a test gave never reaches its output.
 */
#ifndef P11_MOCK_H
#define P11_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p11-layer.h"

typedef struct mock mock;

/* One argument of a recorded call: its kind and the values of its names. */
typedef struct {
	const char *kind; /* "SLOT", "SESSION", "USER", "PIN", ... as in p11fn.def */
	unsigned n;       /* how many names the kind has (A_PIN(p, n): 2) */
	uintptr_t v[3];   /* their values; a pointer as a number */
} mock_arg;

#define MOCK_MAX_ARGS 8

typedef struct {
	unsigned fn; /* P11_FN_* */
	unsigned nargs;
	mock_arg arg[MOCK_MAX_ARGS];
	CK_RV rv; /* what the mock answered */
} mock_call;

mock *mock_new(void);
void mock_free(mock *m);
/* The bottom layer: every function of p11fn.def. Owned by the mock. */
p11_layer *mock_layer(mock *m);

/* ---- the world ---- */

/* CK_INFO.manufacturerID and libraryDescription (e.g. "Personal 5.7.2"). */
void mock_set_info(mock *m, const char *manufacturer, const char *description);
/* A slot with this ID and reader name (slotDescription); no token yet. */
void mock_add_slot(mock *m, CK_SLOT_ID id, const char *reader);
/* Puts a token in the slot: initialised (flags CKF_TOKEN_INITIALIZED and more) or blank (0). */
void mock_set_token(mock *m, CK_SLOT_ID id, const char *label, const char *model,
                    const char *serial, CK_FLAGS flags);
/* The secret of a user type on the slot's token; NULL removes it. A type without one cannot log in. */
void mock_set_pin(mock *m, CK_SLOT_ID id, CK_USER_TYPE user, const char *pin);
/* A token object; returns its handle. */
CK_OBJECT_HANDLE mock_add_object(mock *m, CK_SLOT_ID id, const CK_ATTRIBUTE *t, CK_ULONG n);
/* The token objects on the slot's token now. */
size_t mock_object_count(mock *m, CK_SLOT_ID id);
/* The value of attribute type of the first token object on slot with this label (NULL: none). */
const void *mock_object_attr(mock *m, CK_SLOT_ID id, const char *label, CK_ATTRIBUTE_TYPE type,
                             CK_ULONG *len);
/* Who is logged in on the slot's token: (CK_USER_TYPE)-1 for nobody. */
CK_USER_TYPE mock_logged_in(mock *m, CK_SLOT_ID id);
/* The token's label and serialNumber as set (blank padding trimmed). */
const char *mock_token_label(mock *m, CK_SLOT_ID id);
/* Queues a slot event for C_WaitForSlotEvent. */
void mock_push_event(mock *m, CK_SLOT_ID id);
/* Whether the mock is between C_Initialize and C_Finalize. */
bool mock_initialized(mock *m);

/* ---- the script ---- */

/* Every call of fn answers rv without acting (CKR_OK included); mock_script_clear undoes. */
void mock_answer(mock *m, unsigned fn, CK_RV rv);
/* The nth call of fn from now (1: the next one) answers rv without acting. */
void mock_fail_nth(mock *m, unsigned fn, unsigned nth, CK_RV rv);
/* Every call of fn sleeps ms milliseconds before it acts. */
void mock_delay(mock *m, unsigned fn, unsigned ms);
void mock_script_clear(mock *m);

/* ---- the record ---- */

size_t mock_calls(mock *m);
const mock_call *mock_call_at(mock *m, size_t i);
void mock_record_clear(mock *m);
/* How many calls of fn reached the mock. */
size_t mock_count(mock *m, unsigned fn);
/* The last call of fn, or NULL. */
const mock_call *mock_last(mock *m, unsigned fn);
/*
 * The first value of the which-th argument of this kind (0: the first) of
 * call c, in *out. false when the call has no such argument.
 */
bool mock_arg_value(const mock_call *c, const char *kind, unsigned which, uintptr_t *out);
/* How many calls had an argument of this kind with this first value, e.g. ("SLOT", 134). */
size_t mock_count_naming(mock *m, const char *kind, uintptr_t value);

#endif /* P11_MOCK_H */
