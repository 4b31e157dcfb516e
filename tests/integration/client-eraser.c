/*
 * client-eraser: a scriptable PKCS#11 client for the Card Eraser tests
 * (issue 4, "Virtual Card Eraser"), for what pkcs11-tool cannot express:
 * exact return codes, C_SetAttributeValue and C_CopyObject, the section
 * 5.2 length convention, handles, and a search left open meanwhile.
 *
 *   client-eraser MODULE COMMAND [ARG]... [, COMMAND [ARG]...]...
 *
 * Commands (one line of output each, "COMMAND: CKR_xxx [details]"):
 *   init | fin                C_Initialize(NULL) / C_Finalize
 *   open SLOT [rw] | close    C_OpenSession (the session becomes current);
 *                             SLOT "first": the first slot with a token
 *   login TYPE | logout       TYPE: user, so, puk, operator or a number; the
 *                             secret from CLIENT_PIN (never from argv)
 *   mkdata LABEL [private] [nodestroy]
 *                             a token data object (CKA_DESTROYABLE false)
 *   objects                   every object, one C_FindObjects each (as
 *                             pkcs11-tool): "class 'label'" each
 *   erasers                   CKO_DATA labelled "Card Eraser": count, and
 *                             the first one's application and handle; it
 *                             becomes the object of the commands below
 *   find WORD...              a search; WORD: class=data|cert|pubkey|privkey,
 *                             label=TEXT, app=TEXT, token=0|1, private=0|1,
 *                             id=HEX; prints count and whether the Card
 *                             Eraser is among them
 *   batch                     an empty-template search with max 1 and with
 *                             max 256: both counts, and whether the handles
 *                             are unique
 *   attrs                     C_GetAttributeValue of the Card Eraser: length
 *                             query, values, a buffer too small, an invalid type
 *   set | copy | size         C_SetAttributeValue / C_CopyObject /
 *                             C_GetObjectSize on the Card Eraser
 *   destroy                   C_DestroyObject of the Card Eraser
 *   searching                 a search left open while the Card Eraser is
 *                             read, a second search started, it destroyed
 * Exit status 0; 2 on a usage error.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p11-pkcs11.h"
#include "p11-const.h"
#include "p11shim.h"

static CK_FUNCTION_LIST_PTR f;
static CK_SESSION_HANDLE cur;
static CK_OBJECT_HANDLE er = CK_INVALID_HANDLE;

static const char *rvs(CK_RV rv)
{
	static char buf[4][32];
	static int i;
	const char *n = p11_const_name(P11_CONST_RV, rv);

	if (n)
		return n;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "0x%lx", rv);
	return buf[i];
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

/* A string attribute into buf ("" when absent). */
static void text_attr(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE type, char *buf, size_t len)
{
	CK_ATTRIBUTE a = { type, buf, len - 1 };

	if (f->C_GetAttributeValue(cur, h, &a, 1) != CKR_OK || a.ulValueLen >= len)
		a.ulValueLen = 0;
	buf[a.ulValueLen] = '\0';
}

static void objects(void)
{
	CK_OBJECT_HANDLE h;
	CK_ULONG n = 0, got;
	CK_RV rv;
	char line[4096];
	size_t used = 0;

	line[0] = '\0';
	rv = f->C_FindObjectsInit(cur, NULL, 0);
	while (rv == CKR_OK) {
		CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
		CK_ATTRIBUTE a = { CKA_CLASS, &cls, sizeof(cls) };
		char label[128];
		const char *cn;

		rv = f->C_FindObjects(cur, &h, 1, &got);
		if (rv != CKR_OK || got == 0)
			break;
		n++;
		f->C_GetAttributeValue(cur, h, &a, 1);
		text_attr(h, CKA_LABEL, label, sizeof(label));
		cn = p11_const_name(P11_CONST_CLASS, cls);
		if (used < sizeof(line))
			used += snprintf(line + used, sizeof(line) - used, " [%s '%s']",
			                 cn ? cn : "?", label);
	}
	f->C_FindObjectsFinal(cur);
	printf("objects: %s count=%lu%s\n", rvs(rv), n, line);
}

static void erasers(void)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, (void *)P11SHIM_CARD_ERASER_LABEL, strlen(P11SHIM_CARD_ERASER_LABEL) },
	};
	CK_OBJECT_HANDLE h[8];
	CK_ULONG n = 0;
	char app[64] = "";
	CK_RV rv;

	rv = f->C_FindObjectsInit(cur, t, 2);
	if (rv == CKR_OK)
		rv = f->C_FindObjects(cur, h, 8, &n);
	f->C_FindObjectsFinal(cur);
	printf("erasers: %s count=%lu", rvs(rv), n);
	if (rv == CKR_OK && n > 0) {
		er = h[0];
		text_attr(er, CKA_APPLICATION, app, sizeof(app));
		printf(" app='%s' handle=0x%lx", app, er);
	}
	printf("\n");
}

static unsigned char hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static void find(char **w, int n)
{
	CK_ATTRIBUTE t[16];
	CK_OBJECT_CLASS cls[16];
	CK_BBOOL b[16];
	unsigned char id[16][64];
	CK_OBJECT_HANDLE h[256];
	CK_ULONG count = 0, i;
	int k, with_eraser = 0;
	CK_RV rv;

	for (k = 0; k < n && k < 16; k++) {
		char *v = strchr(w[k], '=');
		if (v == NULL) {
			fprintf(stderr, "client-eraser: find: %s is not WORD=VALUE\n", w[k]);
			exit(2);
		}
		*v++ = '\0';
		if (strcmp(w[k], "class") == 0) {
			cls[k] = strcmp(v, "data") == 0   ? CKO_DATA :
			         strcmp(v, "cert") == 0   ? CKO_CERTIFICATE :
			         strcmp(v, "pubkey") == 0 ? CKO_PUBLIC_KEY :
			                                    CKO_PRIVATE_KEY;
			t[k] = (CK_ATTRIBUTE){ CKA_CLASS, &cls[k], sizeof(cls[k]) };
		} else if (strcmp(w[k], "label") == 0 || strcmp(w[k], "app") == 0) {
			t[k] = (CK_ATTRIBUTE){ w[k][0] == 'l' ? CKA_LABEL : CKA_APPLICATION, v,
				               strlen(v) };
		} else if (strcmp(w[k], "token") == 0 || strcmp(w[k], "private") == 0) {
			b[k] = v[0] == '1';
			t[k] = (CK_ATTRIBUTE){ w[k][0] == 't' ? CKA_TOKEN : CKA_PRIVATE, &b[k], 1 };
		} else if (strcmp(w[k], "id") == 0) {
			size_t j, len = strlen(v) / 2;
			for (j = 0; j < len && j < sizeof(id[k]); j++)
				id[k][j] = (unsigned char)(hexval(v[2 * j]) << 4 |
				                           hexval(v[2 * j + 1]));
			t[k] = (CK_ATTRIBUTE){ CKA_ID, id[k], j };
		} else {
			fprintf(stderr, "client-eraser: find: unknown word %s\n", w[k]);
			exit(2);
		}
	}
	rv = f->C_FindObjectsInit(cur, k ? t : NULL, (CK_ULONG)k);
	if (rv == CKR_OK)
		rv = f->C_FindObjects(cur, h, 256, &count);
	f->C_FindObjectsFinal(cur);
	for (i = 0; rv == CKR_OK && i < count; i++) {
		char label[64];
		text_attr(h[i], CKA_LABEL, label, sizeof(label));
		if (strcmp(label, P11SHIM_CARD_ERASER_LABEL) == 0)
			with_eraser = 1;
	}
	printf("find: %s count=%lu eraser=%s\n", rvs(rv), count, with_eraser ? "yes" : "no");
}

static void batch(void)
{
	CK_OBJECT_HANDLE one[256], all[256];
	CK_ULONG n1 = 0, n2 = 0, got, i, j;
	CK_RV rv;
	int unique = 1;

	rv = f->C_FindObjectsInit(cur, NULL, 0);
	while (rv == CKR_OK && n1 < 256) {
		rv = f->C_FindObjects(cur, &one[n1], 1, &got);
		if (rv != CKR_OK || got == 0)
			break;
		n1 += got;
	}
	f->C_FindObjectsFinal(cur);
	if (rv == CKR_OK)
		rv = f->C_FindObjectsInit(cur, NULL, 0);
	if (rv == CKR_OK)
		rv = f->C_FindObjects(cur, all, 256, &n2);
	/* Once the backend is done, no more: the virtual one came exactly once. */
	if (rv == CKR_OK && f->C_FindObjects(cur, one + n1, 256 - n1, &got) == CKR_OK && got != 0)
		unique = 0;
	f->C_FindObjectsFinal(cur);
	for (i = 0; i < n2; i++)
		for (j = i + 1; j < n2; j++)
			if (all[i] == all[j])
				unique = 0;
	printf("batch: %s one-by-one=%lu all=%lu unique=%s\n", rvs(rv), n1, n2,
	       unique ? "yes" : "no");
}

static const char *len_text(CK_ULONG l)
{
	static char buf[4][24];
	static int i;

	if (l == CK_UNAVAILABLE_INFORMATION)
		return "unavailable";
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%lu", l);
	return buf[i];
}

static void attrs(void)
{
	CK_OBJECT_CLASS cls = (CK_OBJECT_CLASS)-1;
	CK_BBOOL tok = 9, priv = 9, mod = 9, cop = 9, des = 9;
	char label[64], app[64], small[4];
	CK_BYTE modulus[8];
	CK_RV rv;

	/* 1. Length query: pValue NULL gives each length. */
	CK_ATTRIBUTE q[] = { { CKA_LABEL, NULL, 0 }, { CKA_CLASS, NULL, 0 }, { CKA_VALUE, NULL, 0 } };
	rv = f->C_GetAttributeValue(cur, er, q, 3);
	printf("attrs-query: %s label=%s class=%s value=%s\n", rvs(rv), len_text(q[0].ulValueLen),
	       len_text(q[1].ulValueLen), len_text(q[2].ulValueLen));

	/* 2. The values. */
	CK_ATTRIBUTE v[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_LABEL, label, sizeof(label) },
		{ CKA_APPLICATION, app, sizeof(app) },
		{ CKA_TOKEN, &tok, 1 },
		{ CKA_PRIVATE, &priv, 1 },
		{ CKA_MODIFIABLE, &mod, 1 },
		{ CKA_COPYABLE, &cop, 1 },
		{ CKA_DESTROYABLE, &des, 1 },
	};
	rv = f->C_GetAttributeValue(cur, er, v, 8);
	printf("attrs-get: %s class=%s label='%.*s' app='%.*s' token=%d private=%d modifiable=%d "
	       "copyable=%d destroyable=%d\n",
	       rvs(rv), cls == CKO_DATA ? "CKO_DATA" : "other",
	       (int)(v[1].ulValueLen < 64 ? v[1].ulValueLen : 0), label,
	       (int)(v[2].ulValueLen < 64 ? v[2].ulValueLen : 0), app, tok, priv, mod, cop, des);

	/* 3. A buffer too small: that attribute unavailable, the others filled. */
	cls = (CK_OBJECT_CLASS)-1;
	CK_ATTRIBUTE s[] = { { CKA_LABEL, small, sizeof(small) }, { CKA_CLASS, &cls, sizeof(cls) } };
	rv = f->C_GetAttributeValue(cur, er, s, 2);
	printf("attrs-small: %s label=%s class=%s\n", rvs(rv), len_text(s[0].ulValueLen),
	       cls == CKO_DATA ? "CKO_DATA" : "unset");

	/* 4. A type a data object lacks: unavailable, the others filled. */
	memset(label, 0, sizeof(label));
	CK_ATTRIBUTE i[] = {
		{ CKA_MODULUS, modulus, sizeof(modulus) },
		{ CKA_LABEL, label, sizeof(label) },
	};
	rv = f->C_GetAttributeValue(cur, er, i, 2);
	printf("attrs-invalid: %s modulus=%s label='%.*s'\n", rvs(rv), len_text(i[0].ulValueLen),
	       (int)(i[1].ulValueLen < 64 ? i[1].ulValueLen : 0), label);
}

static void searching(void)
{
	CK_OBJECT_HANDLE h[256];
	CK_ULONG n = 0, got;
	char label[64] = "";
	CK_ATTRIBUTE a = { CKA_LABEL, label, sizeof(label) - 1 };
	CK_RV rv, attr, second, destroy;

	rv = f->C_FindObjectsInit(cur, NULL, 0);
	if (rv == CKR_OK)
		rv = f->C_FindObjects(cur, h, 1, &n);
	attr = f->C_GetAttributeValue(cur, er, &a, 1);
	second = f->C_FindObjectsInit(cur, NULL, 0);
	destroy = f->C_DestroyObject(cur, er);
	while (rv == CKR_OK && n < 256) {
		rv = f->C_FindObjects(cur, h + n, 1, &got);
		if (rv != CKR_OK || got == 0)
			break;
		n += got;
	}
	f->C_FindObjectsFinal(cur);
	printf("searching: %s attr=%s second-init=%s destroy=%s count=%lu\n", rvs(rv), rvs(attr),
	       rvs(second), rvs(destroy), n);
}

static void mkdata(char **a, int n)
{
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, priv = CK_FALSE, destroyable = CK_TRUE;
	CK_OBJECT_HANDLE h;
	int k;

	for (k = 1; k < n; k++) {
		if (strcmp(a[k], "private") == 0)
			priv = CK_TRUE;
		else if (strcmp(a[k], "nodestroy") == 0)
			destroyable = CK_FALSE;
	}
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, 1 },
		{ CKA_PRIVATE, &priv, 1 },
		{ CKA_LABEL, a[0], strlen(a[0]) },
		{ CKA_VALUE, "x", 1 },
		{ CKA_DESTROYABLE, &destroyable, 1 },
	};
	/* CKA_DESTROYABLE only when asked for: not every backend knows it. */
	printf("mkdata: %s\n", rvs(f->C_CreateObject(cur, t, destroyable ? 5 : 6, &h)));
}

static int run(char **a, int n)
{
	const char *c = a[0];

	if (strcmp(c, "init") == 0) {
		printf("init: %s\n", rvs(f->C_Initialize(NULL)));
	} else if (strcmp(c, "fin") == 0) {
		printf("fin: %s\n", rvs(f->C_Finalize(NULL)));
	} else if (strcmp(c, "open") == 0 && n > 1) {
		CK_FLAGS fl = CKF_SERIAL_SESSION |
		              (n > 2 && strcmp(a[2], "rw") == 0 ? CKF_RW_SESSION : 0);
		CK_SLOT_ID slot = strtoul(a[1], NULL, 0), list[64];
		CK_ULONG count = 64;
		if (strcmp(a[1], "first") == 0 &&
		    (f->C_GetSlotList(CK_TRUE, list, &count) != CKR_OK || count == 0)) {
			printf("open: no slot with a token\n");
			return 0;
		}
		if (strcmp(a[1], "first") == 0)
			slot = list[0];
		printf("open: %s\n", rvs(f->C_OpenSession(slot, fl, NULL, NULL, &cur)));
	} else if (strcmp(c, "close") == 0) {
		printf("close: %s\n", rvs(f->C_CloseSession(cur)));
	} else if (strcmp(c, "login") == 0 && n > 1) {
		const char *pin = getenv("CLIENT_PIN");
		if (pin == NULL) {
			fprintf(stderr, "client-eraser: CLIENT_PIN is not set\n");
			exit(2);
		}
		printf("login %s: %s\n", a[1],
		       rvs(f->C_Login(cur, user_type(a[1]), (CK_UTF8CHAR_PTR)pin, strlen(pin))));
	} else if (strcmp(c, "logout") == 0) {
		printf("logout: %s\n", rvs(f->C_Logout(cur)));
	} else if (strcmp(c, "mkdata") == 0 && n > 1) {
		mkdata(a + 1, n - 1);
	} else if (strcmp(c, "objects") == 0) {
		objects();
	} else if (strcmp(c, "erasers") == 0) {
		erasers();
	} else if (strcmp(c, "find") == 0) {
		find(a + 1, n - 1);
	} else if (strcmp(c, "batch") == 0) {
		batch();
	} else if (strcmp(c, "attrs") == 0) {
		attrs();
	} else if (strcmp(c, "set") == 0) {
		CK_ATTRIBUTE t = { CKA_LABEL, "renamed", 7 };
		printf("set: %s\n", rvs(f->C_SetAttributeValue(cur, er, &t, 1)));
	} else if (strcmp(c, "copy") == 0) {
		CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
		CK_ATTRIBUTE t = { CKA_LABEL, "copied", 6 };
		printf("copy: %s\n", rvs(f->C_CopyObject(cur, er, &t, 1, &h)));
	} else if (strcmp(c, "size") == 0) {
		CK_ULONG size = 0;
		CK_RV rv = f->C_GetObjectSize(cur, er, &size);
		printf("size: %s%s\n", rvs(rv), rv == CKR_OK && size > 0 ? " nonzero" : "");
	} else if (strcmp(c, "destroy") == 0) {
		printf("destroy: %s\n", rvs(f->C_DestroyObject(cur, er)));
	} else if (strcmp(c, "searching") == 0) {
		searching();
	} else {
		fprintf(stderr, "client-eraser: unknown command or missing argument: %s\n", c);
		return 2;
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	void *lib;
	int i, start;

	if (argc < 3) {
		fprintf(stderr, "usage: client-eraser MODULE COMMAND [ARG]... [, COMMAND...]\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		fprintf(stderr, "client-eraser: %s\n", dlerror());
		return 2;
	}
	*(void **)&get = dlsym(lib, "C_GetFunctionList");
	if (get == NULL || get(&f) != CKR_OK) {
		fprintf(stderr, "client-eraser: no function list\n");
		return 2;
	}
	for (start = 2, i = 2; i <= argc; i++) {
		if (i == argc || strcmp(argv[i], ",") == 0) {
			if (i > start && run(argv + start, i - start) != 0)
				return 2;
			start = i + 1;
		}
	}
	dlclose(lib);
	return 0;
}
