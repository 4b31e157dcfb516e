/*
 * Unit tests for the one ELF/PE header parser (src/platform/exehdr.c): the
 * headers of the files a backend path can name, built byte by byte, read
 * through an in-memory reader. The same tests run in the Linux build and in
 * the Windows one (under Wine), since both platforms use this parser.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "p11-exehdr.h"

typedef struct {
	unsigned char b[512];
	size_t len;
} image;

static size_t mem_read(void *ctx, uint32_t off, unsigned char *buf, size_t len)
{
	const image *im = ctx;

	if (off >= im->len)
		return 0;
	if (len > im->len - off)
		len = im->len - off;
	memcpy(buf, im->b + off, len);
	return len;
}

static void put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static image elf(unsigned cls, unsigned data, unsigned machine)
{
	image im;

	memset(&im, 0, sizeof(im));
	memcpy(im.b, "\177ELF", 4);
	im.b[4] = (unsigned char)cls;
	im.b[5] = (unsigned char)data;
	if (data == 2) { /* big endian */
		im.b[18] = (unsigned char)(machine >> 8);
		im.b[19] = (unsigned char)machine;
	} else {
		put16(im.b + 18, machine);
	}
	im.len = 64;
	return im;
}

static image pe(unsigned machine, unsigned magic, unsigned characteristics, uint32_t lfanew)
{
	image im;

	memset(&im, 0, sizeof(im));
	im.b[0] = 'M';
	im.b[1] = 'Z';
	put32(im.b + 0x3c, lfanew);
	memcpy(im.b + lfanew, "PE\0\0", 4);
	put16(im.b + lfanew + 4, machine);
	put16(im.b + lfanew + 22, characteristics);
	put16(im.b + lfanew + 24, magic);
	im.len = lfanew + 26 + 200;
	return im;
}

static void test_elf(void **state)
{
	char err[128] = "";
	compat_exe x;
	image im;

	(void)state;
	im = elf(2, 1, EXEHDR_ELF_X86_64);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_string_equal(x.format, "ELF");
	assert_int_equal(x.bits, 64);
	assert_string_equal(x.machine, "x86-64");
	assert_int_equal(x.elf_machine, EXEHDR_ELF_X86_64);
	assert_false(x.pe_header);

	im = elf(1, 1, EXEHDR_ELF_386);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_int_equal(x.bits, 32);
	assert_string_equal(x.machine, "i386");

	/* A big-endian header stores e_machine the other way round. */
	im = elf(2, 2, 21);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_string_equal(x.machine, "ppc64");

	/* An unknown class: word size not told, the machine still is. */
	im = elf(7, 1, EXEHDR_ELF_AARCH64);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_int_equal(x.bits, 0);
	assert_string_equal(x.machine, "aarch64");
}

static void test_pe(void **state)
{
	char err[128] = "";
	compat_exe x;
	image im;

	(void)state;
	/* The 32-bit personal.dll the shim is for. */
	im = pe(EXEHDR_PE_I386, 0x10b, EXEHDR_PE_DLL | 0x0102, 0x80);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_string_equal(x.format, "PE");
	assert_int_equal(x.bits, 32);
	assert_string_equal(x.machine, "i386");
	assert_int_equal(x.pe_machine, EXEHDR_PE_I386);
	assert_true(x.pe_header);
	assert_true(x.pe_characteristics & EXEHDR_PE_DLL);

	/* The 64-bit one (cannot initialise cards): PE32+. */
	im = pe(EXEHDR_PE_AMD64, 0x20b, EXEHDR_PE_DLL, 0xf8);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_int_equal(x.bits, 64);
	assert_string_equal(x.machine, "x86-64");

	/* An executable, not a DLL. */
	im = pe(EXEHDR_PE_I386, 0x10b, 0x0102, 0x80);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_false(x.pe_characteristics & EXEHDR_PE_DLL);
}

static void test_damaged(void **state)
{
	char err[128] = "";
	compat_exe x;
	image im;

	(void)state;
	/* An MZ file whose e_lfanew points into the DOS header, past the end,
	 * or at something that is not "PE\0\0": a PE without its header. */
	im = pe(EXEHDR_PE_I386, 0x10b, EXEHDR_PE_DLL, 0x80);
	put32(im.b + 0x3c, 8);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_string_equal(x.format, "PE");
	assert_false(x.pe_header);
	assert_string_equal(x.machine, "unknown machine");
	put32(im.b + 0x3c, 0xfffffff0u);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_false(x.pe_header);
	im = pe(EXEHDR_PE_I386, 0x10b, EXEHDR_PE_DLL, 0x80);
	im.b[0x81] = 'X';
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_false(x.pe_header);

	/* A truncated MZ file (shorter than a DOS header). */
	im.len = 10;
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), 0);
	assert_string_equal(x.format, "PE");
	assert_false(x.pe_header);

	/* Neither: a script, an empty file, a truncated ELF identification. */
	memcpy(im.b, "#!/bin/sh\n", 10);
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), -2);
	assert_string_equal(err, "no ELF or PE header");
	im.len = 0;
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), -2);
	im = elf(2, 1, EXEHDR_ELF_X86_64);
	im.len = 12;
	assert_int_equal(exehdr_parse(mem_read, &im, &x, err, sizeof(err)), -2);
}

static void test_this_build(void **state)
{
	char err[128] = "";
	const char *self = compat_self_arch();

	(void)state;
	(void)err;
	/* compat_self_arch uses the parser's machine names, so that
	 * `p11shim doctor` compares a backend's header with it alike. */
	assert_true(strstr(self, "-bit ") != NULL);
	assert_true(strstr(self, "unknown machine") == NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf),
		cmocka_unit_test(test_pe),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_this_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
