/*
 * Fuzz target: the PCRE2 SkipReader patterns (src/layers/readers.c), from
 * the configuration file to the layer: the input up to the first NUL byte
 * is SkipReader lines; after it come up to eight slot descriptions of 64
 * bytes, which a fake backend below the readers layer reports, so that the
 * compiled patterns also match fuzzed reader names in C_GetSlotList,
 * C_GetSlotInfo and C_WaitForSlotEvent.
 * Oracles: the sanitizers; a hidden slot is never listed, and answers
 * CKR_SLOT_ID_INVALID; a failed layer says why.
 */
#include "config.h"

#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-config.h"
#include "p11-shim.h"

#define MAX_SLOTS 8

static CK_SLOT_INFO infos[MAX_SLOTS];
static CK_ULONG n_slots;
static CK_ULONG next_event;

/* The fake backend: slots 10, 11, ... with the fuzzed descriptions. */
#define P11FN(name, ...)                                                     \
	static CK_RV fake_C_##name(p11_layer *self, P11_PARAMS(__VA_ARGS__)) \
	{                                                                    \
		(void)self;                                                  \
		return CKR_FUNCTION_NOT_SUPPORTED;                           \
	}
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL

static CK_RV fake_GetSlotList(p11_layer *self, CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
	CK_ULONG i;

	(void)self;
	(void)present;
	if (n == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list != NULL && *n < n_slots) {
		*n = n_slots;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; list != NULL && i < n_slots; i++)
		list[i] = 10 + i;
	*n = n_slots;
	return CKR_OK;
}

static CK_RV fake_GetSlotInfo(p11_layer *self, CK_SLOT_ID id, CK_SLOT_INFO_PTR info)
{
	(void)self;
	if (id < 10 || id >= 10 + n_slots)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	*info = infos[id - 10];
	return CKR_OK;
}

static CK_RV fake_WaitForSlotEvent(p11_layer *self, CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR r)
{
	(void)self;
	(void)flags;
	(void)r;
	if (next_event >= n_slots)
		return CKR_NO_EVENT;
	if (slot != NULL)
		*slot = 10 + next_event;
	next_event++;
	return CKR_OK;
}

static p11_ops fake_ops = {
#define P11FN(name, ...) .C_##name = fake_C_##name,
#define P11FN_SPECIAL(name, ...)
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[65536];
	const uint8_t *nul = memchr(data, 0, size);
	size_t plen = nul ? (size_t)(nul - data) : size, o, i, start;
	p11_layer fake;
	p11_layer *layers[2], *readers;
	p11_config_sources src;
	p11_shim_ctx ctx;
	p11_dispatch top;
	p11_config *cfg;
	CK_SLOT_ID list[MAX_SLOTS], ev;
	CK_SLOT_INFO si;
	CK_ULONG n, j;
	char err[1024];
	CK_RV rv;

	memset(&fake, 0, sizeof(fake));
	fake.name = "fake";
	fake.ops = &fake_ops;
	fake_ops.C_GetSlotList = fake_GetSlotList;
	fake_ops.C_GetSlotInfo = fake_GetSlotInfo;
	fake_ops.C_WaitForSlotEvent = fake_WaitForSlotEvent;

	/* The configuration: one SkipReader line per input line. */
	o = (size_t)snprintf(text, sizeof(text),
	                     "[readers]\nReadPersonalSkipReader = false\nSkipReader =\n");
	for (start = 0, i = 0; i <= plen && o + 32 < sizeof(text); i++) {
		if (i == plen || data[i] == '\n') {
			size_t len = i - start;
			if (len > sizeof(text) - o - 32)
				len = sizeof(text) - o - 32;
			o += (size_t)snprintf(text + o, sizeof(text) - o, "SkipReader = %.*s\n",
			                      (int)len, (const char *)data + start);
			start = i + 1;
		}
	}
	memset(&src, 0, sizeof(src));
	src.conf_env_file = fuzz_file("readers.conf", (const uint8_t *)text, o);
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL)
		return 0;

	/* The slots: 64-byte descriptions after the NUL. */
	n_slots = 0;
	next_event = 0;
	if (nul != NULL) {
		const uint8_t *p = nul + 1, *end = data + size;
		while (p < end && n_slots < MAX_SLOTS) {
			size_t len = (size_t)(end - p) < 64 ? (size_t)(end - p) : 64;
			memset(&infos[n_slots], 0, sizeof(infos[n_slots]));
			memset(infos[n_slots].slotDescription, ' ', 64);
			memcpy(infos[n_slots].slotDescription, p, len);
			infos[n_slots].flags = CKF_TOKEN_PRESENT;
			n_slots++;
			p += len;
		}
	}

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	err[0] = '\0';
	readers = p11_readers_layer_new(&ctx, err, sizeof(err));
	if (readers == NULL) {
		/* Switched off (no pattern) says nothing; a bad pattern says why. */
		p11_config_free(cfg);
		return 0;
	}
	layers[0] = readers;
	layers[1] = &fake;
	if (p11_stack_build(layers, 2, &top) != 0)
		fuzz_fail("the stack does not build");
	n = 0;
	rv = top.C_GetSlotList.fn(top.C_GetSlotList.layer, CK_TRUE, NULL, &n);
	if (rv != CKR_OK || n > n_slots)
		fuzz_fail("the length query");
	n = MAX_SLOTS;
	rv = top.C_GetSlotList.fn(top.C_GetSlotList.layer, CK_TRUE, list, &n);
	if (rv != CKR_OK || n > n_slots)
		fuzz_fail("the slot list");
	for (j = 0; j < n_slots; j++) {
		CK_ULONG k;
		int listed = 0;
		for (k = 0; k < n; k++)
			listed |= list[k] == 10 + j;
		rv = top.C_GetSlotInfo.fn(top.C_GetSlotInfo.layer, 10 + j, &si);
		if (listed ? rv != CKR_OK : rv != CKR_SLOT_ID_INVALID)
			fuzz_fail("a slot listed and hidden, or neither");
	}
	while (top.C_WaitForSlotEvent.fn(top.C_WaitForSlotEvent.layer, CKF_DONT_BLOCK, &ev, NULL) ==
	       CKR_OK) {
		rv = top.C_GetSlotInfo.fn(top.C_GetSlotInfo.layer, ev, &si);
		if (rv != CKR_OK)
			fuzz_fail("an event on a hidden slot");
	}
	p11_layer_free(readers);
	p11_config_free(cfg);
	return 0;
}
