/*
 * The one ELF/PE header parser (include/p11-exehdr.h). Portable: it sees the
 * file only through a read callback, so the POSIX and Windows platform files
 * share it (they had drifted apart as two copies).
 *
 * ELF: the identification bytes give the word size (EI_CLASS) and the byte
 * order (EI_DATA) in which e_machine (offset 18) is stored.
 * PE: the DOS header's e_lfanew (offset 0x3c) leads to "PE\0\0", the COFF
 * header (Machine first, Characteristics at 18 from it) and the optional
 * header, whose magic tells PE32 (0x10b) from PE32+ (0x20b).
 */
#include "config.h"

#include "p11-exehdr.h"

#include <stdio.h>
#include <string.h>

static unsigned le16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *exehdr_elf_machine_name(unsigned m)
{
	switch (m) {
	case EXEHDR_ELF_386: return "i386";
	case EXEHDR_ELF_X86_64: return "x86-64";
	case EXEHDR_ELF_ARM: return "arm";
	case EXEHDR_ELF_AARCH64: return "aarch64";
	case 20: return "ppc";
	case 21: return "ppc64";
	case 22: return "s390";
	case 243: return "riscv";
	case 8: return "mips";
	default: return "unknown machine";
	}
}

const char *exehdr_pe_machine_name(unsigned m)
{
	switch (m) {
	case EXEHDR_PE_I386: return "i386";
	case EXEHDR_PE_AMD64: return "x86-64";
	case 0x01c0:
	case 0x01c4: return "arm";
	case EXEHDR_PE_ARM64: return "aarch64";
	default: return "unknown machine";
	}
}

int exehdr_parse(exehdr_read_fn rd, void *ctx, compat_exe *out, char *err, size_t errlen)
{
	unsigned char h[64], pe[26];
	uint32_t off;
	size_t n;

	memset(out, 0, sizeof(*out));
	n = rd(ctx, 0, h, sizeof(h));
	if (n >= 20 && memcmp(h, "\177ELF", 4) == 0) {
		snprintf(out->format, sizeof(out->format), "ELF");
		out->bits = h[4] == 2 ? 64 : h[4] == 1 ? 32 : 0;
		out->elf_machine = h[5] == 2 ? (unsigned)(h[18] << 8 | h[19]) : le16(h + 18);
		snprintf(out->machine, sizeof(out->machine), "%s",
		         exehdr_elf_machine_name(out->elf_machine));
		return 0;
	}
	if (n < 2 || h[0] != 'M' || h[1] != 'Z') {
		snprintf(err, errlen, "no ELF or PE header");
		return -2;
	}
	snprintf(out->format, sizeof(out->format), "PE");
	snprintf(out->machine, sizeof(out->machine), "unknown machine");
	/* e_lfanew must point past the DOS header it is part of. */
	if (n == sizeof(h) && (off = le32(h + 0x3c)) >= sizeof(h) &&
	    rd(ctx, off, pe, sizeof(pe)) == sizeof(pe) && memcmp(pe, "PE\0\0", 4) == 0) {
		unsigned magic = le16(pe + 24);

		out->bits = magic == 0x20b ? 64 : magic == 0x10b ? 32 : 0;
		out->pe_machine = le16(pe + 4);
		snprintf(out->machine, sizeof(out->machine), "%s",
		         exehdr_pe_machine_name(out->pe_machine));
		out->pe_characteristics = le16(pe + 22);
		out->pe_header = true;
	}
	return 0;
}
