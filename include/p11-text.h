/*
 * Text from outside the shim (a trace, a configuration, the environment,
 * the middleware) made safe for a terminal or a log line, and the check of
 * a value meant for a token field.
 *
 * A crafted trace or configuration can hold escape sequences that clear a
 * screen, set a window title or rewrite what was printed before; a newline
 * in a reader name makes one line look like two. Everything the module and
 * the CLI print that came from outside goes through p11_text_escape: valid,
 * printable UTF-8 passes as it is, everything else is shown escaped, so no
 * sequence survives and a line stays one line:
 *
 *   newline, CR, tab                  \n \r \t
 *   other C0 controls (ESC...), DEL   \x1b, \x7f
 *   C1 controls U+0080..U+009F        \u009b (CSI on many terminals)
 *   line and bidi controls            \u2028, \u202e (they reorder or break what is shown)
 *   bytes that are not UTF-8          \xff (also a bare 0x9b, CSI on 8-bit terminals)
 *
 * A backslash is left as it is (Windows paths stay readable): the escapes
 * are for a person to read, not to be decoded. The output is printable
 * ASCII and UTF-8 only, so escaping it again changes nothing.
 */
#ifndef P11_TEXT_H
#define P11_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* What p11_text_scan gives for a byte that does not start a valid UTF-8 sequence. */
#define P11_TEXT_NOT_UTF8 0xffffffffu

/*
 * The character at s[0..n), n > 0: returns its length in bytes and sets *cp
 * to its code point, or to P11_TEXT_NOT_UTF8 (length 1) for a byte that is
 * not valid UTF-8 there (overlong forms, surrogates, beyond U+10FFFF, cut).
 */
size_t p11_text_scan(const char *s, size_t n, uint32_t *cp);

/* Whether a terminal may be shown the code point cp as it is (see above). */
bool p11_text_shown_raw(uint32_t cp);

/*
 * Escapes s[0..n) into out (cap bytes, always NUL-terminated when cap > 0).
 * Stops before a character or an escape that does not fit whole. Returns
 * the bytes of s consumed (n when it all fit); *outlen, when not NULL, gets
 * the length written.
 */
size_t p11_text_escape(char *out, size_t cap, const char *s, size_t n, size_t *outlen);

/*
 * The C string s escaped into buf (cap bytes), cut with "..." when it does
 * not fit; returns buf, for a printf argument. s NULL gives "(null)".
 */
const char *p11_text_safe(char *buf, size_t cap, const char *s);

/* Writes s[0..n) escaped to f. */
void p11_text_fput(FILE *f, const char *s, size_t n);

/*
 * Whether s, a value for a blank-padded character field of a token
 * (CK_TOKEN_INFO.serialNumber), is 1 to max printable ASCII characters:
 * PKCS#11 makes such fields CK_CHAR strings padded with blanks, and the
 * middleware writes the value to the card as it is. false with why set ("holds the control character \x1b at position 3", "is 17
 * characters long") otherwise.
 */
bool p11_text_token_field(const char *s, size_t max, char *why, size_t whylen);

#endif /* P11_TEXT_H */
