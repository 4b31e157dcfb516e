/*
 * p11call: a scriptable PKCS#11 client for the integration tests, for what
 * pkcs11-tool cannot express (exact return codes, vendor user types, the
 * length convention, several steps in one process).
 *
 *   p11call MODULE COMMAND [ARG]... [, COMMAND [ARG]...]...
 *
 * Commands (one line of output each, "COMMAND: CKR_xxx [details]"):
 *   init | init-os | fin        C_Initialize(NULL) / (CKF_OS_LOCKING_OK) / C_Finalize
 *   init-nothreads              C_Initialize(CKF_LIBRARY_CANT_CREATE_OS_THREADS), as NSS
 *   sign HANDLE                 C_SignInit(CKM_ECDSA, HANDLE) and C_Sign of 32 bytes
 *   info                        C_GetInfo: libraryDescription
 *   slots [present]             C_GetSlotList: count and the slot IDs
 *   slots-short [present]       with a buffer one too small: rv and count
 *   slotinfo ID | tokeninfo ID  label, model, serial / description
 *   open ID [rw]                C_OpenSession; the session becomes current
 *   close | closeall ID         C_CloseSession(current) / C_CloseAllSessions
 *   login TYPE                  TYPE: user, so, puk, operator, or a number;
 *                               the secret from the environment variable
 *                               P11CALL_PIN (never from argv)
 *   logout
 *   setpin                      C_SetPIN(P11CALL_OLD, P11CALL_NEW)
 *   initpin                     C_InitPIN(P11CALL_NEW)
 *   inittoken ID LABEL          C_InitToken(P11CALL_PIN)
 *   objects                     all objects: count, then "class label" each
 *   mkdata LABEL VALUE          C_CreateObject of a public token data object
 *   mkcert FILE.der LABEL       C_CreateObject of an X.509 certificate
 *   wait                        reads a line from stdin (the test acts meanwhile)
 *   mechinfo ID                 C_GetMechanismInfo(CKM_ECDSA)
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "p11-pkcs11.h"
#include "p11-const.h"
#include "p11shim.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SESSION_HANDLE cur;

static const char *rvs(CK_RV rv)
{
	static char buf[32];
	const char *n = p11_const_name(P11_CONST_RV, rv);

	if (n)
		return n;
	snprintf(buf, sizeof(buf), "0x%lx", rv);
	return buf;
}

static void padded(const char *key, const unsigned char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	printf(" %s='%.*s'", key, (int)n, (const char *)s);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL) {
		fprintf(stderr, "p11call: %s is not set\n", name);
		exit(2);
	}
	return v;
}

static CK_USER_TYPE user_type(const char *t)
{
	if (strcmp(t, "user") == 0)
		return CKU_USER;
	if (strcmp(t, "so") == 0)
		return CKU_SO;
	if (strcmp(t, "puk") == 0)
		return CKU_P11SHIM_PUK;
	if (strcmp(t, "operator") == 0)
		return CKU_P11SHIM_OPERATOR_PIN;
	return strtoul(t, NULL, 0);
}

static void slots(CK_BBOOL present, int shorter)
{
	CK_SLOT_ID list[64];
	CK_ULONG n = 0, i;
	CK_RV rv;

	rv = f->C_GetSlotList(present, NULL, &n);
	if (rv != CKR_OK || n > 64) {
		printf("%s: %s\n", shorter ? "slots-short" : "slots", rvs(rv));
		return;
	}
	if (shorter) {
		CK_ULONG want = n;
		n = n > 0 ? n - 1 : 0;
		rv = f->C_GetSlotList(present, list, &n);
		printf("slots-short: %s count=%lu (length query said %lu)\n", rvs(rv), n, want);
		return;
	}
	rv = f->C_GetSlotList(present, list, &n);
	printf("slots: %s count=%lu", rvs(rv), n);
	for (i = 0; rv == CKR_OK && i < n; i++)
		printf(" %lu", list[i]);
	printf("\n");
}

static void objects(void)
{
	CK_OBJECT_HANDLE h[256];
	CK_ULONG n = 0, i;
	CK_RV rv;

	rv = f->C_FindObjectsInit(cur, NULL, 0);
	if (rv == CKR_OK)
		rv = f->C_FindObjects(cur, h, 256, &n);
	f->C_FindObjectsFinal(cur);
	printf("objects: %s count=%lu", rvs(rv), n);
	for (i = 0; rv == CKR_OK && i < n; i++) {
		CK_OBJECT_CLASS cls = 0;
		char label[128] = "";
		CK_ATTRIBUTE a[] = { { CKA_CLASS, &cls, sizeof(cls) },
			             { CKA_LABEL, label, sizeof(label) - 1 } };
		f->C_GetAttributeValue(cur, h[i], a, 2);
		if (a[1].ulValueLen < sizeof(label))
			label[a[1].ulValueLen] = '\0';
		printf(" [%s '%s']", p11_const_name(P11_CONST_CLASS, cls), label);
	}
	printf("\n");
}

static void create(const char *what, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_OBJECT_HANDLE h;

	printf("%s: %s\n", what, rvs(f->C_CreateObject(cur, t, n, &h)));
}

static int run(char **a, int n)
{
	const char *c = a[0];
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_RV rv;

	if (strcmp(c, "init-nothreads") == 0) {
		CK_C_INITIALIZE_ARGS args = { .flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS };
		printf("%s: %s\n", c, rvs(f->C_Initialize(&args)));
	} else if (strcmp(c, "sign") == 0 && n > 1) {
		CK_MECHANISM m = { CKM_ECDSA, NULL, 0 };
		CK_BYTE data[32] = { 0 }, sig[512];
		CK_ULONG sn = sizeof(sig);
		rv = f->C_SignInit(cur, &m, strtoul(a[1], NULL, 0));
		if (rv == CKR_OK) {
			fflush(stdout); /* the test waits for what came before a call that may hang */
			rv = f->C_Sign(cur, data, sizeof(data), sig, &sn);
		}
		printf("sign: %s\n", rvs(rv));
	} else if (strcmp(c, "init") == 0 || strcmp(c, "init-os") == 0) {
		CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
		printf("%s: %s\n", c, rvs(f->C_Initialize(c[4] ? &args : NULL)));
	} else if (strcmp(c, "fin") == 0) {
		printf("fin: %s\n", rvs(f->C_Finalize(NULL)));
	} else if (strcmp(c, "info") == 0) {
		CK_INFO i;
		rv = f->C_GetInfo(&i);
		printf("info: %s", rvs(rv));
		if (rv == CKR_OK)
			padded("description", i.libraryDescription, sizeof(i.libraryDescription));
		printf("\n");
	} else if (strcmp(c, "slots") == 0 || strcmp(c, "slots-short") == 0) {
		slots(n > 1 && strcmp(a[1], "present") == 0, c[5] == '-');
	} else if (strcmp(c, "slotinfo") == 0 && n > 1) {
		CK_SLOT_INFO si;
		rv = f->C_GetSlotInfo(strtoul(a[1], NULL, 0), &si);
		printf("slotinfo: %s", rvs(rv));
		if (rv == CKR_OK)
			padded("description", si.slotDescription, sizeof(si.slotDescription));
		printf("\n");
	} else if (strcmp(c, "tokeninfo") == 0 && n > 1) {
		CK_TOKEN_INFO ti;
		rv = f->C_GetTokenInfo(strtoul(a[1], NULL, 0), &ti);
		printf("tokeninfo: %s", rvs(rv));
		if (rv == CKR_OK) {
			padded("label", ti.label, sizeof(ti.label));
			padded("model", ti.model, sizeof(ti.model));
			padded("serial", ti.serialNumber, sizeof(ti.serialNumber));
		}
		printf("\n");
	} else if (strcmp(c, "open") == 0 && n > 1) {
		CK_FLAGS fl = CKF_SERIAL_SESSION |
		              (n > 2 && strcmp(a[2], "rw") == 0 ? CKF_RW_SESSION : 0);
		printf("open: %s\n",
		       rvs(f->C_OpenSession(strtoul(a[1], NULL, 0), fl, NULL, NULL, &cur)));
	} else if (strcmp(c, "close") == 0) {
		printf("close: %s\n", rvs(f->C_CloseSession(cur)));
	} else if (strcmp(c, "closeall") == 0 && n > 1) {
		printf("closeall: %s\n", rvs(f->C_CloseAllSessions(strtoul(a[1], NULL, 0))));
	} else if (strcmp(c, "login") == 0 && n > 1) {
		const char *pin = env("P11CALL_PIN");
		printf("login %s: %s\n", a[1],
		       rvs(f->C_Login(cur, user_type(a[1]), (CK_UTF8CHAR_PTR)pin, strlen(pin))));
	} else if (strcmp(c, "logout") == 0) {
		printf("logout: %s\n", rvs(f->C_Logout(cur)));
	} else if (strcmp(c, "setpin") == 0) {
		const char *o = env("P11CALL_OLD"), *w = env("P11CALL_NEW");
		printf("setpin: %s\n", rvs(f->C_SetPIN(cur, (CK_UTF8CHAR_PTR)o, strlen(o),
		                                       (CK_UTF8CHAR_PTR)w, strlen(w))));
	} else if (strcmp(c, "initpin") == 0) {
		const char *w = env("P11CALL_NEW");
		printf("initpin: %s\n", rvs(f->C_InitPIN(cur, (CK_UTF8CHAR_PTR)w, strlen(w))));
	} else if (strcmp(c, "inittoken") == 0 && n > 2) {
		const char *pin = env("P11CALL_PIN");
		CK_UTF8CHAR label[32];
		size_t l = strlen(a[2]);
		memset(label, ' ', sizeof(label));
		memcpy(label, a[2], l > 32 ? 32 : l);
		printf("inittoken: %s\n",
		       rvs(f->C_InitToken(strtoul(a[1], NULL, 0), (CK_UTF8CHAR_PTR)pin, strlen(pin),
		                          label)));
	} else if (strcmp(c, "objects") == 0) {
		objects();
	} else if (strcmp(c, "mkdata") == 0 && n > 2) {
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },  { CKA_TOKEN, &yes, 1 },
			{ CKA_PRIVATE, &no, 1 },           { CKA_LABEL, a[1], strlen(a[1]) },
			{ CKA_VALUE, a[2], strlen(a[2]) },
		};
		create("mkdata", t, 5);
	} else if (strcmp(c, "mkcert") == 0 && n > 2) {
		CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
		CK_CERTIFICATE_TYPE ct = CKC_X_509;
		unsigned char der[8192], *subject = NULL;
		FILE *fp = fopen(a[1], "rb");
		size_t len = fp ? fread(der, 1, sizeof(der), fp) : 0;
		const unsigned char *p = der;
		X509 *x = d2i_X509(NULL, &p, (long)len);
		int slen = x ? i2d_X509_NAME(X509_get_subject_name(x), &subject) : 0;
		CK_ATTRIBUTE t[] = {
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_CERTIFICATE_TYPE, &ct, sizeof(ct) },
			{ CKA_TOKEN, &yes, 1 },
			{ CKA_LABEL, a[2], strlen(a[2]) },
			{ CKA_VALUE, der, len },
			{ CKA_SUBJECT, subject, slen > 0 ? (CK_ULONG)slen : 0 },
		};
		if (fp)
			fclose(fp);
		create("mkcert", t, 6);
		OPENSSL_free(subject);
		X509_free(x);
	} else if (strcmp(c, "wait") == 0) {
		char line[64];
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL)
			return 2;
	} else if (strcmp(c, "mechinfo") == 0 && n > 1) {
		CK_MECHANISM_INFO mi;
		printf("mechinfo: %s\n",
		       rvs(f->C_GetMechanismInfo(strtoul(a[1], NULL, 0), CKM_ECDSA, &mi)));
	} else {
		fprintf(stderr, "p11call: unknown command or missing argument: %s\n", c);
		return 2;
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get;
	void *dl;
	int i, start;

	if (argc < 3) {
		fprintf(stderr, "usage: %s MODULE COMMAND [ARG]... [, COMMAND ...]\n", argv[0]);
		return 2;
	}
	dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "p11call: %s\n", dlerror());
		return 2;
	}
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK)
		return 2;
	for (start = i = 2; i <= argc; i++) {
		if (i == argc || strcmp(argv[i], ",") == 0) {
			if (i > start && run(argv + start, i - start) != 0)
				return 2;
			start = i + 1;
		}
	}
	return 0;
}
