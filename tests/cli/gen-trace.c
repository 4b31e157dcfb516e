/*
 * gen-trace: writes N synthetic trace records in the shim's JSON Lines
 * format (field order ts, pid, tid, seq, fn, args, rv, us, notes), for the
 * CLI test and the benchmark, and optionally what a correct
 * `p11shim trace summary` must count in them.
 *
 * The mix imitates an encoder at work: 4 processes with 2 to 4 threads
 * each, sessions, logins, object searches, attribute reads, signing,
 * Java's mechanism probing; about 4% of calls fail, about 3% carry policy
 * notes; strings with escapes (\", \\, \u00e9, \n) and raw UTF-8; nested
 * templates and mechanism parameters. Deterministic for a given seed.
 *
 * Usage: gen-trace [-n N] [-s SEED] [-e EXPECT_FILE] [-c CRASH_EVERY] [-z] > trace.jsonl
 * -z writes gzip (with zlib, so the test needs no gzip program).
 * EXPECT_FILE lines:
 *   records N | failed N | first TS | last TS
 *   fn NAME CALLS FAILED MIN_US MAX_US
 *   rv NAME RV COUNT        (failures; "(crashed)" for a crash)
 *   pid PID CALLS | tid PID TID CALLS | tag TAG COUNT
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	/* xorshift64*: fast, and the same sequence on every platform */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* splitmix64 of the seed: every seed, 0 included, gives a non-zero state. */
static void seed(uint64_t s)
{
	uint64_t z = s + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	rng_state = (z ^ (z >> 31)) | 1;
}

static unsigned below(unsigned n)
{
	return (unsigned)((rnd() >> 33) % n);
}

#define N_PIDS 4
#define MAX_FN 40
#define MAX_RV 16

typedef struct {
	const char *name;
	uint64_t calls, failed, min_us, max_us;
	const char *rv_names[MAX_RV];
	uint64_t rv_counts[MAX_RV];
} fn_expect;

static fn_expect fns[MAX_FN];
static size_t n_fns;

typedef struct {
	int pid;
	int n_tids;
	uint64_t seq;
	uint64_t calls;
	uint64_t tid_calls[4];
	long session;
} proc;

static proc procs[N_PIDS] = {
	{ 4242, 3, 0, 0, { 0 }, 0 },
	{ 5150, 2, 0, 0, { 0 }, 0 },
	{ 6001, 4, 0, 0, { 0 }, 0 },
	{ 7777, 2, 0, 0, { 0 }, 0 },
};

typedef struct {
	const char *name;
	uint64_t count;
} tag_expect;

static tag_expect tags[] = {
	{ "readers", 0 }, { "middleware", 0 }, { "login", 0 },   { "puk", 0 },
	{ "serial", 0 },  { "eraser", 0 },     { "backend", 0 }, { "config", 0 },
};

static fn_expect *fn_get(const char *name)
{
	size_t i;

	for (i = 0; i < n_fns; i++) {
		if (strcmp(fns[i].name, name) == 0)
			return &fns[i];
	}
	fns[n_fns].name = name;
	fns[n_fns].min_us = UINT64_MAX;
	return &fns[n_fns++];
}

static void count_rv(fn_expect *f, const char *rv)
{
	size_t i;

	for (i = 0; i < MAX_RV && f->rv_names[i]; i++) {
		if (strcmp(f->rv_names[i], rv) == 0)
			break;
	}
	if (i == MAX_RV)
		abort();
	f->rv_names[i] = rv;
	f->rv_counts[i]++;
}

static const char hexd[] = "0123456789abcdef";

static char *put_hex(char *p, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		unsigned b = below(256);
		*p++ = hexd[b >> 4];
		*p++ = hexd[b & 15];
	}
	return p;
}

/* Writes args into a; returns the function's name; sets *rv_fail to a failure name or NULL. */
static const char *make_call(proc *pr, char *a, size_t cap, const char **rv_fail, const char **note)
{
	unsigned pick = below(1000);
	char *p;
	long h = pr->session ? pr->session : 1;
	int slot = (int)below(3);

	*rv_fail = NULL;
	*note = NULL;
	if (pick < 120) {
		snprintf(a, cap, "{\"tokenPresent\":true,\"pSlotList\":[0,1,2],\"pulCount\":3}");
		return "C_GetSlotList";
	}
	if (pick < 180) {
		snprintf(a, cap,
		         "{\"slotID\":%d,\"pInfo\":{\"slotDescription\":\"%s\",\"manufacturerID\":\"%s\","
		         "\"flags\":[\"CKF_TOKEN_PRESENT\",\"CKF_REMOVABLE_DEVICE\",\"CKF_HW_SLOT\"],"
		         "\"hardwareVersion\":\"0.0\",\"firmwareVersion\":\"0.0\"}}",
		         slot,
		         slot == 2 ? "Microsoft Virtual Smart Card 0" : "OMNIKEY CardMan 3121 0",
		         slot == 2 ? "Microsoft" : "HID Global");
		return "C_GetSlotInfo";
	}
	if (pick < 240) {
		snprintf(a, cap,
		         "{\"slotID\":%d,\"pInfo\":{\"label\":\"Card \\\"%u\\\" caf\\u00e9 \\\\ %s\","
		         "\"manufacturerID\":\"Nexus\",\"model\":\"%s\",\"serialNumber\":\"%08u\","
		         "\"flags\":[\"CKF_RNG\",\"CKF_LOGIN_REQUIRED\",\"CKF_USER_PIN_INITIALIZED\",\"CKF_TOKEN_INITIALIZED\"],"
		         "\"ulMaxSessionCount\":0,\"ulSessionCount\":1,\"ulMaxPinLen\":8,\"ulMinPinLen\":4,"
		         "\"ulTotalPublicMemory\":\"CK_UNAVAILABLE_INFORMATION\",\"hardwareVersion\":\"1.0\","
		         "\"firmwareVersion\":\"5.3\",\"utcTime\":\"\"}}",
		         slot, below(100), "\xc3\xa9t\xc3\xa9",
		         below(2) ? "Cosmo 8.2" : "CardOS V5.3", below(100000000));
		if (below(50) == 0)
			*rv_fail = "CKR_TOKEN_NOT_PRESENT";
		return "C_GetTokenInfo";
	}
	if (pick < 290) {
		pr->session = 1 + (long)below(64);
		snprintf(a, cap,
		         "{\"slotID\":%d,\"flags\":[\"CKF_RW_SESSION\",\"CKF_SERIAL_SESSION\"],"
		         "\"pApplication\":null,\"Notify\":null,\"phSession\":%ld}",
		         slot, pr->session);
		return "C_OpenSession";
	}
	if (pick < 320) {
		snprintf(a, cap, "{\"hSession\":%ld}", h);
		return "C_CloseSession";
	}
	if (pick < 360) {
		int so = below(4) == 0;
		snprintf(a, cap,
		         "{\"hSession\":%ld,\"userType\":\"%s\",\"pPin\":\"<redacted %u bytes>\"}",
		         h, so ? "CKU_SO" : "CKU_USER", so ? 8u : 6u);
		if (below(10) == 0) {
			*rv_fail = "CKR_PIN_INCORRECT";
			if (so)
				*note = "login: SO login failed with CKR_PIN_INCORRECT; the card's profile may use the "
				        "operator PIN as SO credential (set [login] OperatorPinIsSOCredential)";
		} else if (so) {
			*note = "login: CKU_SO sent as CKU_P11SHIM_PUK (OperatorPinIsSOCredential=false)";
		}
		return "C_Login";
	}
	if (pick < 380) {
		snprintf(a, cap, "{\"hSession\":%ld}", h);
		return "C_Logout";
	}
	if (pick < 450) {
		snprintf(a, cap,
		         "{\"hSession\":%ld,\"pTemplate\":[{\"type\":\"CKA_CLASS\",\"value\":\"CKO_CERTIFICATE\"},"
		         "{\"type\":\"CKA_LABEL\",\"value\":\"Digital Signature\"},{\"type\":\"CKA_TOKEN\",\"value\":true}]}",
		         h);
		return "C_FindObjectsInit";
	}
	if (pick < 520) {
		snprintf(a, cap,
		         "{\"hSession\":%ld,\"ulMaxObjectCount\":16,\"phObject\":[%u,%u],\"pulObjectCount\":2}",
		         h, 2 + below(20), 30 + below(20));
		return "C_FindObjects";
	}
	if (pick < 560) {
		snprintf(a, cap, "{\"hSession\":%ld}", h);
		return "C_FindObjectsFinal";
	}
	if (pick < 700) {
		int fail = below(8) == 0;
		p = a +
		    snprintf(a, cap,
		             "{\"hSession\":%ld,\"hObject\":%u,\"pTemplate\":[{\"type\":\"CKA_ID\",\"value\":{\"len\":20,\"hex\":\"",
		             h, 2 + below(40));
		p = put_hex(p, 20);
		if (fail) {
			p += sprintf(p,
			             "\"}},{\"type\":\"CKA_PRIVATE_EXPONENT\",\"value\":{\"len\":\"CK_UNAVAILABLE_INFORMATION\"}}]}");
			*rv_fail = "CKR_ATTRIBUTE_SENSITIVE";
		} else if (below(10) == 0) {
			/* now and then a certificate */
			p += sprintf(p,
			             "\"}},{\"type\":\"CKA_VALUE\",\"value\":{\"len\":300,\"hex\":\"");
			p = put_hex(p, 300);
			p += sprintf(p, "\"}}]}");
		} else {
			p += sprintf(p, "\"}},{\"type\":\"CKA_LABEL\",\"value\":\"Digital Signature\"},"
			                "{\"type\":\"CKA_KEY_TYPE\",\"value\":\"CKK_EC\"}]}");
		}
		return "C_GetAttributeValue";
	}
	if (pick < 760) {
		snprintf(a, cap,
		         "{\"slotID\":%d,\"type\":\"%s\",\"pInfo\":{\"ulMinKeySize\":256,\"ulMaxKeySize\":4096,"
		         "\"flags\":[\"CKF_HW\",\"CKF_SIGN\",\"CKF_VERIFY\"]}}",
		         slot, below(2) ? "CKM_ECDSA" : "CKM_SHA256_RSA_PKCS_PSS");
		if (below(6) == 0) {
			snprintf(a, cap, "{\"slotID\":%d,\"type\":\"0x8000%04x\"}", slot,
			         below(65536));
			*rv_fail = "CKR_MECHANISM_INVALID";
		}
		return "C_GetMechanismInfo";
	}
	if (pick < 820) {
		if (below(2))
			snprintf(a, cap,
			         "{\"hSession\":%ld,\"pMechanism\":{\"mechanism\":\"CKM_ECDSA\",\"parameter\":null},\"hKey\":%u}",
			         h, 30 + below(20));
		else
			snprintf(a, cap,
			         "{\"hSession\":%ld,\"pMechanism\":{\"mechanism\":\"CKM_SHA256_RSA_PKCS_PSS\","
			         "\"parameter\":{\"hashAlg\":\"CKM_SHA256\",\"mgf\":\"CKG_MGF1_SHA256\",\"sLen\":32}},\"hKey\":%u}",
			         h, 30 + below(20));
		return "C_SignInit";
	}
	if (pick < 880) {
		p = a +
		    snprintf(a, cap,
		             "{\"hSession\":%ld,\"pData\":{\"len\":32},\"pSignature\":{\"len\":64,\"hex\":\"",
		             h);
		p = put_hex(p, 64);
		p += sprintf(p, "\"}}");
		if (below(40) == 0) {
			snprintf(a, cap, "{\"hSession\":%ld,\"pData\":{\"len\":32}}", h);
			*rv_fail = "CKR_DEVICE_ERROR";
		}
		return "C_Sign";
	}
	if (pick < 900) {
		snprintf(a, cap,
		         "{\"pInfo\":{\"cryptokiVersion\":\"2.40\",\"manufacturerID\":\"Nexus\",\"flags\":[],"
		         "\"libraryDescription\":\"Personal\\nPKCS#11\",\"libraryVersion\":\"5.7\"}}");
		return "C_GetInfo";
	}
	if (pick < 920) {
		snprintf(a, cap,
		         "{\"slotID\":%d,\"pPin\":\"<redacted 8 bytes>\",\"pLabel\":\"EMPLOYEE %u\"}",
		         slot, below(1000));
		if (below(5) == 0)
			*rv_fail = "CKR_FUNCTION_FAILED";
		return "C_InitToken";
	}
	if (pick < 935) {
		snprintf(a, cap,
		         "{\"hSession\":%ld,\"pOldPin\":\"<redacted 8 bytes>\",\"pNewPin\":\"<redacted 8 bytes>\"}",
		         h);
		if (below(3) == 0) {
			*rv_fail = "CKR_FUNCTION_NOT_SUPPORTED";
			*note = "puk: PUK change refused: Personal 5.7.1 < 5.7.2 (PukChange=auto)";
		}
		return "C_SetPIN";
	}
	if (pick < 950) {
		snprintf(a, cap, "{\"hSession\":%ld,\"hObject\":%u}", h, 1000 + below(5));
		if (below(4) == 0) {
			*rv_fail = "CKR_ACTION_PROHIBITED";
			*note = "eraser: anonymous erase refused: the card's CPF burnt the fuse without MakeCardEraseable()";
		}
		return "C_DestroyObject";
	}
	if (pick < 965) {
		snprintf(a, cap,
		         "{\"hSession\":%ld,\"pMechanism\":{\"mechanism\":\"CKM_EC_KEY_PAIR_GEN\",\"parameter\":null},"
		         "\"pPublicKeyTemplate\":[{\"type\":\"CKA_EC_PARAMS\",\"value\":{\"len\":10,\"hex\":\"06082a8648ce3d030107\"}},"
		         "{\"type\":\"CKA_VERIFY\",\"value\":true}],\"pPrivateKeyTemplate\":[{\"type\":\"CKA_SIGN\",\"value\":true},"
		         "{\"type\":\"CKA_SENSITIVE\",\"value\":true},{\"type\":\"CKA_LABEL\",\"value\":\"key\\t%u\"}],"
		         "\"phPublicKey\":%u,\"phPrivateKey\":%u}",
		         h, below(10), 100 + below(50), 200 + below(50));
		return "C_GenerateKeyPair";
	}
	if (pick < 975) {
		snprintf(a, cap,
		         "{\"flags\":[\"CKF_DONT_BLOCK\"],\"pSlot\":null,\"pReserved\":null}");
		*rv_fail = "CKR_NO_EVENT";
		return "C_WaitForSlotEvent";
	}
	if (pick < 985) {
		snprintf(a, cap,
		         "{\"pInitArgs\":{\"CreateMutex\":null,\"DestroyMutex\":null,\"LockMutex\":null,"
		         "\"UnlockMutex\":null,\"flags\":[\"CKF_OS_LOCKING_OK\"],\"pReserved\":null}}");
		if (below(20) == 0) {
			*rv_fail = "CKR_GENERAL_ERROR";
			*note = "config: /etc/p11shim/p11shim.conf:12: [serial] NumberRange: '100-' is not FIRST-LAST";
		}
		return "C_Initialize";
	}
	if (pick < 993) {
		snprintf(a, cap, "{\"pReserved\":null}");
		return "C_Finalize";
	}
	snprintf(a, cap,
	         "{\"pInterfaceName\":\"PKCS 11\",\"pVersion\":null,\"ppInterface\":{\"len\":8},\"flags\":[]}");
	return "C_GetInterface";
}

static const char *policy_notes[] = {
	"readers: slot 2 hidden by SkipReader 'Microsoft Virtual Smart Card .*'",
	"middleware: caching is off (Personal.cfg [Cache] CacheValidity=0, user file wins)",
	"serial: card serial 00012345 from range 10000-99999 written at C_InitToken",
	"backend: loaded C:/Program Files (x86)/Personal/bin/personal.dll (PE32 i386), Personal 5.7.1",
};

/* Days from civil, inverse: days since 1970 -> y, m, d (Hinnant). */
static void civil(long z, int *y, int *m, int *d)
{
	long era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = (int)(yoe + era * 400);
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y += *m <= 2;
}

static void format_ts(char *out, size_t cap, uint64_t us)
{
	uint64_t s = us / 1000000;
	int y, m, d;

	civil((long)(s / 86400), &y, &m, &d);
	snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", y, m, d, (int)(s / 3600 % 24),
	         (int)(s / 60 % 60), (int)(s % 60), (unsigned)(us % 1000000));
}

static void put(FILE *out, gzFile gz, const char *rec, size_t len)
{
	if (gz)
		gzwrite(gz, rec, (unsigned)len);
	else
		fwrite(rec, 1, len, out);
}

static void note_tag_count(const char *note)
{
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		size_t n = strlen(tags[i].name);
		if (strncmp(note, tags[i].name, n) == 0 && note[n] == ':')
			tags[i].count++;
	}
}

int main(int argc, char **argv)
{
	unsigned long long n = 1000, i;
	unsigned long long crash_every = 0;
	const char *expect = NULL;
	char args[4096], rec[8192], first[64] = "", last[64] = "";
	/* 2026-11-27T20:45:40Z in microseconds */
	uint64_t now = 1795812340ull * 1000000ull;
	uint64_t failed = 0;
	int c, gzip = 0;
	FILE *out = stdout;
	gzFile gz = NULL;
	static char obuf[1 << 16];

	while ((c = getopt(argc, argv, "n:s:e:c:z")) != -1) {
		switch (c) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 's': seed(strtoull(optarg, NULL, 10)); break;
		case 'e': expect = optarg; break;
		case 'c': crash_every = strtoull(optarg, NULL, 10); break;
		case 'z': gzip = 1; break;
		default:
			fprintf(stderr,
			        "usage: gen-trace [-n N] [-s SEED] [-e EXPECT_FILE] [-c CRASH_EVERY] [-z]\n");
			return 2;
		}
	}
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));
	if (gzip && (gz = gzdopen(dup(1), "wb")) == NULL) {
		fprintf(stderr, "gen-trace: cannot write gzip\n");
		return 1;
	}

	for (i = 0; i < n; i++) {
		proc *pr = &procs[below(N_PIDS)];
		unsigned t = below((unsigned)pr->n_tids);
		const char *rv_fail, *note, *fn, *extra = NULL;
		fn_expect *f;
		unsigned us = below(8) == 0 ? 1000 + below(200000) : 5 + below(400);
		char ts[64];
		int crash = crash_every && (i + 1) % crash_every == 0;
		int len;

		now += below(3000);
		format_ts(ts, sizeof(ts), now);
		if (first[0] == '\0')
			snprintf(first, sizeof(first), "%s", ts);
		snprintf(last, sizeof(last), "%s", ts);

		fn = make_call(pr, args, sizeof(args), &rv_fail, &note);
		if (note == NULL && below(40) == 0)
			extra = policy_notes[below(sizeof(policy_notes) / sizeof(policy_notes[0]))];
		pr->seq++;
		pr->calls++;
		pr->tid_calls[t]++;

		f = fn_get(fn);
		f->calls++;
		if (crash) {
			/* Only the inputs, rv null, no duration: the process died in the call. */
			len = snprintf(rec, sizeof(rec),
			               "{\"ts\":\"%s\",\"pid\":%d,\"tid\":%d,\"seq\":%llu,\"fn\":\"%s\","
			               "\"args\":{\"hSession\":%ld},\"rv\":null,\"crash\":\"SIGSEGV\"}\n",
			               ts, pr->pid, pr->pid + 1 + (int)t,
			               (unsigned long long)pr->seq, fn, pr->session);
			f->failed++;
			failed++;
			count_rv(f, "(crashed)");
			put(out, gz, rec, (size_t)len);
			continue;
		}
		len = snprintf(rec, sizeof(rec),
		               "{\"ts\":\"%s\",\"pid\":%d,\"tid\":%d,\"seq\":%llu,\"fn\":\"%s\","
		               "\"args\":%s,\"rv\":\"%s\",\"us\":%u",
		               ts, pr->pid, pr->pid + 1 + (int)t, (unsigned long long)pr->seq, fn,
		               args, rv_fail ? rv_fail : "CKR_OK", us);
		if (note || extra) {
			const char *text = note ? note : extra;
			len += snprintf(rec + len, sizeof(rec) - (size_t)len, ",\"notes\":[\"%s\"]",
			                text);
			note_tag_count(text);
		}
		rec[len++] = '}';
		rec[len++] = '\n';
		put(out, gz, rec, (size_t)len);

		if (rv_fail) {
			f->failed++;
			failed++;
			count_rv(f, rv_fail);
		}
		if (us < f->min_us)
			f->min_us = us;
		if (us > f->max_us)
			f->max_us = us;
	}
	if (gz && gzclose(gz) != Z_OK)
		return 1;
	if (fflush(out) != 0)
		return 1;

	if (expect) {
		FILE *e = fopen(expect, "w");
		size_t k, r;
		int p;

		if (e == NULL) {
			perror(expect);
			return 1;
		}
		fprintf(e, "records %llu\nfailed %llu\n", n, (unsigned long long)failed);
		if (n) {
			fprintf(e, "first %s\nlast %s\n", first, last);
		}
		for (k = 0; k < n_fns; k++) {
			fn_expect *f = &fns[k];
			if (f->min_us == UINT64_MAX)
				fprintf(e, "fn %s %llu %llu - -\n", f->name,
				        (unsigned long long)f->calls, (unsigned long long)f->failed);
			else
				fprintf(e, "fn %s %llu %llu %llu %llu\n", f->name,
				        (unsigned long long)f->calls, (unsigned long long)f->failed,
				        (unsigned long long)f->min_us, (unsigned long long)f->max_us);
			for (r = 0; r < MAX_RV && f->rv_names[r]; r++)
				fprintf(e, "rv %s %s %llu\n", f->name, f->rv_names[r],
				        (unsigned long long)f->rv_counts[r]);
		}
		for (p = 0; p < N_PIDS; p++) {
			if (procs[p].calls == 0)
				continue;
			fprintf(e, "pid %d %llu\n", procs[p].pid, (unsigned long long)procs[p].calls);
			for (k = 0; k < (size_t)procs[p].n_tids; k++) {
				if (procs[p].tid_calls[k])
					fprintf(e, "tid %d %d %llu\n", procs[p].pid,
					        procs[p].pid + 1 + (int)k,
					        (unsigned long long)procs[p].tid_calls[k]);
			}
		}
		for (k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
			if (tags[k].count)
				fprintf(e, "tag %s %llu\n", tags[k].name,
				        (unsigned long long)tags[k].count);
		}
		if (fclose(e) != 0)
			return 1;
	}
	return 0;
}
