/*
 * The field names of a trace record (JSON Lines), in one place: the
 * module's writer (src/trace/layer.c, format.c, format_msg.c) and the
 * CLI's reader, renderer and rules (src/tool/trace_*.c) take them from
 * here, so a name cannot differ between the side that writes and the side
 * that reads.
 *
 * A record is
 *
 *   {"ts":..,"pid":..,"tid":..,"seq":..,"fn":..,"args":{..},"out":{..},"rv":..,"us":..,"notes":[..]}
 *
 * with the head fields below in this order (the reader's fast path expects
 * it); "out", "crash", "us", "pending_us" and "notes" appear only when they
 * have something to say. Inside "args" and "out" an argument is keyed by
 * its PKCS#11 name from include/p11fn.def ("hSession", "pTemplate"), a
 * structure's member by its PKCS#11 name ("slotDescription"); those are not
 * listed here. What is listed is the trace's own vocabulary: the head and
 * the keys of the shapes the formatters give a value (a buffer, a
 * template, a mechanism).
 *
 * Each name is a string literal, so that it can be pasted into the fixed
 * parts of a record ("{" P11_TF_JSON(P11_TF_TS) "\"") and its length taken
 * at compile time (P11_TF_STRLEN): the writer copies those parts with
 * lengths known to the compiler, and the reader compares them so.
 * P11_TRACE_HEAD lists the head fields in record order, for code that
 * walks them (the reader's dispatch, the renderer's "unknown field" test).
 *
 * The names are an interface: traces outlive the shim that wrote them, and
 * scripts read them. Renaming one breaks every older reader; add a field
 * instead, and teach the reader the old name too when one must change.
 */
#ifndef P11_TRACE_SCHEMA_H
#define P11_TRACE_SCHEMA_H

#include <string.h>

/* ---- the head of a record, in the order it is written ---- */

/* The time the call entered the layers below: UTC, "2024-01-31T12:34:56.123456Z". */
#define P11_TF_TS "ts"
/* The calling process and thread. */
#define P11_TF_PID "pid"
#define P11_TF_TID "tid"
/* The call's number within its process, from 1. */
#define P11_TF_SEQ "seq"
/* The function: "C_Login". */
#define P11_TF_FN "fn"
/* An object: the arguments as the client passed them, by their PKCS#11 names. */
#define P11_TF_ARGS "args"
/* An object: what the call gave back (only when it did). */
#define P11_TF_OUT "out"
/* The return value: "CKR_OK", or "0x..." when unnamed; null when the call did not return. */
#define P11_TF_RV "rv"
/* The fault the process died of inside the call ("SIGSEGV"); "rv" is null. */
#define P11_TF_CRASH "crash"
/* The time the call spent in the layers below, in microseconds. */
#define P11_TF_US "us"
/* A SlowCall note on a call still in the backend: how long so far, in microseconds. */
#define P11_TF_PENDING_US "pending_us"
/* An array of strings: what the policies and the trace noticed during the call. */
#define P11_TF_NOTES "notes"

#define P11_TRACE_HEAD(X) \
	X(TS) X(PID) X(TID) X(SEQ) X(FN) X(ARGS) X(OUT) X(RV) X(CRASH) X(US) X(PENDING_US) X(NOTES)

/* ---- keys inside argument values ---- */

/* A buffer {"len":N,"hex":".."}: its length (also an attribute's length when
 * its value is not shown), and its bytes under [trace] Data = hex. */
#define P11_TF_LEN "len"
#define P11_TF_HEX "hex"
/* After a text field that is not UTF-8, its bytes as hex: "label" then "label_hex". */
#define P11_TF_HEX_SUFFIX "_hex"
/* The room a client's output buffer, list or attribute offered before the call. */
#define P11_TF_CAP "cap"
/* A template too large or too deep to show: {"count":N,"shown":false}. */
#define P11_TF_COUNT "count"
#define P11_TF_SHOWN "shown"
/* A template's attribute {"type":"CKA_LABEL","value":..}; "type" also names
 * the structure of a PKCS#11 3.0 message parameter. */
#define P11_TF_TYPE "type"
#define P11_TF_VALUE "value"
/* A CK_MECHANISM {"mechanism":"CKM_..","parameter":<buffer>}. */
#define P11_TF_MECHANISM "mechanism"
#define P11_TF_PARAMETER "parameter"

/* ---- using them ---- */

/* The length of a name, a constant. */
#define P11_TF_STRLEN(name) (sizeof(name) - 1)
/* "name": as a literal, for the fixed parts of a record. */
#define P11_TF_JSON(name) "\"" name "\":"
/* Whether the n bytes at k are the name. */
#define P11_TF_IS(k, n, name) \
	((n) == P11_TF_STRLEN(name) && memcmp((k), (name), P11_TF_STRLEN(name)) == 0)

#endif /* P11_TRACE_SCHEMA_H */
