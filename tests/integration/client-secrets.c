/*
 * client-secrets: PKCS#11 calls that carry secrets, for the secrets test
 * (issue 7, "Secrets"): the trace, stderr and a core dump must not hold
 * any of them.
 *
 *   client-secrets MODULE SECRETS-FILE STEP...
 *
 * SECRETS-FILE has NAME=VALUE lines: PIN, NEWPIN, SOPIN, KEY (16 bytes, a
 * secret key value), WRAPKEY (16 bytes), PLAIN (32 bytes of plaintext),
 * CANARY. The secrets never pass through argv or the environment (both stay
 * in the process's memory) nor stdio buffers: the file is read with read(2)
 * into one buffer that is wiped by the "forget" step.
 *
 * Steps, in the order given, on the first slot with a token:
 *   init          C_Initialize, C_OpenSession (read-write)
 *   inittoken     C_CloseAllSessions, C_InitToken(SOPIN, "secrets"), C_OpenSession
 *   so            C_Login(CKU_SO, SOPIN), C_InitPIN(PIN), C_Logout
 *   user          C_Login(CKU_USER, PIN)
 *   setpin        C_SetPIN(PIN, NEWPIN), C_SetPIN(NEWPIN, PIN)
 *   keys          a session AES key with CKA_VALUE = KEY (C_CreateObject), read
 *                 back (C_GetAttributeValue); PLAIN encrypted and decrypted
 *                 (CKM_AES_ECB); KEY wrapped with WRAPKEY and unwrapped into a
 *                 new key whose CKA_VALUE is read back (C_WrapKey, C_UnwrapKey)
 *   forget        wipe every copy of the secrets this process holds, except
 *                 CANARY, which stays in memory on purpose (a core dump must
 *                 show it, or the search proves nothing)
 *   wait          print "ready PID" and wait for a line on stdin (for gcore)
 *   crash         C_SignInit, C_Sign (crashmod dies in C_Sign: SIGSEGV)
 *   abort         C_DigestInit, C_Digest (crashmod aborts in C_Digest: SIGABRT)
 *   fin           C_Finalize
 * Prints one line per call ("C_Name: CKR_xxx"), never a secret; exits 1 when
 * a call that must work fails.
 */
#include "config.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "p11-const.h"
#include "p11-pkcs11.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE s;
static int failed;

/* The secrets file, read whole; the values point into it. */
static char file[4096];
static size_t file_len;
static struct {
	const char *name;
	char *v;
	size_t n;
} secret[] = {
	{ "PIN", NULL, 0 },     { "NEWPIN", NULL, 0 }, { "SOPIN", NULL, 0 },  { "KEY", NULL, 0 },
	{ "WRAPKEY", NULL, 0 }, { "PLAIN", NULL, 0 },  { "CANARY", NULL, 0 },
};
enum { PIN, NEWPIN, SOPIN, KEY, WRAPKEY, PLAIN, CANARY, N_SECRETS };

/* Output buffers that receive secrets back from the module. */
static CK_BYTE got[512];

static const char *rvname(CK_RV rv)
{
	static char buf[32];
	const char *n = p11_const_name(P11_CONST_RV, rv);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)rv);
	return buf;
}

static CK_RV check(const char *fn, CK_RV rv, int must)
{
	printf("%s: %s\n", fn, rvname(rv));
	fflush(stdout);
	if (must && rv != CKR_OK)
		failed = 1;
	return rv;
}

/* A compiler must not drop a wipe of memory that is not read again. */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- > 0)
		*v++ = 0;
}

static int read_secrets(const char *path)
{
	char *line, *next, *eq;
	ssize_t r;
	size_t i;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (file_len < sizeof(file) - 1 &&
	       (r = read(fd, file + file_len, sizeof(file) - 1 - file_len)) > 0)
		file_len += (size_t)r;
	close(fd);
	file[file_len] = '\0';
	for (line = file; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		eq = strchr(line, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		for (i = 0; i < N_SECRETS; i++)
			if (strcmp(line, secret[i].name) == 0) {
				secret[i].v = eq + 1;
				secret[i].n = strlen(eq + 1);
			}
	}
	for (i = 0; i < N_SECRETS; i++)
		if (secret[i].v == NULL) {
			fprintf(stderr, "client-secrets: %s missing in %s\n", secret[i].name, path);
			return -1;
		}
	if (secret[KEY].n != 16 || secret[WRAPKEY].n != 16 || secret[PLAIN].n != 32) {
		fprintf(stderr, "client-secrets: KEY and WRAPKEY must be 16 bytes, PLAIN 32\n");
		return -1;
	}
	return 0;
}

#define SECRET(i) (CK_UTF8CHAR_PTR) secret[i].v, (CK_ULONG)secret[i].n

static void keys(void)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_VALUE, secret[KEY].v, 16 },
		{ CKA_ENCRYPT, &yes, 1 },
		{ CKA_DECRYPT, &yes, 1 },
		{ CKA_EXTRACTABLE, &yes, 1 },
		{ CKA_SENSITIVE, &no, 1 },
	};
	CK_ATTRIBUTE wt[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_VALUE, secret[WRAPKEY].v, 16 },
		{ CKA_WRAP, &yes, 1 },
		{ CKA_UNWRAP, &yes, 1 },
	};
	CK_ATTRIBUTE ut[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, 1 },
		{ CKA_EXTRACTABLE, &yes, 1 },
		{ CKA_SENSITIVE, &no, 1 },
	};
	CK_ATTRIBUTE value = { CKA_VALUE, got, sizeof(got) };
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 }, wrap = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_OBJECT_HANDLE key, wkey, ukey;
	CK_BYTE enc[64], wrapped[64];
	CK_ULONG n, wn;

	if (check("C_CreateObject", f->C_CreateObject(s, t, 8, &key), 1) != CKR_OK ||
	    check("C_CreateObject", f->C_CreateObject(s, wt, 6, &wkey), 1) != CKR_OK)
		return;
	check("C_GetAttributeValue", f->C_GetAttributeValue(s, key, &value, 1), 1);
	if (value.ulValueLen != 16 || memcmp(got, secret[KEY].v, 16) != 0)
		failed = 1;
	n = sizeof(enc);
	if (check("C_EncryptInit", f->C_EncryptInit(s, &ecb, key), 1) == CKR_OK)
		check("C_Encrypt", f->C_Encrypt(s, (CK_BYTE_PTR)secret[PLAIN].v, 32, enc, &n), 1);
	wn = sizeof(got);
	if (check("C_DecryptInit", f->C_DecryptInit(s, &ecb, key), 1) == CKR_OK)
		check("C_Decrypt", f->C_Decrypt(s, enc, n, got, &wn), 1);
	if (wn != 32 || memcmp(got, secret[PLAIN].v, 32) != 0)
		failed = 1;
	wn = sizeof(wrapped);
	check("C_WrapKey", f->C_WrapKey(s, &wrap, wkey, key, wrapped, &wn), 1);
	check("C_UnwrapKey", f->C_UnwrapKey(s, &wrap, wkey, wrapped, wn, ut, 5, &ukey), 1);
	value.ulValueLen = sizeof(got);
	check("C_GetAttributeValue", f->C_GetAttributeValue(s, ukey, &value, 1), 1);
	if (value.ulValueLen != 16 || memcmp(got, secret[KEY].v, 16) != 0)
		failed = 1;
	/* The template held pointers into the file only: wiped with it. */
}

/*
 * Templates that could mean a secret: CKA_CLASS twice, first public, then
 * CKO_SECRET_KEY, with the key's value. SoftHSM2 rejects them, but the
 * trace has recorded the call by then: the value must be redacted.
 */
static void two_classes(void)
{
	CK_OBJECT_CLASS data = CKO_DATA, cert = CKO_CERTIFICATE, sec = CKO_SECRET_KEY;
	CK_KEY_TYPE aes = CKK_AES;
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE t1[] = {
		{ CKA_CLASS, &data, sizeof(data) },  { CKA_CLASS, &sec, sizeof(sec) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) }, { CKA_TOKEN, &no, 1 },
		{ CKA_VALUE, secret[KEY].v, 16 },
	};
	CK_ATTRIBUTE t2[] = {
		{ CKA_CLASS, &cert, sizeof(cert) },
		{ CKA_VALUE, secret[KEY].v, 16 },
		{ CKA_CLASS, &sec, sizeof(sec) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
	};
	CK_ATTRIBUTE inner[] = { { CKA_CLASS, &data, sizeof(data) },
		                 { CKA_VALUE, secret[KEY].v, 16 } };
	CK_ATTRIBUTE t3[] = {
		{ CKA_CLASS, &sec, sizeof(sec) },
		{ CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_UNWRAP_TEMPLATE, inner, sizeof(inner) },
	};
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 }, wrap = { CKM_AES_KEY_WRAP, NULL, 0 };
	CK_OBJECT_HANDLE h;
	CK_BYTE wrapped[24];

	memset(wrapped, 0x11, sizeof(wrapped));
	check("C_CreateObject", f->C_CreateObject(s, t1, 5, &h), 0);
	check("C_CreateObject", f->C_CreateObject(s, t2, 4, &h), 0);
	check("C_CreateObject", f->C_CreateObject(s, t3, 3, &h), 0);
	check("C_GenerateKey", f->C_GenerateKey(s, &gen, t1, 5, &h), 0);
	check("C_UnwrapKey", f->C_UnwrapKey(s, &wrap, 1, wrapped, sizeof(wrapped), t2, 4, &h), 0);
}

static void forget(void)
{
	size_t i;

	/* CANARY stays, moved out of the file buffer, which is wiped whole. */
	static char canary[128];
	snprintf(canary, sizeof(canary), "%s", secret[CANARY].v);
	wipe(file, sizeof(file));
	wipe(got, sizeof(got));
	for (i = 0; i < N_SECRETS; i++)
		secret[i].v = NULL;
	secret[CANARY].v = canary;
}

static void open_session(void)
{
	check("C_OpenSession",
	      f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), 1);
}

static int step(const char *st)
{
	if (strcmp(st, "init") == 0) {
		CK_SLOT_ID list[16];
		CK_ULONG n = 16;
		if (check("C_Initialize", f->C_Initialize(NULL), 1) != CKR_OK ||
		    check("C_GetSlotList", f->C_GetSlotList(CK_TRUE, list, &n), 1) != CKR_OK || n < 1)
			return 1;
		slot = list[0];
		open_session();
	} else if (strcmp(st, "inittoken") == 0) {
		CK_UTF8CHAR label[32];
		memset(label, ' ', sizeof(label));
		memcpy(label, "secrets", 7);
		check("C_CloseAllSessions", f->C_CloseAllSessions(slot), 1);
		check("C_InitToken", f->C_InitToken(slot, SECRET(SOPIN), label), 1);
		open_session();
	} else if (strcmp(st, "so") == 0) {
		check("C_Login", f->C_Login(s, CKU_SO, SECRET(SOPIN)), 1);
		check("C_InitPIN", f->C_InitPIN(s, SECRET(PIN)), 1);
		check("C_Logout", f->C_Logout(s), 1);
	} else if (strcmp(st, "user") == 0) {
		check("C_Login", f->C_Login(s, CKU_USER, SECRET(PIN)), 1);
	} else if (strcmp(st, "setpin") == 0) {
		check("C_SetPIN", f->C_SetPIN(s, SECRET(PIN), SECRET(NEWPIN)), 1);
		check("C_SetPIN", f->C_SetPIN(s, SECRET(NEWPIN), SECRET(PIN)), 1);
	} else if (strcmp(st, "keys") == 0) {
		keys();
	} else if (strcmp(st, "twoclass") == 0) {
		two_classes();
	} else if (strcmp(st, "forget") == 0) {
		forget();
	} else if (strcmp(st, "wait") == 0) {
		char line[16];
		printf("ready %ld\n", (long)getpid());
		fflush(stdout);
		if (read(0, line, sizeof(line)) < 0)
			return 1;
	} else if (strcmp(st, "crash") == 0) {
		CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
		CK_BYTE data[32], sig[128];
		CK_ULONG n = sizeof(sig);
		memset(data, 0x5a, sizeof(data));
		check("C_SignInit", f->C_SignInit(s, &m, 1), 1);
		check("C_Sign", f->C_Sign(s, data, sizeof(data), sig, &n), 0);
	} else if (strcmp(st, "abort") == 0) {
		CK_MECHANISM m = { CKM_SHA256, NULL, 0 };
		CK_BYTE data[32], out[64];
		CK_ULONG n = sizeof(out);
		memset(data, 0x5a, sizeof(data));
		check("C_DigestInit", f->C_DigestInit(s, &m), 1);
		check("C_Digest", f->C_Digest(s, data, sizeof(data), out, &n), 0);
	} else if (strcmp(st, "fin") == 0) {
		check("C_Finalize", f->C_Finalize(NULL), 1);
	} else {
		fprintf(stderr, "client-secrets: unknown step %s\n", st);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	void *dl;
	int i, rc;

	if (argc < 4) {
		fprintf(stderr, "usage: %s MODULE SECRETS-FILE STEP...\n", argv[0]);
		return 2;
	}
	if (read_secrets(argv[2]) != 0)
		return 2;
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL || (get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) == NULL ||
	    get(&f) != CKR_OK) {
		fprintf(stderr, "client-secrets: cannot load %s\n", argv[1]);
		return 2;
	}
	for (i = 3; i < argc; i++)
		if ((rc = step(argv[i])) != 0)
			return rc;
	return failed;
}
