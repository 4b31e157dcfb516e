/*
 * Text from outside, escaped for a terminal; token field values checked
 * (include/p11-text.h). Shared by the module and the CLI: one definition of
 * what may reach a terminal raw.
 */
#include "config.h"

#include "p11-text.h"

#include <stdint.h>
#include <string.h>

/*
 * Overlong forms, surrogates and code points beyond U+10FFFF are not valid
 * UTF-8 (RFC 3629 section 3); a terminal may still read a C1 control from
 * an overlong form, so they are bytes to escape.
 */
size_t p11_text_scan(const char *str, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len, i;
	uint32_t c;

	*cp = P11_TEXT_NOT_UTF8;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 1;
	}
	if (n < len)
		return 1;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 1;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 1;
	*cp = c;
	return len;
}

/*
 * Code points shown escaped although they are valid: C1 controls (U+009B
 * is CSI, U+009D OSC), and those that break a line or reorder what is shown
 * around them (U+2028/2029, the bidi marks, embeddings, overrides and
 * isolates: the "Trojan Source" characters, CVE-2021-42574).
 */
static bool hidden_cp(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x200e || c == 0x200f || c == 0x2028 ||
	       c == 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
}

bool p11_text_shown_raw(uint32_t c)
{
	return c != P11_TEXT_NOT_UTF8 && c >= 0x20 && c != 0x7f && !hidden_cp(c);
}

size_t p11_text_escape(char *out, size_t cap, const char *s, size_t n, size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	if (cap == 0) {
		if (outlen)
			*outlen = 0;
		return 0;
	}
	while (i < n) {
		char esc[8];
		const char *put = (const char *)u + i;
		size_t put_len, len;
		uint32_t c;

		/* Printable ASCII, by far the most of any text: copied as a run. */
		for (len = 0; i + len < n && u[i + len] >= 0x20 && u[i + len] < 0x7f; len++)
			;
		if (len > 0) {
			if (len > cap - 1 - o)
				len = cap - 1 - o;
			memcpy(out + o, put, len);
			o += len;
			i += len;
			if (o + 1 >= cap)
				break;
			continue;
		}
		len = p11_text_scan(s + i, n - i, &c);
		if (c == P11_TEXT_NOT_UTF8) {
			/* Not UTF-8: the byte itself, so it can be recovered. */
			put_len = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", u[i]);
			put = esc;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			put_len = (size_t)snprintf(esc, sizeof(esc), "\\%c",
			                           c == '\n' ? 'n' :
			                           c == '\r' ? 'r' :
			                                       't');
			put = esc;
		} else if (c < 0x20 || c == 0x7f) {
			put_len = (size_t)snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)c);
			put = esc;
		} else if (hidden_cp(c)) {
			put_len = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)c);
			put = esc;
		} else {
			put_len = len;
		}
		if (o + put_len >= cap)
			break;
		memcpy(out + o, put, put_len);
		o += put_len;
		i += len;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return i;
}

const char *p11_text_safe(char *buf, size_t cap, const char *s)
{
	size_t n, used, len;

	if (s == NULL)
		s = "(null)";
	n = strlen(s);
	used = p11_text_escape(buf, cap, s, n, &len);
	if (used < n && cap > 4) {
		/* Cut: make room for "..." on a whole character or escape. */
		p11_text_escape(buf, cap - 3, s, n, &len);
		memcpy(buf + len, "...", 4);
	}
	return buf;
}

void p11_text_fput(FILE *f, const char *s, size_t n)
{
	char buf[512];
	size_t used, len;

	while (n > 0) {
		used = p11_text_escape(buf, sizeof(buf), s, n, &len);
		fwrite(buf, 1, len, f);
		s += used;
		n -= used;
	}
}

bool p11_text_token_field(const char *s, size_t max, char *why, size_t whylen)
{
	size_t n = strlen(s), i;

	if (n == 0) {
		snprintf(why, whylen, "is empty");
		return false;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e) {
			char shown[16];

			p11_text_escape(shown, sizeof(shown), s + i, 1, NULL);
			snprintf(why, whylen, "holds %s at position %zu (%s)", shown, i + 1,
			         c < 0x20 || c == 0x7f ? "a control character" : "not ASCII");
			return false;
		}
	}
	if (n > max) {
		snprintf(why, whylen, "is %zu characters long", n);
		return false;
	}
	return true;
}
