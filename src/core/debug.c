/*
 * Messages the user must see: one line on stderr, and the same text as a
 * note in the current call's trace record (DESIGN.md: "one clear line
 * (stderr and trace)").
 */
#include "config.h"

#include "p11-shim.h"

#include <stdio.h>

void p11_message(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "p11shim: %s\n", buf);
	p11_note("%s", buf);
}
