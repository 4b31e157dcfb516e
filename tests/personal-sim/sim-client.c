/*
 * sim-client: a tiny scripted PKCS#11 client for the personal-sim tests.
 *
 *     sim-client MODULE [SCRIPT]        (the script is read from stdin if absent)
 *
 * It loads MODULE with dlopen (LoadLibrary on Windows) and runs one step per
 * script line, all in one process, so that a login, a C_SetPIN and what
 * follows share one session, and two clients can run side by side (cache
 * tests). A line is
 *
 *     COMMAND ARG... [=> RESULT [VALUE]]
 *
 * RESULT is a CKR_ name (default CKR_OK) or NOT_FOUND / AMBIGUOUS / TIMEOUT;
 * VALUE, if given, must equal the step's value, or contain it when written
 * ~TEXT, or not contain it when written !~TEXT. Words may be "double quoted".
 * '#' starts a comment line. Secrets are written env:NAME (taken from the
 * environment) or literally; either way they are never printed. The exit
 * status is 0 when every step met its expectation, 1 when one did not, 2
 * for a usage or script error. Commands: see usage() below.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <p11-kit/pkcs11.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#include <unistd.h>
#endif

#define CKU_PERSONAL_UNBLOCK 0x80000001UL /* tests/personal-sim/README.md */
#define MAX_WORDS 16

static CK_FUNCTION_LIST_PTR p11;
static CK_SESSION_HANDLE session;
static int initialized;

static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
#define RV(x)         \
	{             \
		x, #x \
	}
	RV(CKR_OK),
	RV(CKR_HOST_MEMORY),
	RV(CKR_SLOT_ID_INVALID),
	RV(CKR_GENERAL_ERROR),
	RV(CKR_FUNCTION_FAILED),
	RV(CKR_ARGUMENTS_BAD),
	RV(CKR_ATTRIBUTE_READ_ONLY),
	RV(CKR_ATTRIBUTE_SENSITIVE),
	RV(CKR_ATTRIBUTE_TYPE_INVALID),
	RV(CKR_ATTRIBUTE_VALUE_INVALID),
	RV(CKR_ACTION_PROHIBITED),
	RV(CKR_DATA_LEN_RANGE),
	RV(CKR_DEVICE_ERROR),
	RV(CKR_FUNCTION_NOT_PARALLEL),
	RV(CKR_FUNCTION_NOT_SUPPORTED),
	RV(CKR_KEY_HANDLE_INVALID),
	RV(CKR_KEY_TYPE_INCONSISTENT),
	RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
	RV(CKR_MECHANISM_INVALID),
	RV(CKR_OBJECT_HANDLE_INVALID),
	RV(CKR_OPERATION_ACTIVE),
	RV(CKR_OPERATION_NOT_INITIALIZED),
	RV(CKR_PIN_INCORRECT),
	RV(CKR_PIN_INVALID),
	RV(CKR_PIN_LEN_RANGE),
	RV(CKR_PIN_EXPIRED),
	RV(CKR_PIN_LOCKED),
	RV(CKR_SESSION_CLOSED),
	RV(CKR_SESSION_COUNT),
	RV(CKR_SESSION_HANDLE_INVALID),
	RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
	RV(CKR_SESSION_READ_ONLY),
	RV(CKR_SESSION_EXISTS),
	RV(CKR_SESSION_READ_ONLY_EXISTS),
	RV(CKR_SESSION_READ_WRITE_SO_EXISTS),
	RV(CKR_TEMPLATE_INCOMPLETE),
	RV(CKR_TEMPLATE_INCONSISTENT),
	RV(CKR_TOKEN_NOT_PRESENT),
	RV(CKR_TOKEN_NOT_RECOGNIZED),
	RV(CKR_TOKEN_WRITE_PROTECTED),
	RV(CKR_USER_ALREADY_LOGGED_IN),
	RV(CKR_USER_NOT_LOGGED_IN),
	RV(CKR_USER_PIN_NOT_INITIALIZED),
	RV(CKR_USER_TYPE_INVALID),
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	RV(CKR_BUFFER_TOO_SMALL),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED),
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
	RV(CKR_CURVE_NOT_SUPPORTED),
#undef RV
};

static const struct {
	CK_FLAGS flag;
	const char *name;
} token_flags[] = {
	{ CKF_RNG, "RNG" },
	{ CKF_WRITE_PROTECTED, "WRITE_PROTECTED" },
	{ CKF_LOGIN_REQUIRED, "LOGIN_REQUIRED" },
	{ CKF_USER_PIN_INITIALIZED, "USER_PIN_INITIALIZED" },
	{ CKF_TOKEN_INITIALIZED, "TOKEN_INITIALIZED" },
	{ CKF_USER_PIN_COUNT_LOW, "USER_PIN_COUNT_LOW" },
	{ CKF_USER_PIN_FINAL_TRY, "USER_PIN_FINAL_TRY" },
	{ CKF_USER_PIN_LOCKED, "USER_PIN_LOCKED" },
	{ CKF_SO_PIN_COUNT_LOW, "SO_PIN_COUNT_LOW" },
	{ CKF_SO_PIN_FINAL_TRY, "SO_PIN_FINAL_TRY" },
	{ CKF_SO_PIN_LOCKED, "SO_PIN_LOCKED" },
};

static const char *rv_name(CK_RV rv)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++) {
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	}
	snprintf(buf, sizeof(buf), "0x%08lx", (unsigned long)rv);
	return buf;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: sim-client MODULE [SCRIPT]\n"
	        "steps (one a line, optional '=> RESULT [VALUE]'):\n"
	        "  init | finalize | info | slots [present] | slotinfo SLOT\n"
	        "  token SLOT label|model|serial|manufacturer|flags\n"
	        "  open SLOT [rw] | close | closeall SLOT | sessionstate\n"
	        "  login so|user|unblock|context|NUMBER SECRET | logout\n"
	        "  setpin OLD NEW | initpin NEW | inittoken SLOT SOPIN LABEL\n"
	        "  create-data LABEL [token] [private] | find [LABEL] | handle LABEL\n"
	        "  destroy LABEL | setlabel LABEL NEW | copy LABEL | getattr LABEL label|application|value|modifiable\n"
	        "  attrs-5.2 LABEL | keygen ec|rsa LABEL | sign LABEL | random N\n"
	        "  signal FILE | wait FILE | echo TEXT...\n"
	        "SECRET: env:NAME or a literal; secrets are never printed.\n");
}

static void trim_copy(char *dst, const CK_UTF8CHAR *src, size_t len)
{
	while (len > 0 && src[len - 1] == ' ')
		len--;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A secret argument: env:NAME from the environment, else the literal. */
static int secret(const char *arg, const char **value)
{
	if (strncmp(arg, "env:", 4) == 0) {
		*value = getenv(arg + 4);
		if (!*value) {
			fprintf(stderr, "sim-client: environment variable %s is not set\n", arg + 4);
			return -1;
		}
	} else {
		*value = arg;
	}
	return 0;
}

/* How a secret is shown: its env name, or only its length. */
static void show_secret(char *out, size_t size, const char *arg)
{
	if (strncmp(arg, "env:", 4) == 0)
		snprintf(out, size, "%s", arg);
	else
		snprintf(out, size, "<%zu-char secret>", strlen(arg));
}

static int split(char *line, char **words, int max)
{
	int n = 0;
	char *p = line, *w;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (!*p)
			return n;
		if (n == max)
			return -1;
		if (*p == '"') {
			w = ++p;
			words[n++] = w;
			while (*p && *p != '"') {
				if (*p == '\\' && p[1])
					memmove(p, p + 1, strlen(p));
				p++;
			}
			if (*p != '"')
				return -1;
			*p++ = '\0';
		} else {
			words[n++] = p;
			while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
				p++;
			if (*p)
				*p++ = '\0';
		}
	}
}

static CK_SLOT_ID slot_arg(const char *s)
{
	return (CK_SLOT_ID)strtoul(s, NULL, 0);
}

static CK_RV find_by_label(const char *label, CK_OBJECT_HANDLE *out, CK_ULONG *count)
{
	CK_ATTRIBUTE tmpl = { CKA_LABEL, (void *)label, label ? strlen(label) : 0 };
	CK_OBJECT_HANDLE found[64];
	CK_RV rv;

	rv = p11->C_FindObjectsInit(session, &tmpl, label ? 1 : 0);
	if (rv != CKR_OK)
		return rv;
	rv = p11->C_FindObjects(session, found, 64, count);
	p11->C_FindObjectsFinal(session);
	if (rv == CKR_OK && *count > 0)
		*out = found[0];
	return rv;
}

/* One object by label, else a NOT_FOUND / AMBIGUOUS result. */
static const char *one_by_label(const char *label, CK_OBJECT_HANDLE *h)
{
	CK_ULONG count = 0;
	CK_RV rv = find_by_label(label, h, &count);

	if (rv != CKR_OK)
		return rv_name(rv);
	if (count == 0)
		return "NOT_FOUND";
	if (count > 1)
		return "AMBIGUOUS";
	return NULL;
}

static CK_ATTRIBUTE_TYPE attr_arg(const char *s)
{
	if (strcmp(s, "label") == 0)
		return CKA_LABEL;
	if (strcmp(s, "application") == 0)
		return CKA_APPLICATION;
	if (strcmp(s, "modifiable") == 0)
		return CKA_MODIFIABLE;
	if (strcmp(s, "token") == 0)
		return CKA_TOKEN;
	if (strcmp(s, "private") == 0)
		return CKA_PRIVATE;
	return CKA_VALUE;
}

static void value_text(char *value, size_t size, const unsigned char *v, CK_ULONG len)
{
	CK_ULONG i;
	int printable = 1;

	for (i = 0; i < len; i++) {
		if (v[i] < 0x20 || v[i] > 0x7e)
			printable = 0;
	}
	if (printable && len < size) {
		memcpy(value, v, len);
		value[len] = '\0';
		return;
	}
	value[0] = '\0';
	for (i = 0; i < len && 2 * i + 3 < size; i++)
		snprintf(value + 2 * i, 3, "%02x", v[i]);
}

/*
 * Runs one step. *result gets the CKR_ name (or NOT_FOUND...), value the
 * step's value; shown gets the step as it may be printed (no secrets).
 */
static int run_step(char **w, int n, const char **result, char *value, size_t vsize, char *shown,
                    size_t ssize)
{
	const char *cmd = w[0], *s1, *s2;
	char a[64], b[64];
	CK_RV rv = CKR_OK;
	int i;

	*result = NULL;
	value[0] = '\0';
	shown[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t len = strlen(shown);

		snprintf(shown + len, ssize - len, strchr(w[i], ' ') ? "%s\"%s\"" : "%s%s",
		         i ? " " : "", w[i]);
	}

#define NEED(k)                                                                           \
	do {                                                                              \
		if (n < (k) + 1) {                                                        \
			fprintf(stderr, "sim-client: %s needs %d argument(s)\n", cmd, k); \
			return -1;                                                        \
		}                                                                         \
	} while (0)

	if (strcmp(cmd, "init") == 0) {
		CK_C_INITIALIZE_ARGS args;

		/* Like Java and NSS: OS locking allowed. */
		memset(&args, 0, sizeof(args));
		args.flags = CKF_OS_LOCKING_OK;
		rv = p11->C_Initialize(&args);
		if (rv == CKR_OK)
			initialized = 1;
	} else if (strcmp(cmd, "finalize") == 0) {
		rv = p11->C_Finalize(NULL);
		if (rv == CKR_OK)
			initialized = 0;
	} else if (strcmp(cmd, "info") == 0) {
		CK_INFO info;

		rv = p11->C_GetInfo(&info);
		if (rv == CKR_OK) {
			char desc[33], manu[33];

			trim_copy(desc, info.libraryDescription, 32);
			trim_copy(manu, info.manufacturerID, 32);
			snprintf(value, vsize, "%s|%s|%u.%u|%u.%u", manu, desc,
			         info.libraryVersion.major, info.libraryVersion.minor,
			         info.cryptokiVersion.major, info.cryptokiVersion.minor);
		}
	} else if (strcmp(cmd, "slots") == 0) {
		CK_SLOT_ID ids[64];
		CK_ULONG count = 64, k;

		rv = p11->C_GetSlotList(n > 1 && strcmp(w[1], "present") == 0, ids, &count);
		for (k = 0; rv == CKR_OK && k < count; k++) {
			size_t len = strlen(value);

			snprintf(value + len, vsize - len, "%s%lu", k ? " " : "",
			         (unsigned long)ids[k]);
		}
	} else if (strcmp(cmd, "slotinfo") == 0) {
		CK_SLOT_INFO info;

		NEED(1);
		rv = p11->C_GetSlotInfo(slot_arg(w[1]), &info);
		if (rv == CKR_OK) {
			char desc[65];

			trim_copy(desc, info.slotDescription, 64);
			snprintf(value, vsize, "%s|%s", desc,
			         (info.flags & CKF_TOKEN_PRESENT) ? "present" : "empty");
		}
	} else if (strcmp(cmd, "token") == 0) {
		CK_TOKEN_INFO info;

		NEED(2);
		rv = p11->C_GetTokenInfo(slot_arg(w[1]), &info);
		if (rv == CKR_OK) {
			if (strcmp(w[2], "label") == 0) {
				trim_copy(value, info.label, 32);
			} else if (strcmp(w[2], "model") == 0) {
				trim_copy(value, info.model, 16);
			} else if (strcmp(w[2], "serial") == 0) {
				trim_copy(value, info.serialNumber, 16);
			} else if (strcmp(w[2], "manufacturer") == 0) {
				trim_copy(value, info.manufacturerID, 32);
			} else {
				size_t k;

				for (k = 0; k < sizeof(token_flags) / sizeof(token_flags[0]); k++) {
					size_t len = strlen(value);

					if (info.flags & token_flags[k].flag)
						snprintf(value + len, vsize - len, "%s%s",
						         len ? "," : "", token_flags[k].name);
				}
			}
		}
	} else if (strcmp(cmd, "open") == 0) {
		CK_FLAGS flags = CKF_SERIAL_SESSION;

		NEED(1);
		if (n > 2 && strcmp(w[2], "rw") == 0)
			flags |= CKF_RW_SESSION;
		rv = p11->C_OpenSession(slot_arg(w[1]), flags, NULL, NULL, &session);
	} else if (strcmp(cmd, "close") == 0) {
		rv = p11->C_CloseSession(session);
	} else if (strcmp(cmd, "closeall") == 0) {
		NEED(1);
		rv = p11->C_CloseAllSessions(slot_arg(w[1]));
	} else if (strcmp(cmd, "sessionstate") == 0) {
		CK_SESSION_INFO info;

		static const char *const states[] = { "RO_PUBLIC_SESSION", "RO_USER_FUNCTIONS",
			                              "RW_PUBLIC_SESSION", "RW_USER_FUNCTIONS",
			                              "RW_SO_FUNCTIONS" };

		rv = p11->C_GetSessionInfo(session, &info);
		if (rv == CKR_OK && info.state < 5)
			snprintf(value, vsize, "%s", states[info.state]);
		else if (rv == CKR_OK)
			snprintf(value, vsize, "%lu", (unsigned long)info.state);
	} else if (strcmp(cmd, "login") == 0) {
		CK_USER_TYPE user;

		NEED(2);
		if (strcmp(w[1], "so") == 0)
			user = CKU_SO;
		else if (strcmp(w[1], "user") == 0)
			user = CKU_USER;
		else if (strcmp(w[1], "context") == 0)
			user = CKU_CONTEXT_SPECIFIC;
		else if (strcmp(w[1], "unblock") == 0)
			user = CKU_PERSONAL_UNBLOCK;
		else
			user = strtoul(w[1], NULL, 0);
		if (secret(w[2], &s1) < 0)
			return -1;
		show_secret(a, sizeof(a), w[2]);
		snprintf(shown, ssize, "login %s %s", w[1], a);
		rv = p11->C_Login(session, user, (CK_UTF8CHAR_PTR)s1, strlen(s1));
	} else if (strcmp(cmd, "logout") == 0) {
		rv = p11->C_Logout(session);
	} else if (strcmp(cmd, "setpin") == 0) {
		NEED(2);
		if (secret(w[1], &s1) < 0 || secret(w[2], &s2) < 0)
			return -1;
		show_secret(a, sizeof(a), w[1]);
		show_secret(b, sizeof(b), w[2]);
		snprintf(shown, ssize, "setpin %s %s", a, b);
		rv = p11->C_SetPIN(session, (CK_UTF8CHAR_PTR)s1, strlen(s1), (CK_UTF8CHAR_PTR)s2,
		                   strlen(s2));
	} else if (strcmp(cmd, "initpin") == 0) {
		NEED(1);
		if (secret(w[1], &s1) < 0)
			return -1;
		show_secret(a, sizeof(a), w[1]);
		snprintf(shown, ssize, "initpin %s", a);
		rv = p11->C_InitPIN(session, (CK_UTF8CHAR_PTR)s1, strlen(s1));
	} else if (strcmp(cmd, "inittoken") == 0) {
		CK_UTF8CHAR label[32];
		size_t len;

		NEED(3);
		if (secret(w[2], &s1) < 0)
			return -1;
		show_secret(a, sizeof(a), w[2]);
		snprintf(shown, ssize, "inittoken %s %s \"%s\"", w[1], a, w[3]);
		len = strlen(w[3]);
		memset(label, ' ', sizeof(label));
		memcpy(label, w[3], len < 32 ? len : 32);
		rv = p11->C_InitToken(slot_arg(w[1]), (CK_UTF8CHAR_PTR)s1, strlen(s1), label);
	} else if (strcmp(cmd, "create-data") == 0) {
		CK_OBJECT_CLASS klass = CKO_DATA;
		CK_BBOOL token = CK_FALSE, priv = CK_FALSE;
		CK_OBJECT_HANDLE h;
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_CLASS, &klass, sizeof(klass) }, { CKA_TOKEN, &token, sizeof(token) },
			{ CKA_PRIVATE, &priv, sizeof(priv) }, { CKA_LABEL, NULL, 0 },
			{ CKA_VALUE, "sim-client data", 15 },
		};

		NEED(1);
		for (i = 2; i < n; i++) {
			if (strcmp(w[i], "token") == 0)
				token = CK_TRUE;
			if (strcmp(w[i], "private") == 0)
				priv = CK_TRUE;
		}
		tmpl[3].pValue = w[1];
		tmpl[3].ulValueLen = strlen(w[1]);
		rv = p11->C_CreateObject(session, tmpl, 5, &h);
		if (rv == CKR_OK)
			snprintf(value, vsize, "%lu", (unsigned long)h);
	} else if (strcmp(cmd, "find") == 0) {
		CK_OBJECT_HANDLE h;
		CK_ULONG count = 0;

		rv = find_by_label(n > 1 ? w[1] : NULL, &h, &count);
		if (rv == CKR_OK)
			snprintf(value, vsize, "%lu", (unsigned long)count);
	} else if (strcmp(cmd, "handle") == 0) {
		CK_OBJECT_HANDLE h;

		NEED(1);
		*result = one_by_label(w[1], &h);
		if (!*result)
			snprintf(value, vsize, "%lu", (unsigned long)h);
	} else if (strcmp(cmd, "destroy") == 0) {
		CK_OBJECT_HANDLE h;

		NEED(1);
		*result = one_by_label(w[1], &h);
		if (!*result)
			rv = p11->C_DestroyObject(session, h);
	} else if (strcmp(cmd, "setlabel") == 0) {
		CK_OBJECT_HANDLE h;
		CK_ATTRIBUTE tmpl;

		NEED(2);
		*result = one_by_label(w[1], &h);
		if (!*result) {
			tmpl.type = CKA_LABEL;
			tmpl.pValue = w[2];
			tmpl.ulValueLen = strlen(w[2]);
			rv = p11->C_SetAttributeValue(session, h, &tmpl, 1);
		}
	} else if (strcmp(cmd, "copy") == 0) {
		CK_OBJECT_HANDLE h, copy;

		NEED(1);
		*result = one_by_label(w[1], &h);
		if (!*result)
			rv = p11->C_CopyObject(session, h, NULL, 0, &copy);
	} else if (strcmp(cmd, "getattr") == 0) {
		CK_OBJECT_HANDLE h;
		unsigned char buf[1024];
		CK_ATTRIBUTE tmpl;

		NEED(2);
		*result = one_by_label(w[1], &h);
		if (!*result) {
			tmpl.type = attr_arg(w[2]);
			tmpl.pValue = buf;
			tmpl.ulValueLen = sizeof(buf);
			rv = p11->C_GetAttributeValue(session, h, &tmpl, 1);
			if (rv == CKR_OK)
				value_text(value, vsize, buf, tmpl.ulValueLen);
		}
	} else if (strcmp(cmd, "attrs-5.2") == 0) {
		/*
		 * The section 5.2 convention in one call: a length query, a
		 * missing attribute and a short buffer. Value: the three
		 * ulValueLen answers, "-1" for CK_UNAVAILABLE_INFORMATION.
		 */
		CK_OBJECT_HANDLE h;
		unsigned char small[1];
		CK_ATTRIBUTE tmpl[3] = {
			{ CKA_LABEL, NULL, 0 },
			{ CKA_MODULUS, NULL, 0 },
			{ CKA_LABEL, small, sizeof(small) },
		};
		int k;

		NEED(1);
		*result = one_by_label(w[1], &h);
		if (!*result) {
			rv = p11->C_GetAttributeValue(session, h, tmpl, 3);
			for (k = 0; k < 3; k++) {
				size_t len = strlen(value);

				if (tmpl[k].ulValueLen == CK_UNAVAILABLE_INFORMATION)
					snprintf(value + len, vsize - len, "%s-1", k ? " " : "");
				else
					snprintf(value + len, vsize - len, "%s%lu", k ? " " : "",
					         (unsigned long)tmpl[k].ulValueLen);
			}
		}
	} else if (strcmp(cmd, "keygen") == 0) {
		static const unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48,
			                              0xce, 0x3d, 0x03, 0x01, 0x07 };
		CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
		CK_BBOOL yes = CK_TRUE;
		CK_ULONG bits = 2048;
		CK_OBJECT_HANDLE hpub, hpriv;
		CK_ATTRIBUTE pub[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_LABEL, NULL, 0 },
			{ CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
		};
		CK_ATTRIBUTE priv[] = {
			{ CKA_TOKEN, &yes, sizeof(yes) },
			{ CKA_LABEL, NULL, 0 },
			{ CKA_PRIVATE, &yes, sizeof(yes) },
			{ CKA_SIGN, &yes, sizeof(yes) },
		};

		NEED(2);
		pub[1].pValue = priv[1].pValue = w[2];
		pub[1].ulValueLen = priv[1].ulValueLen = strlen(w[2]);
		if (strcmp(w[1], "rsa") == 0) {
			mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
			pub[2].type = CKA_MODULUS_BITS;
			pub[2].pValue = &bits;
			pub[2].ulValueLen = sizeof(bits);
		}
		rv = p11->C_GenerateKeyPair(session, &mech, pub, 3, priv, 4, &hpub, &hpriv);
	} else if (strcmp(cmd, "sign") == 0) {
		CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
		CK_ATTRIBUTE tmpl[2] = {
			{ CKA_CLASS, &klass, sizeof(klass) },
			{ CKA_LABEL, NULL, 0 },
		};
		CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
		CK_KEY_TYPE kt;
		CK_ATTRIBUTE ktattr = { CKA_KEY_TYPE, &kt, sizeof(kt) };
		CK_OBJECT_HANDLE h;
		CK_ULONG count = 0, len = 0;
		unsigned char sig[1024];
		static const unsigned char data[32] = "0123456789abcdef0123456789abcdef";

		NEED(1);
		tmpl[1].pValue = w[1];
		tmpl[1].ulValueLen = strlen(w[1]);
		rv = p11->C_FindObjectsInit(session, tmpl, 2);
		if (rv == CKR_OK) {
			rv = p11->C_FindObjects(session, &h, 1, &count);
			p11->C_FindObjectsFinal(session);
		}
		if (rv == CKR_OK && count == 0)
			*result = "NOT_FOUND";
		if (rv == CKR_OK && count == 1)
			rv = p11->C_GetAttributeValue(session, h, &ktattr, 1);
		if (rv == CKR_OK && count == 1) {
			if (kt == CKK_RSA)
				mech.mechanism = CKM_RSA_PKCS;
			rv = p11->C_SignInit(session, &mech, h);
			/* Section 5.2: length first, then the signature. */
			if (rv == CKR_OK)
				rv = p11->C_Sign(session, (CK_BYTE_PTR)data, sizeof(data), NULL,
				                 &len);
			if (rv == CKR_OK && len <= sizeof(sig))
				rv = p11->C_Sign(session, (CK_BYTE_PTR)data, sizeof(data), sig, &len);
			if (rv == CKR_OK)
				snprintf(value, vsize, "%lu:%02x%02x%02x%02x", (unsigned long)len,
				         sig[0], sig[1], sig[2], sig[3]);
		}
	} else if (strcmp(cmd, "random") == 0) {
		unsigned char buf[256];
		CK_ULONG len;

		NEED(1);
		len = strtoul(w[1], NULL, 0);
		if (len > sizeof(buf))
			len = sizeof(buf);
		rv = p11->C_GenerateRandom(session, buf, len);
		if (rv == CKR_OK)
			snprintf(value, vsize, "%lu", (unsigned long)len);
	} else if (strcmp(cmd, "signal") == 0) {
		FILE *f;

		NEED(1);
		f = fopen(w[1], "w");
		if (!f || fclose(f) != 0) {
			fprintf(stderr, "sim-client: %s: %s\n", w[1], strerror(errno));
			return -1;
		}
	} else if (strcmp(cmd, "wait") == 0) {
		time_t end = time(NULL) + 30;
		FILE *f;

		NEED(1);
		*result = "TIMEOUT";
		while (time(NULL) < end) {
			f = fopen(w[1], "r");
			if (f) {
				fclose(f);
				*result = NULL;
				break;
			}
#ifdef _WIN32
			Sleep(50);
#else
			usleep(50000);
#endif
		}
	} else {
		fprintf(stderr, "sim-client: unknown step '%s'\n", cmd);
		usage();
		return -1;
	}
#undef NEED

	if (!*result)
		*result = rv_name(rv);
	return 0;
}

static int value_matches(const char *expected, const char *value)
{
	if (strncmp(expected, "!~", 2) == 0)
		return strstr(value, expected + 2) == NULL;
	if (expected[0] == '~')
		return strstr(value, expected + 1) != NULL;
	return strcmp(expected, value) == 0;
}

static int load_module(const char *path)
{
	CK_C_GetFunctionList get;

#ifdef _WIN32
	HMODULE dl = LoadLibraryA(path);

	if (!dl) {
		fprintf(stderr, "sim-client: cannot load %s: error %lu\n", path,
		        (unsigned long)GetLastError());
		return -1;
	}
	get = (CK_C_GetFunctionList)(void (*)(void))GetProcAddress(dl, "C_GetFunctionList");
#else
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!dl) {
		fprintf(stderr, "sim-client: cannot load %s: %s\n", path, dlerror());
		return -1;
	}
	*(void **)&get = dlsym(dl, "C_GetFunctionList");
#endif
	if (!get || get(&p11) != CKR_OK || !p11) {
		fprintf(stderr, "sim-client: %s: no usable C_GetFunctionList\n", path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	FILE *script = stdin;
	char line[2048];
	int failures = 0, lineno = 0;

	if (argc < 2 || argc > 3 || strcmp(argv[1], "--help") == 0) {
		usage();
		return 2;
	}
	if (load_module(argv[1]) < 0)
		return 2;
	if (argc == 3) {
		script = fopen(argv[2], "r");
		if (!script) {
			fprintf(stderr, "sim-client: %s: %s\n", argv[2], strerror(errno));
			return 2;
		}
	}

	/* Unbuffered enough for the cache test, where two clients interleave. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), script)) {
		char *words[MAX_WORDS], *arrow, value[512], shown[512];
		const char *result, *want = "CKR_OK", *want_value = NULL;
		char *expect[3];
		int n, ne = 0, ok;

		lineno++;
		n = 0;
		while (line[n] == ' ' || line[n] == '\t')
			n++;
		if (strncmp(line + n, "echo", 4) == 0 && (line[n + 4] == ' ' || line[n + 4] == '\n')) {
			/* Free text, printed as it is. */
			line[strcspn(line, "\r\n")] = '\0';
			printf("   # %s\n", line + n + 4 + (line[n + 4] == ' '));
			continue;
		}
		arrow = strstr(line, "=>");
		if (arrow) {
			*arrow = '\0';
			ne = split(arrow + 2, expect, 3);
			if (ne < 1 || ne > 2) {
				fprintf(stderr, "sim-client: line %d: '=> RESULT [VALUE]' expected\n",
				        lineno);
				return 2;
			}
			want = expect[0];
			if (ne == 2)
				want_value = expect[1];
		}
		n = split(line, words, MAX_WORDS);
		if (n < 0) {
			fprintf(stderr, "sim-client: line %d: too many words or an open quote\n",
			        lineno);
			return 2;
		}
		if (n == 0 || words[0][0] == '#')
			continue;
		if (run_step(words, n, &result, value, sizeof(value), shown, sizeof(shown)) < 0) {
			fprintf(stderr, "sim-client: line %d: bad step\n", lineno);
			return 2;
		}
		ok = strcmp(result, want) == 0 && (!want_value || value_matches(want_value, value));
		if (!ok)
			failures++;
		printf("%s %s -> %s%s%s", ok ? "ok  " : "FAIL", shown, result, value[0] ? " " : "",
		       value);
		if (!ok)
			printf("   (expected %s%s%s)", want, want_value ? " " : "",
			       want_value ? want_value : "");
		printf("\n");
	}
	if (script != stdin)
		fclose(script);
	if (initialized)
		p11->C_Finalize(NULL);
	return failures ? 1 : 0;
}
