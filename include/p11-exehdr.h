/*
 * The one ELF/PE header parser (src/platform/exehdr.c), portable C over a
 * read callback, so that POSIX and Windows read a module file's header the
 * same way and one unit test (tests/unit/test_exehdr.c) covers both.
 * compat_exe_header() of each platform opens the file and calls it.
 */
#ifndef P11_EXEHDR_H
#define P11_EXEHDR_H

#include <stddef.h>
#include <stdint.h>

#include "p11-compat.h"

/* Reads up to len bytes at offset off of the file into buf: how many were read. */
typedef size_t (*exehdr_read_fn)(void *ctx, uint32_t off, unsigned char *buf, size_t len);

/*
 * Fills out from the header read through rd. Returns 0 for an ELF or MZ
 * file (a PE header is read when e_lfanew leads to one: out->pe_header is
 * then true); -2 with err "no ELF or PE header" otherwise.
 */
int exehdr_parse(exehdr_read_fn rd, void *ctx, compat_exe *out, char *err, size_t errlen);

/* The names compat_exe.machine uses: "i386", "x86-64", "arm", "aarch64"... */
const char *exehdr_elf_machine_name(unsigned e_machine);
const char *exehdr_pe_machine_name(unsigned machine);

/* The ELF e_machine and PE Machine values of the machines named above. */
enum {
	EXEHDR_ELF_386 = 3,
	EXEHDR_ELF_X86_64 = 62,
	EXEHDR_ELF_ARM = 40,
	EXEHDR_ELF_AARCH64 = 183,
	EXEHDR_PE_I386 = 0x014c,
	EXEHDR_PE_AMD64 = 0x8664,
	EXEHDR_PE_ARM64 = 0xaa64,
	EXEHDR_PE_DLL = 0x2000 /* IMAGE_FILE_DLL in the COFF Characteristics */
};

#endif /* P11_EXEHDR_H */
