/*
 * The Windows test client (issue 6): loads p11shim.dll as an encoder does
 * and drives it in front of the Windows personal-sim, under Wine.
 *
 *   client.exe DIR            every test; prints TAP, exits 1 on a failure
 *   client.exe --crash DIR    (child of the crash test) dies inside C_Sign
 *
 * DIR (a Windows path, with a space in it) holds what tests/win32/test-win32.sh
 * put there: p11shim.dll, sim-5.7.1\personal.dll and sim-5.7.2\personal.dll
 * (version resources 5.7.1 and 5.7.2), crash\crashmod.dll, sim.ini and the
 * Personal.cfg it names. The Windows layout of the middleware's own files
 * (C:\Program Files (x86)\Personal\config\Personal.cfg with caching off and
 * a SkipReader line, iD2ppa.cfg naming a PIN-encryption certificate) is in
 * the Wine prefix; the shim checks it at every C_Initialize by default.
 *
 * Each test writes a shim configuration to DIR\conf\NAME.conf (paths with
 * '/' and with '\', spaces, no quotes), points P11SHIM_CONF at it, starts
 * the sim from a fresh state file, and runs C_Initialize ... C_Finalize.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <io.h>
#include <windows.h>

#include "p11-pkcs11.h"
#include "p11shim.h"

/* The layout Cryptoki fixes on Windows (packed to 1): as the shim asserts. */
_Static_assert(sizeof(CK_INFO) == 72, "CK_INFO is 72 bytes on Windows");

/* The key that names the backend for this build's bitness (p11_backend_key),
 * and the other bitness, whose DLL the shim must refuse. */
#if defined(_WIN64)
#define KEY "PKCS11LibraryWindows64"
#define OTHER_ARCH "PE 32-bit i386"
#else
#define KEY "PKCS11LibraryWindows32"
#define OTHER_ARCH "PE 64-bit x86-64"
#endif

#define PIN "246813"
#define PUK "97531864"
#define OPIN "8642097"
#define NEW_PUK "13572468"

/* Slots of sim.ini (tests/personal-sim/fixtures/basic.ini): 2N+1. */
#define SLOT_COSMO82 1
#define SLOT_VSC 3
#define SLOT_HELLO 5
#define SLOT_EMPTY 7
#define SLOT_CARDOS 9
#define SLOT_COSMO7 11

static char dir[MAX_PATH];     /* DIR with '\' */
static char dir_fwd[MAX_PATH]; /* DIR with '/' */
static CK_FUNCTION_LIST_PTR f;
static HMODULE shim;
static int n_tests, n_failed;

static void result(int ok, const char *fmt, ...)
{
	va_list ap;

	n_tests++;
	if (!ok)
		n_failed++;
	printf("%s %d - ", ok ? "ok" : "not ok", n_tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

#define CHECK(cond, ...) result((cond) ? 1 : 0, __VA_ARGS__)
#define CHECK_RV(call, want, what)                                                        \
	do {                                                                              \
		CK_RV rv_ = (call);                                                       \
		result(rv_ == (want), "%s: 0x%lx (want 0x%lx)", what, (unsigned long)rv_, \
		       (unsigned long)(want));                                            \
	} while (0)

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* ---- files ---- */

static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			if (len != NULL)
				*len = (size_t)n;
		}
	}
	fclose(fp);
	return buf;
}

static void spew(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");

	if (fp == NULL) {
		diag("cannot write %s", path);
		return;
	}
	fputs(text, fp);
	fclose(fp);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p = hay;

	while (hay != NULL && (p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* stderr of this process (and so of the shim: one msvcrt) into a file. */
static int saved_stderr = -1;
static char capture_path[MAX_PATH];

static void capture_begin(void)
{
	snprintf(capture_path, sizeof(capture_path), "%s\\stderr.txt", dir);
	fflush(stderr);
	saved_stderr = _dup(2);
	if (freopen(capture_path, "w", stderr) == NULL)
		diag("cannot capture stderr");
}

static char *capture_end(void)
{
	fflush(stderr);
	_dup2(saved_stderr, 2);
	_close(saved_stderr);
	saved_stderr = -1;
	return slurp(capture_path, NULL);
}

/* ---- one shim run ---- */

static void setenv_(const char *name, const char *value)
{
	_putenv_s(name, value != NULL ? value : "");
}

/*
 * Writes DIR\conf\NAME.conf from the lines given (printf format), points the
 * shim at it and the sim at a fresh state.
 */
static void configure(const char *name, const char *fmt, ...)
{
	char path[MAX_PATH], state[MAX_PATH], text[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s\\conf\\%s.conf", dir, name);
	spew(path, text);
	setenv_("P11SHIM_CONF", path);
	snprintf(state, sizeof(state), "%s\\state\\%s.state", dir, name);
	DeleteFileA(state);
	setenv_("PERSONAL_SIM_STATE", state);
}

static CK_RV init(void)
{
	CK_C_INITIALIZE_ARGS args;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK; /* as Java passes it */
	return f->C_Initialize(&args);
}

static CK_SESSION_HANDLE open_rw(CK_SLOT_ID slot)
{
	CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
	CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);

	if (rv != CKR_OK)
		diag("C_OpenSession(%lu): 0x%lx", (unsigned long)slot, (unsigned long)rv);
	return h;
}

static CK_RV login(CK_SESSION_HANDLE h, CK_USER_TYPE u, const char *secret)
{
	return f->C_Login(h, u, (CK_UTF8CHAR_PTR)secret, (CK_ULONG)strlen(secret));
}

static bool padded_is(const unsigned char *field, size_t n, const char *want)
{
	size_t len = strlen(want), i;

	if (len > n || memcmp(field, want, len) != 0)
		return false;
	for (i = len; i < n; i++)
		if (field[i] != ' ')
			return false;
	return true;
}

/* The backend line of a configuration: the sim DLL of that version. */
static const char *sim_path(const char *version, char *buf, size_t len)
{
	/* With '/', as the guide writes the path, and a space in it. */
	snprintf(buf, len, "%s/sim-%s/personal.dll", dir_fwd, version);
	return buf;
}

/* ---- tests ---- */

static const char *const function_names[] = {
#define P11FN(name, ...) "C_" #name,
#define P11FN_SPECIAL(name, ...) "C_" #name,
#define P11FN_V3 P11FN
#define P11FN_SPECIAL_V3 P11FN
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
#undef P11FN_SPECIAL_V3
};

static void test_exports(void)
{
	CK_C_GetFunctionList get;
	size_t i, missing = 0;

	for (i = 0; i < sizeof(function_names) / sizeof(function_names[0]); i++)
		if (GetProcAddress(shim, function_names[i]) == NULL) {
			diag("p11shim.dll does not export %s", function_names[i]);
			missing++;
		}
	CHECK(missing == 0, "p11shim.dll exports all %u C_* functions by plain name",
	      (unsigned)(sizeof(function_names) / sizeof(function_names[0])));
	get = (CK_C_GetFunctionList)(void (*)(void))GetProcAddress(shim, "C_GetFunctionList");
	CHECK(get != NULL && get(&f) == CKR_OK && f != NULL, "C_GetFunctionList");
	CHECK(f != NULL && f->version.major == 2 && f->version.minor == 40,
	      "function list version 2.40");
	CHECK(f != NULL && (void *)f->C_Login == (void *)GetProcAddress(shim, "C_Login"),
	      "the list's C_Login is the exported one");
}

static void test_own_version(void)
{
	char path[MAX_PATH], *v = NULL;
	DWORD h = 0, size;
	VS_FIXEDFILEINFO *fi = NULL;
	UINT n = 0;
	void *data;
	char want[64];

	GetModuleFileNameA(shim, path, sizeof(path));
	size = GetFileVersionInfoSizeA(path, &h);
	data = size ? malloc(size) : NULL;
	if (data != NULL && GetFileVersionInfoA(path, 0, size, data) &&
	    VerQueryValueA(data, "\\", (void **)&fi, &n) && fi != NULL) {
		snprintf(want, sizeof(want), "%u.%u.%u", HIWORD(fi->dwFileVersionMS),
		         LOWORD(fi->dwFileVersionMS), HIWORD(fi->dwFileVersionLS));
		CHECK(strcmp(want, PACKAGE_VERSION) == 0, "p11shim.dll file version %s is %s", want,
		      PACKAGE_VERSION);
		if (!VerQueryValueA(data, "\\StringFileInfo\\040904B0\\FileVersion", (void **)&v, &n))
			v = NULL;
		CHECK(v != NULL && strcmp(v, PACKAGE_VERSION) == 0, "FileVersion string %s",
		      v ? v : "(none)");
	} else {
		CHECK(0, "p11shim.dll has a version resource");
	}
	free(data);
}

static void test_forwarding(void)
{
	char lib[MAX_PATH];
	CK_INFO info;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_TOKEN_INFO ti;
	CK_SESSION_HANDLE h;
	CK_BYTE rnd[16];

	/* No SkipReader at all: the default patterns cleared, Personal.cfg's not read. */
	configure("forward",
	          "[backend]\n" KEY " = %s\n[readers]\nSkipReader =\n"
	          "ReadPersonalSkipReader = false\n",
	          sim_path("5.7.2", lib, sizeof(lib)));
	CHECK_RV(init(), CKR_OK, "forwarding: C_Initialize");
	CHECK_RV(init(), CKR_CRYPTOKI_ALREADY_INITIALIZED, "forwarding: second C_Initialize");
	CHECK_RV(f->C_GetInfo(&info), CKR_OK, "C_GetInfo");
	CHECK(padded_is(info.manufacturerID, 32, "Nexus Group") &&
	              padded_is(info.libraryDescription, 32, "Personal 5.7.2"),
	      "CK_INFO comes from the sim: '%.32s' '%.32s'", info.manufacturerID,
	      info.libraryDescription);
	CHECK_RV(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK, "C_GetSlotList");
	CHECK(n == 6 && slots[0] == 1 && slots[5] == 11, "all 6 sim slots without SkipReader (%lu)",
	      (unsigned long)n);
	CHECK_RV(f->C_GetTokenInfo(SLOT_COSMO82, &ti), CKR_OK, "C_GetTokenInfo(1)");
	CHECK(padded_is(ti.model, 16, "Cosmo 8.2"), "token model '%.16s'", ti.model);
	/* The pitfall the readers layer exists for: */
	CHECK_RV(f->C_GetTokenInfo(SLOT_VSC, &ti), CKR_GENERAL_ERROR,
	         "the virtual reader answers CKR_GENERAL_ERROR when not skipped");
	h = open_rw(SLOT_COSMO82);
	CHECK_RV(login(h, CKU_USER, PIN), CKR_OK, "C_Login CKU_USER");
	CHECK_RV(f->C_GenerateRandom(h, rnd, sizeof(rnd)), CKR_OK, "C_GenerateRandom");
	CHECK_RV(f->C_Logout(h), CKR_OK, "C_Logout");
	CHECK_RV(f->C_CloseSession(h), CKR_OK, "C_CloseSession");
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "C_Finalize");
	CHECK_RV(f->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetInfo after C_Finalize");
}

static void test_skip_reader(void)
{
	char lib[MAX_PATH];
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_SLOT_INFO si;

	/* The shim's list cleared, then one pattern; the Windows Hello line comes
	 * from the middleware's Personal.cfg in the prefix (ReadPersonalSkipReader). */
	configure("skip",
	          "[backend]\n" KEY " = %s\n[readers]\nSkipReader =\n"
	          "SkipReader = Microsoft Virtual Smart Card .*\n",
	          sim_path("5.7.2", lib, sizeof(lib)));
	CHECK_RV(init(), CKR_OK, "skip: C_Initialize");
	CHECK_RV(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK, "skip: C_GetSlotList");
	CHECK(n == 4 && slots[0] == 1 && slots[1] == 7 && slots[2] == 9 && slots[3] == 11,
	      "virtual readers hidden by the shim's and Personal.cfg's SkipReader: %lu slots",
	      (unsigned long)n);
	n = 16;
	CHECK_RV(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK, "skip: C_GetSlotList(tokenPresent)");
	CHECK(n == 3 && slots[0] == 1 && slots[1] == 9 && slots[2] == 11,
	      "with a token: 1, 9, 11 (%lu)", (unsigned long)n);
	CHECK_RV(f->C_GetSlotInfo(SLOT_VSC, &si), CKR_SLOT_ID_INVALID, "hidden slot 3 is invalid");
	CHECK_RV(f->C_GetSlotInfo(SLOT_HELLO, &si), CKR_SLOT_ID_INVALID, "hidden slot 5 is invalid");
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "skip: C_Finalize");
}

static void test_so_mapping(void)
{
	char lib[MAX_PATH];
	CK_SESSION_HANDLE h;

	configure("so-puk", "[backend]\n" KEY " = %s\n", sim_path("5.7.2", lib, sizeof(lib)));
	CHECK_RV(init(), CKR_OK, "so: C_Initialize");
	h = open_rw(SLOT_COSMO82);
	CHECK_RV(login(h, CKU_SO, PUK), CKR_OK,
	         "CKU_SO with the PUK (OperatorPinIsSOCredential false)");
	f->C_Logout(h);
	CHECK_RV(login(h, CKU_P11SHIM_PUK, PUK), CKR_OK, "CKU_P11SHIM_PUK passes as CKU_SO");
	f->C_Logout(h);
	CHECK_RV(login(h, CKU_P11SHIM_OPERATOR_PIN, OPIN), CKR_OK,
	         "CKU_P11SHIM_OPERATOR_PIN passes as OtherAdminUserType");
	f->C_Logout(h);
	CHECK_RV(login(h, CKU_SO, OPIN), CKR_PIN_INCORRECT,
	         "CKU_SO with the operator PIN is wrong here");
	f->C_CloseSession(h);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "so: C_Finalize");

	/* A mapped field, read at C_Login: one installation, both card profiles. */
	configure("so-opin",
	          "[backend]\n" KEY " = %s\n[login]\n"
	          "OperatorPinIsSOCredential = ${P11SHIM_TEST_OPIN_IS_SO}\n",
	          sim_path("5.7.2", lib, sizeof(lib)));
	setenv_("P11SHIM_TEST_OPIN_IS_SO", "true");
	CHECK_RV(init(), CKR_OK, "so (mapped field): C_Initialize");
	h = open_rw(SLOT_CARDOS);
	CHECK_RV(login(h, CKU_SO, OPIN), CKR_OK,
	         "CKU_SO with the operator PIN on an operator-pin card");
	f->C_Logout(h);
	CHECK_RV(login(h, CKU_P11SHIM_PUK, PUK), CKR_OK,
	         "CKU_P11SHIM_PUK passes as OtherAdminUserType");
	f->C_Logout(h);
	f->C_CloseSession(h);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "so (mapped field): C_Finalize");
	setenv_("P11SHIM_TEST_OPIN_IS_SO", NULL);
}

static CK_RV change_puk(CK_SLOT_ID slot, CK_USER_TYPE as, const char *oldp, const char *newp)
{
	CK_SESSION_HANDLE h = open_rw(slot);
	CK_RV rv = login(h, as, oldp);

	if (rv == CKR_OK)
		rv = f->C_SetPIN(h, (CK_UTF8CHAR_PTR)oldp, (CK_ULONG)strlen(oldp),
		                 (CK_UTF8CHAR_PTR)newp, (CK_ULONG)strlen(newp));
	f->C_CloseSession(h);
	return rv;
}

static void test_puk_gate(void)
{
	char lib[MAX_PATH], trace[MAX_PATH], *err, *t;
	CK_SESSION_HANDLE h;

	/*
	 * sim-5.7.1: its version resource says 5.7.1, its CK_INFO says
	 * "Personal 5.7.2" (sim.ini). The resource comes first (issue 4), so
	 * the shim refuses before the card is touched.
	 */
	snprintf(trace, sizeof(trace), "%s\\trace\\puk-571.jsonl", dir);
	configure("puk-571", "[backend]\n" KEY " = %s\n[trace]\nFile = %s\n",
	          sim_path("5.7.1", lib, sizeof(lib)), trace);
	CHECK_RV(init(), CKR_OK, "puk 5.7.1: C_Initialize");
	capture_begin();
	CHECK_RV(change_puk(SLOT_COSMO82, CKU_SO, PUK, NEW_PUK), CKR_FUNCTION_NOT_SUPPORTED,
	         "PUK change refused with Personal 5.7.1 (from the version resource)");
	err = capture_end();
	CHECK(err != NULL && strstr(err, "5.7.1") != NULL, "the refusal names 5.7.1: %s",
	      err ? strtok(err, "\r\n") : "(nothing)");
	free(err);
	h = open_rw(SLOT_COSMO82);
	CHECK_RV(login(h, CKU_SO, PUK), CKR_OK, "the card was not touched: the old PUK still works");
	f->C_CloseSession(h);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "puk 5.7.1: C_Finalize");
	t = slurp(trace, NULL);
	CHECK(t != NULL && strstr(t, "version resource") != NULL,
	      "the trace says the version came from the DLL's file version resource");
	free(t);

	/* sim-5.7.2: allowed on Cosmo 8.2 (and the sim, 5.7.2 too, changes it). */
	configure("puk-572", "[backend]\n" KEY " = %s\n", sim_path("5.7.2", lib, sizeof(lib)));
	CHECK_RV(init(), CKR_OK, "puk 5.7.2: C_Initialize");
	CHECK_RV(change_puk(SLOT_COSMO82, CKU_SO, PUK, NEW_PUK), CKR_OK,
	         "PUK change allowed with Personal 5.7.2 on Cosmo 8.2");
	h = open_rw(SLOT_COSMO82);
	CHECK_RV(login(h, CKU_SO, NEW_PUK), CKR_OK, "the new PUK works");
	f->C_CloseSession(h);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "puk 5.7.2: C_Finalize");

	/* CardOS 5.3, an operator-pin card: the PUK is the other admin secret. */
	configure("puk-cardos",
	          "[backend]\n" KEY " = %s\n[login]\n"
	          "OperatorPinIsSOCredential = true\n",
	          sim_path("5.7.2", lib, sizeof(lib)));
	CHECK_RV(init(), CKR_OK, "puk CardOS: C_Initialize");
	capture_begin();
	CHECK_RV(change_puk(SLOT_CARDOS, CKU_P11SHIM_PUK, PUK, NEW_PUK), CKR_FUNCTION_NOT_SUPPORTED,
	         "PUK change refused on CardOS 5.3 (not in PukChangeModels)");
	err = capture_end();
	CHECK(err != NULL && strstr(err, "CardOS 5.3") != NULL, "the refusal names the model: %s",
	      err ? strtok(err, "\r\n") : "(nothing)");
	free(err);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "puk CardOS: C_Finalize");
}

static void test_serial(void)
{
	char lib[MAX_PATH], state[MAX_PATH], *s;
	CK_TOKEN_INFO ti;
	unsigned char label[32];

	memset(label, ' ', sizeof(label));
	memcpy(label, "encoded", 7);
	snprintf(state, sizeof(state), "%s\\state\\range.state", dir);
	DeleteFileA(state);
	configure("serial",
	          "[backend]\n" KEY " = %s\n[serial]\nInitToken = true\n"
	          "NumberRange = 000100-000199\nNumberRangeState = %s\n",
	          sim_path("5.7.2", lib, sizeof(lib)), state);
	CHECK_RV(init(), CKR_OK, "serial: C_Initialize");
	CHECK_RV(f->C_InitToken(SLOT_COSMO7, (CK_UTF8CHAR_PTR)PUK, 8, label), CKR_OK,
	         "C_InitToken with a number range");
	CHECK_RV(f->C_GetTokenInfo(SLOT_COSMO7, &ti), CKR_OK, "serial: C_GetTokenInfo");
	CHECK(padded_is(ti.serialNumber, 16, "000100"),
	      "serialNumber is the first of the range: '%.16s'", ti.serialNumber);
	CHECK_RV(f->C_InitToken(SLOT_COSMO7, (CK_UTF8CHAR_PTR)PUK, 8, label), CKR_OK,
	         "C_InitToken again");
	CHECK_RV(f->C_GetTokenInfo(SLOT_COSMO7, &ti), CKR_OK, "serial: C_GetTokenInfo again");
	CHECK(padded_is(ti.serialNumber, 16, "000101"), "then the next: '%.16s'", ti.serialNumber);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "serial: C_Finalize");
	s = slurp(state, NULL);
	CHECK(s != NULL && strstr(s, "last 000101\n") != NULL,
	      "the range state (LockFileEx, MoveFileEx) says last 000101");
	free(s);

	configure("serial-field",
	          "[backend]\n" KEY " = %s\n[serial]\nInitToken = true\n"
	          "CMSCardSerialNumber = ${P11SHIM_TEST_SERIAL}\n",
	          sim_path("5.7.2", lib, sizeof(lib)));
	setenv_("P11SHIM_TEST_SERIAL", "CS-4711");
	CHECK_RV(init(), CKR_OK, "serial field: C_Initialize");
	CHECK_RV(f->C_InitToken(SLOT_COSMO7, (CK_UTF8CHAR_PTR)PUK, 8, label), CKR_OK,
	         "C_InitToken with CMSCardSerialNumber");
	CHECK_RV(f->C_GetTokenInfo(SLOT_COSMO7, &ti), CKR_OK, "serial field: C_GetTokenInfo");
	CHECK(padded_is(ti.serialNumber, 16, "CS-4711"),
	      "serialNumber from the mapped field: '%.16s'", ti.serialNumber);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "serial field: C_Finalize");
	setenv_("P11SHIM_TEST_SERIAL", NULL);
}

static CK_ULONG find_label(CK_SESSION_HANDLE h, const char *label, CK_OBJECT_HANDLE *out)
{
	CK_ATTRIBUTE t = { CKA_LABEL, (void *)label, (CK_ULONG)strlen(label) };
	CK_OBJECT_HANDLE found[8];
	CK_ULONG n = 0;

	if (f->C_FindObjectsInit(h, &t, 1) != CKR_OK)
		return 99;
	f->C_FindObjects(h, found, 8, &n);
	f->C_FindObjectsFinal(h);
	if (n > 0 && out != NULL)
		*out = found[0];
	return n;
}

static void test_card_eraser(void)
{
	char lib[MAX_PATH];
	CK_OBJECT_CLASS cls = CKO_DATA;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_TOKEN, &yes, sizeof(yes) },
		{ CKA_PRIVATE, &no, sizeof(no) },
		{ CKA_LABEL, (void *)"to be erased", 12 },
	};
	CK_OBJECT_HANDLE obj = 0, eraser = 0;
	CK_SESSION_HANDLE h;

	configure("eraser", "[backend]\n" KEY " = %s\n[eraser]\nCardEraser = true\n",
	          sim_path("5.7.2", lib, sizeof(lib)));
	CHECK_RV(init(), CKR_OK, "eraser: C_Initialize");
	h = open_rw(SLOT_CARDOS);
	CHECK(find_label(h, P11SHIM_CARD_ERASER_LABEL, NULL) == 1,
	      "CardOS: one Card Eraser (the native one, never two)");
	f->C_CloseSession(h);
	h = open_rw(SLOT_COSMO7);
	CHECK_RV(f->C_CreateObject(h, t, 4, &obj), CKR_OK, "a token data object on Cosmo 7");
	CHECK(find_label(h, P11SHIM_CARD_ERASER_LABEL, &eraser) == 1,
	      "Cosmo 7: the shim's virtual Card Eraser");
	CHECK_RV(f->C_DestroyObject(h, eraser), CKR_OK,
	         "destroying the Card Eraser erases the token");
	CHECK(find_label(h, "to be erased", NULL) == 0, "the data object is gone");
	f->C_CloseSession(h);
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "eraser: C_Finalize");
}

typedef struct {
	int calls;
	int failed;
} worker;

static DWORD WINAPI thread_calls(void *arg)
{
	worker *w = arg;
	CK_INFO info;
	int i;

	for (i = 0; i < w->calls; i++)
		if (f->C_GetInfo(&info) != CKR_OK)
			w->failed++;
	return 0;
}

static void test_trace(void)
{
	char lib[MAX_PATH], file[MAX_PATH], pattern[MAX_PATH], logdir[MAX_PATH], found[MAX_PATH];
	char *t;
	size_t len;
	HANDLE th[4];
	worker w[4];
	CK_SESSION_HANDLE h;
	WIN32_FIND_DATAA fd;
	HANDLE fh;
	int i, failed = 0;

	/* '\' separators, a space, %p: C:\...\trace dir\trace-PID.jsonl */
	snprintf(file, sizeof(file), "%s\\trace dir\\trace-%lu.jsonl", dir,
	         (unsigned long)GetCurrentProcessId());
	snprintf(pattern, sizeof(pattern), "%s\\trace dir\\trace-%%p.jsonl", dir);
	snprintf(logdir, sizeof(logdir), "%s\\trace dir", dir);
	CreateDirectoryA(logdir, NULL);
	DeleteFileA(file);
	configure("trace", "[backend]\n" KEY " = %s\n[trace]\nFile = %s\n",
	          sim_path("5.7.2", lib, sizeof(lib)), pattern);
	CHECK_RV(init(), CKR_OK, "trace: C_Initialize");
	h = open_rw(SLOT_COSMO82);
	CHECK_RV(login(h, CKU_USER, PIN), CKR_OK, "trace: C_Login");
	f->C_Logout(h);
	f->C_CloseSession(h);
	for (i = 0; i < 4; i++) {
		w[i].calls = 250;
		w[i].failed = 0;
		th[i] = CreateThread(NULL, 0, thread_calls, &w[i], 0, NULL);
	}
	WaitForMultipleObjects(4, th, TRUE, INFINITE);
	for (i = 0; i < 4; i++) {
		CloseHandle(th[i]);
		failed += w[i].failed;
	}
	CHECK(failed == 0, "4 threads x 250 C_GetInfo");
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "trace: C_Finalize");
	t = slurp(file, &len);
	CHECK(t != NULL, "the trace file %s exists", file);
	if (t == NULL)
		return;
	CHECK(count(t, "\"fn\":\"C_GetInfo\"") == 1000,
	      "1000 C_GetInfo records, none lost or torn (%u)",
	      (unsigned)count(t, "\"fn\":\"C_GetInfo\""));
	CHECK(count(t, "\n{\"ts\":\"") + 1 == count(t, "\n"), "every line is one whole record");
	CHECK(strstr(t, "\"fn\":\"C_Login\"") != NULL && strstr(t, "<redacted 6 bytes>") != NULL,
	      "C_Login is traced, its PIN redacted");
	CHECK(strstr(t, PIN) == NULL, "the PIN is nowhere in the trace");
	{
		char tid[32];
		snprintf(tid, sizeof(tid), "\"tid\":%lu,", (unsigned long)GetCurrentThreadId());
		CHECK(strstr(t, tid) != NULL, "records carry the Windows thread id");
	}
	free(t);

	/* Tracing on without a File: %APPDATA%\p11shim\log\p11shim-PID.jsonl */
	configure("trace-default", "[backend]\n" KEY " = %s\n[trace]\nEnable = true\n",
	          sim_path("5.7.2", lib, sizeof(lib)));
	CHECK_RV(init(), CKR_OK, "default trace: C_Initialize");
	CHECK_RV(f->C_Finalize(NULL), CKR_OK, "default trace: C_Finalize");
	snprintf(logdir, sizeof(logdir), "%s\\p11shim\\log\\p11shim-%lu.jsonl", getenv("APPDATA"),
	         (unsigned long)GetCurrentProcessId());
	fh = FindFirstFileA(logdir, &fd);
	snprintf(found, sizeof(found), "%s", fh != INVALID_HANDLE_VALUE ? fd.cFileName : "(none)");
	if (fh != INVALID_HANDLE_VALUE)
		FindClose(fh);
	CHECK(fh != INVALID_HANDLE_VALUE, "the default trace is %s", logdir);
}

/* Copies sim-5.7.2\personal.dll with its PE header saying AMD64 (PE32+). */
/* A copy of the sim with the other bitness's PE header: COFF Machine and the
 * optional header's magic (PE32 0x10b, PE32+ 0x20b) are what the shim reads. */
static bool make_other_arch_copy(const char *to)
{
	char from[MAX_PATH];
	size_t len;
	unsigned char *b;
	unsigned long off;
	FILE *fp;
	bool ok;

	snprintf(from, sizeof(from), "%s\\sim-5.7.2\\personal.dll", dir);
	b = (unsigned char *)slurp(from, &len);
	if (b == NULL || len < 0x200)
		return false;
	off = (unsigned long)b[0x3c] | (unsigned long)b[0x3d] << 8;
#if defined(_WIN64)
	b[off + 4] = 0x4c;
	b[off + 5] = 0x01;
	b[off + 24] = 0x0b;
	b[off + 25] = 0x01;
#else
	b[off + 4] = 0x64;
	b[off + 5] = 0x86;
	b[off + 24] = 0x0b;
	b[off + 25] = 0x02;
#endif
	fp = fopen(to, "wb");
	ok = fp != NULL && fwrite(b, 1, len, fp) == len;
	if (fp != NULL)
		fclose(fp);
	free(b);
	return ok;
}

static void expect_init_error(const char *name, const char *library, const char *want1,
                              const char *want2)
{
	char *err;
	CK_RV rv;

	configure(name, "[backend]\n" KEY " = %s\n", library);
	capture_begin();
	rv = init();
	err = capture_end();
	CHECK(rv == CKR_GENERAL_ERROR, "%s: C_Initialize fails with CKR_GENERAL_ERROR (0x%lx)",
	      name, (unsigned long)rv);
	CHECK(err != NULL && strstr(err, want1) != NULL &&
	              (want2 == NULL || strstr(err, want2) != NULL),
	      "%s: %s", name, err != NULL ? strtok(err, "\r\n") : "(no message)");
	free(err);
	if (rv == CKR_OK)
		f->C_Finalize(NULL);
}

static void test_backend_checks(void)
{
	char x64[MAX_PATH], elf[MAX_PATH], cwdlib[MAX_PATH];

	snprintf(x64, sizeof(x64), "%s\\x64\\personal.dll", dir);
	CHECK(make_other_arch_copy(x64), "a personal.dll of the other bitness for the test");
	expect_init_error("wrong-arch", x64, "wrong architecture: " OTHER_ARCH, KEY);
	snprintf(elf, sizeof(elf), "%s\\x64\\libpersonal.so", dir);
	{
		/* An i386 ELF header (e_machine 3), as a Linux build of the module has. */
		static const unsigned char hdr[64] = { 0x7f, 'E',      'L', 'F', 1, 1, 1,
			                               0,    [16] = 3, 0,   3,   0, 1 };
		FILE *fp = fopen(elf, "wb");
		if (fp != NULL) {
			fwrite(hdr, 1, sizeof(hdr), fp);
			fclose(fp);
		}
	}
	expect_init_error("elf", elf, "ELF (Linux)", NULL);
	snprintf(cwdlib, sizeof(cwdlib), "%s\\nothere\\personal.dll", dir);
	expect_init_error("missing", cwdlib, "not found", NULL);
	/* A bare name is never looked for in the current folder (DLL planting). */
	SetCurrentDirectoryA(dir);
	expect_init_error("bare-name", "sim-5.7.2/personal.dll", "not a full path", NULL);
}

static void test_user_cache_override(void)
{
	char lib[MAX_PATH], appdata[MAX_PATH], old[MAX_PATH], *err;
	CK_RV rv;

	/* %APPDATA%\Personal\config\Personal.cfg wins over the system file:
	 * caching on there is refused (the guide: outdated data during encoding). */
	snprintf(old, sizeof(old), "%s", getenv("APPDATA") ? getenv("APPDATA") : "");
	snprintf(appdata, sizeof(appdata), "%s\\appdata-cache-on", dir);
	setenv_("APPDATA", appdata);
	configure("cache-user", "[backend]\n" KEY " = %s\n", sim_path("5.7.2", lib, sizeof(lib)));
	capture_begin();
	rv = init();
	err = capture_end();
	CHECK(rv == CKR_GENERAL_ERROR,
	      "caching on in %%APPDATA%%'s Personal.cfg: C_Initialize refused (0x%lx)",
	      (unsigned long)rv);
	CHECK(err != NULL && strstr(err, "appdata-cache-on") != NULL &&
	              strstr(err, "CacheValidity") != NULL,
	      "the refusal names the per-user file: %s", err ? strtok(err, "\r\n") : "(none)");
	free(err);
	if (rv == CKR_OK)
		f->C_Finalize(NULL);
	setenv_("APPDATA", old);
}

static LONG WINAPI die_quietly(EXCEPTION_POINTERS *ep)
{
	(void)ep;
	return EXCEPTION_EXECUTE_HANDLER; /* ends the process with the exception code */
}

/* The child: dies inside C_Sign of crashmod.dll; the trace must show the call. */
static int crash_child(void)
{
	char lib[MAX_PATH], trace[MAX_PATH];
	CK_SESSION_HANDLE h = 0;
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	CK_BYTE sig[256];
	CK_ULONG n = sizeof(sig);

	snprintf(lib, sizeof(lib), "%s/crash/crashmod.dll", dir_fwd);
	snprintf(trace, sizeof(trace), "%s\\trace\\crash.jsonl", dir);
	configure("crash", "[backend]\n" KEY " = %s\n[trace]\nFile = %s\n", lib, trace);
	/* No error box, no debugger (Wine starts winedbg): the crash is expected.
	 * The shim's vectored handler runs before this filter. */
	SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
	SetUnhandledExceptionFilter(die_quietly);
	if (init() != CKR_OK || f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h) != CKR_OK ||
	    f->C_SignInit(h, &m, 1) != CKR_OK)
		return 3;
	f->C_Sign(h, (CK_BYTE_PTR) "data", 4, sig, &n);
	return 4; /* not reached */
}

static void test_crash(const char *self)
{
	char cmd[3 * MAX_PATH], trace[MAX_PATH], *t;
	STARTUPINFOA si;
	PROCESS_INFORMATION pi;
	DWORD code = 0;

	snprintf(trace, sizeof(trace), "%s\\trace\\crash.jsonl", dir);
	DeleteFileA(trace);
	snprintf(cmd, sizeof(cmd), "\"%s\" --crash \"%s\"", self, dir);
	memset(&si, 0, sizeof(si));
	si.cb = sizeof(si);
	if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
		CHECK(0, "crash: start the child");
		return;
	}
	WaitForSingleObject(pi.hProcess, 60000);
	GetExitCodeProcess(pi.hProcess, &code);
	CloseHandle(pi.hProcess);
	CloseHandle(pi.hThread);
	CHECK(code == 0xC0000005, "crash: the child died of an access violation (0x%lx)",
	      (unsigned long)code);
	t = slurp(trace, NULL);
	CHECK(t != NULL && strstr(t, "\"fn\":\"C_Sign\"") != NULL &&
	              strstr(t, "\"crash\":\"EXCEPTION_ACCESS_VIOLATION\"") != NULL,
	      "the trace shows the C_Sign that crashed (vectored exception handler)");
	free(t);
}

int main(int argc, char **argv)
{
	char path[MAX_PATH], *p;
	const char *arg;
	bool child;
	int i;

	child = argc == 3 && strcmp(argv[1], "--crash") == 0;
	if (argc != 2 && !child) {
		fprintf(stderr, "usage: client.exe DIR\n");
		return 2;
	}
	arg = argv[argc - 1];
	if (GetFullPathNameA(arg, sizeof(dir), dir, NULL) == 0)
		return 2;
	snprintf(dir_fwd, sizeof(dir_fwd), "%s", dir);
	for (p = dir_fwd; *p != '\0'; p++)
		if (*p == '\\')
			*p = '/';
	for (i = 0; i < 3; i++) {
		static const char *const sub[] = { "conf", "state", "trace" };
		snprintf(path, sizeof(path), "%s\\%s", dir, sub[i]);
		CreateDirectoryA(path, NULL);
	}
	snprintf(path, sizeof(path), "%s\\x64", dir);
	CreateDirectoryA(path, NULL);
	snprintf(path, sizeof(path), "%s\\sim.ini", dir);
	setenv_("PERSONAL_SIM_CONF", path);
	setenv_("P11SHIM_LIBRARY", NULL);
	setenv_("P11SHIM_TRACE", NULL);

	/* As an encoder loads it: the full path, its folder for its dependencies. */
	snprintf(path, sizeof(path), "%s\\p11shim.dll", dir);
	shim = LoadLibraryExA(path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
	if (shim == NULL) {
		printf("Bail out! cannot load %s: error %lu\n", path, (unsigned long)GetLastError());
		return 1;
	}
	if (child) {
		CK_C_GetFunctionList get =
		        (CK_C_GetFunctionList)(void (*)(void))GetProcAddress(shim,
		                                                             "C_GetFunctionList");
		if (get == NULL || get(&f) != CKR_OK)
			return 3;
		return crash_child();
	}
	test_exports();
	if (f == NULL) {
		printf("Bail out! no function list\n");
		return 1;
	}
	test_own_version();
	test_forwarding();
	test_skip_reader();
	test_so_mapping();
	test_puk_gate();
	test_serial();
	test_card_eraser();
	test_trace();
	test_user_cache_override();
	test_backend_checks();
	GetModuleFileNameA(NULL, path, sizeof(path));
	test_crash(path);
	printf("1..%d\n", n_tests);
	if (n_failed)
		printf("# %d of %d failed\n", n_failed, n_tests);
	return n_failed ? 1 : 0;
}
