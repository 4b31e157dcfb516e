/*
 * Platform layer, Windows (include/p11-compat.h; src/platform/posix.c is the POSIX
 * one). The shim's home is a 32-bit Windows process in front of the 32-bit
 * personal.dll.
 *
 * Paths: the configuration may write them with '/' or '\' (Nexus's Personal
 * integration guide writes C:/Program Files (x86)/Personal/bin/personal.dll),
 * with spaces and without quotes. They reach the system as UTF-16, from
 * UTF-8, or from the ANSI code page when they are not valid UTF-8 (an INI
 * file saved by Notepad in the ANSI code page).
 */
#include "config.h"

#include "p11-compat.h"
#include "p11-exehdr.h"
#include "p11-pkcs11.h"
#include "p11-win32-acl.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

/*
 * Cryptoki on Windows: structures packed to 1 byte, CK_ULONG of 32 bits
 * (p11-pkcs11.h defines CRYPTOKI_EXPORTS before p11-kit's pkcs11.h, which
 * packs under _WIN32). A client or middleware built with the vendors'
 * headers sees these sizes; natural alignment would make CK_INFO 76 bytes.
 */
_Static_assert(sizeof(CK_ULONG) == sizeof(unsigned long), "CK_ULONG is unsigned long");
_Static_assert(sizeof(CK_INFO) == 72, "CK_INFO is 72 bytes on Windows (packed to 1)");
_Static_assert(sizeof(CK_TOKEN_INFO) == 160, "CK_TOKEN_INFO is 160 bytes on Windows");
_Static_assert(sizeof(CK_ATTRIBUTE) == 2 * sizeof(CK_ULONG) + sizeof(void *),
               "CK_ATTRIBUTE is packed");

#if defined(_WIN64)
#define SELF_PE_MACHINE EXEHDR_PE_AMD64
#define SELF_BITS 64
#define SELF_ARCH "64-bit x86-64"
#define SELF_KEY "PKCS11LibraryWindows64"
#define SELF_PERSONAL "C:/Program Files/Personal/bin/personal.dll"
#else
#define SELF_PE_MACHINE EXEHDR_PE_I386
#define SELF_BITS 32
#define SELF_ARCH "32-bit i386"
#define SELF_KEY "PKCS11LibraryWindows32"
#define SELF_PERSONAL "C:/Program Files (x86)/Personal/bin/personal.dll"
#endif

/* ---- paths ---- */

/*
 * Separators stay as written: Windows takes '/' and '\' alike (but in
 * LoadLibraryEx, see compat_dlopen), and Wine, where the tests run, takes a
 * path that starts with '/' for a Unix one, as the tests' "/tmp" means.
 */
wchar_t *compat_wide_path(const char *path)
{
	UINT cp = CP_UTF8;
	wchar_t *w;
	int n;

	n = MultiByteToWideChar(cp, MB_ERR_INVALID_CHARS, path, -1, NULL, 0);
	if (n <= 0) {
		cp = CP_ACP;
		n = MultiByteToWideChar(cp, 0, path, -1, NULL, 0);
		if (n <= 0)
			return NULL;
	}
	w = malloc((size_t)n * sizeof(wchar_t));
	if (w == NULL)
		return NULL;
	if (MultiByteToWideChar(cp, cp == CP_UTF8 ? MB_ERR_INVALID_CHARS : 0, path, -1, w, n) <= 0) {
		free(w);
		return NULL;
	}
	return w;
}

/* C:\x, C:/x or \\server\share: never a name the system would search for. */
static bool is_full_path(const char *p)
{
	if (((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' && p[0] <= 'z')) && p[1] == ':' &&
	    (p[2] == '\\' || p[2] == '/'))
		return true;
	return (p[0] == '\\' || p[0] == '/') && (p[1] == '\\' || p[1] == '/');
}

/* The system's text for a Win32 error, without the trailing ".\r\n". */
static void win_error(DWORD code, char *buf, size_t len)
{
	DWORD n;

	n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
	                   MAKELANGID(LANG_ENGLISH, SUBLANG_DEFAULT), buf, (DWORD)len, NULL);
	if (n == 0)
		n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
		                   code, 0, buf, (DWORD)len, NULL);
	if (n == 0) {
		snprintf(buf, len, "error %lu", (unsigned long)code);
		return;
	}
	while (n > 0 &&
	       (buf[n - 1] == '\r' || buf[n - 1] == '\n' || buf[n - 1] == '.' || buf[n - 1] == ' '))
		buf[--n] = '\0';
}

static void set_errno_from(DWORD code)
{
	switch (code) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND: errno = ENOENT; break;
	case ERROR_ACCESS_DENIED:
	case ERROR_SHARING_VIOLATION:
	case ERROR_LOCK_VIOLATION: errno = EACCES; break;
	case ERROR_DISK_FULL:
	case ERROR_HANDLE_DISK_FULL: errno = ENOSPC; break;
	case ERROR_FILENAME_EXCED_RANGE: errno = ENAMETOOLONG; break;
	case ERROR_NOT_SAME_DEVICE: errno = EXDEV; break;
	default: errno = EIO; break;
	}
}

/* ---- module loading ---- */

void *compat_dlopen(const char *path, char *err, size_t errlen)
{
	char why[256];
	wchar_t *w, *p;
	HMODULE h;
	DWORD code, old_mode = 0;

	if (!is_full_path(path)) {
		snprintf(err, errlen,
		         "cannot load: not a full path; name the DLL with its drive and "
		         "folder (C:/Program Files (x86)/...): a bare name would be looked for in the "
		         "current folder too");
		return NULL;
	}
	w = compat_wide_path(path);
	if (w == NULL) {
		snprintf(err, errlen, "cannot load: the path cannot be converted to UTF-16");
		return NULL;
	}
	/* LOAD_WITH_ALTERED_SEARCH_PATH wants '\' (MSDN: "Do not use forward slashes"). */
	for (p = w; *p != 0; p++)
		if (*p == L'/')
			*p = L'\\';
	/*
	 * LOAD_WITH_ALTERED_SEARCH_PATH from the full path: the DLLs the
	 * middleware ships beside personal.dll resolve from its folder, not
	 * from the client's (DLL planting; pkcs11-logger users hit the
	 * missing-dependency case). No message box for a missing dependency.
	 */
	SetThreadErrorMode(SEM_FAILCRITICALERRORS | SEM_NOOPENFILEERRORBOX, &old_mode);
	h = LoadLibraryExW(w, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
	code = GetLastError();
	SetThreadErrorMode(old_mode, NULL);
	free(w);
	if (h == NULL) {
		win_error(code, why, sizeof(why));
		snprintf(err, errlen, "cannot load: %s (error %lu)%s", why, (unsigned long)code,
		         code == ERROR_MOD_NOT_FOUND ?
		                 "; a DLL it needs is missing from its folder and the system folders" :
		                 "");
	}
	return h;
}

void *compat_dlsym(void *handle, const char *symbol)
{
	return (void *)GetProcAddress((HMODULE)handle, symbol);
}

void compat_dlclose(void *handle)
{
	if (handle != NULL)
		FreeLibrary((HMODULE)handle);
}

const char *compat_self_arch(void)
{
	/* The machine named as compat_exe_header names it ("i386", "x86-64"). */
	return SELF_ARCH;
}

/* Reads up to len bytes at off: how many were there. */
static size_t read_at(void *ctx, uint32_t off, unsigned char *buf, size_t len)
{
	OVERLAPPED ov;
	DWORD got = 0;

	memset(&ov, 0, sizeof(ov));
	ov.Offset = off;
	if (!ReadFile(*(HANDLE *)ctx, buf, (DWORD)len, &got, &ov))
		return 0;
	return got;
}

int compat_exe_header(const char *path, compat_exe *out, char *err, size_t errlen)
{
	char why[256];
	wchar_t *w;
	HANDLE f;
	DWORD code;
	int rc;

	memset(out, 0, sizeof(*out));
	w = compat_wide_path(path);
	if (w == NULL) {
		snprintf(err, errlen, "the path cannot be converted to UTF-16");
		return -1;
	}
	f = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
	                NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	code = GetLastError();
	free(w);
	if (f == INVALID_HANDLE_VALUE) {
		if (code == ERROR_FILE_NOT_FOUND || code == ERROR_PATH_NOT_FOUND) {
			snprintf(err, errlen, "not found");
		} else {
			win_error(code, why, sizeof(why));
			snprintf(err, errlen, "%s", why);
		}
		return -1;
	}
	rc = exehdr_parse(read_at, &f, out, err, errlen);
	CloseHandle(f);
	return rc;
}

int compat_check_module_file(const char *path, char *err, size_t errlen)
{
	compat_exe x;
	int rc;

	if (!is_full_path(path)) {
		snprintf(err, errlen,
		         "not a full path; name the DLL with its drive and folder "
		         "(C:/Program Files (x86)/...), never a bare name that would be looked for "
		         "in the current folder");
		return -1;
	}
	rc = compat_exe_header(path, &x, err, errlen);
	if (rc == -2)
		snprintf(err, errlen, "not a DLL (no PE header)");
	if (rc != 0)
		return -1;
	if (strcmp(x.format, "ELF") == 0) {
		snprintf(err, errlen,
		         "wrong architecture: an ELF (Linux) shared object, the shim is "
		         "%s Windows: name a Windows DLL in [backend] " SELF_KEY,
		         SELF_ARCH);
		return -1;
	}
	if (!x.pe_header) {
		snprintf(err, errlen, "not a DLL (no PE header)");
		return -1;
	}
	/* Nexus's Personal integration guide: the 64-bit personal.dll cannot
	 * initialise cards, and a 32-bit process cannot load it anyway. */
	if ((int)x.bits != SELF_BITS || x.pe_machine != SELF_PE_MACHINE) {
		snprintf(err, errlen,
		         "wrong architecture: PE %u-bit %s%s, the shim is %s: set [backend] " SELF_KEY
		         " to the %d-bit DLL (Personal: " SELF_PERSONAL ")",
		         x.bits, x.machine, strcmp(x.machine, "x86-64") == 0 ? " (AMD64)" : "",
		         SELF_ARCH, SELF_BITS);
		return -1;
	}
	if (!(x.pe_characteristics & EXEHDR_PE_DLL)) {
		snprintf(err, errlen, "not a DLL (a PE executable)");
		return -1;
	}
	return 0;
}

bool compat_module_file_version(const char *path, char *buf, size_t len)
{
	VS_FIXEDFILEINFO *fi = NULL;
	UINT filen = 0;
	DWORD size, dummy = 0;
	wchar_t *w;
	void *data = NULL;
	bool ok = false;

	if (len > 0)
		buf[0] = '\0';
	w = compat_wide_path(path);
	if (w == NULL)
		return false;
	size = GetFileVersionInfoSizeW(w, &dummy);
	if (size == 0 || (data = malloc(size)) == NULL)
		goto out;
	if (!GetFileVersionInfoW(w, 0, size, data) ||
	    !VerQueryValueW(data, L"\\", (void **)&fi, &filen) || fi == NULL ||
	    filen < sizeof(*fi) || fi->dwSignature != 0xFEEF04BD)
		goto out;
	if (LOWORD(fi->dwFileVersionLS) != 0)
		snprintf(buf, len, "%u.%u.%u.%u", HIWORD(fi->dwFileVersionMS),
		         LOWORD(fi->dwFileVersionMS), HIWORD(fi->dwFileVersionLS),
		         LOWORD(fi->dwFileVersionLS));
	else
		snprintf(buf, len, "%u.%u.%u", HIWORD(fi->dwFileVersionMS),
		         LOWORD(fi->dwFileVersionMS), HIWORD(fi->dwFileVersionLS));
	/* 0.0.0: a resource without a version is no version. */
	ok = fi->dwFileVersionMS != 0 || fi->dwFileVersionLS != 0;
	if (!ok && len > 0)
		buf[0] = '\0';
out:
	free(data);
	free(w);
	return ok;
}

/* ---- threads and time ---- */

struct compat_mutex {
	SRWLOCK lock;
};

compat_mutex *compat_mutex_new(void)
{
	compat_mutex *m = calloc(1, sizeof(*m));

	if (m != NULL)
		InitializeSRWLock(&m->lock);
	return m;
}

void compat_mutex_free(compat_mutex *m)
{
	free(m);
}

void compat_mutex_lock(compat_mutex *m)
{
	AcquireSRWLockExclusive(&m->lock);
}

void compat_mutex_unlock(compat_mutex *m)
{
	ReleaseSRWLockExclusive(&m->lock);
}

static void (*volatile unload_fn)(void);

void compat_at_unload(void (*fn)(void))
{
	unload_fn = fn;
}

/*
 * Called by the C library's DLL entry point. reserved is NULL when the DLL
 * is unloaded by FreeLibrary and the process goes on; set when the process
 * is ending, where Microsoft's DllMain rules leave nothing to clean up
 * (the other threads are gone, stopped wherever they were).
 */
BOOL WINAPI DllMain(HINSTANCE dll, DWORD reason, LPVOID reserved);
BOOL WINAPI DllMain(HINSTANCE dll, DWORD reason, LPVOID reserved)
{
	void (*fn)(void) = unload_fn;

	(void)dll;
	if (reason == DLL_PROCESS_DETACH && reserved == NULL && fn != NULL)
		fn();
	return TRUE;
}

/*
 * Kernel mutexes, made on first use: the only lock with a static-storage
 * start that can also wait with a timeout. (They are recursive; the shim
 * never takes one twice on a thread.)
 */
static HANDLE volatile global_handles[COMPAT_GLOBAL_COUNT];

static HANDLE global_handle(compat_global id)
{
	HANDLE h = global_handles[id], mine;

	if (h != NULL)
		return h;
	mine = CreateMutexW(NULL, FALSE, NULL);
	if (mine == NULL)
		abort(); /* no kernel objects left: nothing can go on safely */
	h = InterlockedCompareExchangePointer((PVOID volatile *)&global_handles[id], mine, NULL);
	if (h != NULL) {
		CloseHandle(mine);
		return h;
	}
	return mine;
}

void compat_global_lock(compat_global id)
{
	WaitForSingleObject(global_handle(id), INFINITE);
}

bool compat_global_timedlock(compat_global id, unsigned timeout_ms)
{
	DWORD rc = WaitForSingleObject(global_handle(id), timeout_ms);

	/* Abandoned: its owner thread ended while holding it; it is ours now. */
	return rc == WAIT_OBJECT_0 || rc == WAIT_ABANDONED;
}

void compat_global_unlock(compat_global id)
{
	ReleaseMutex(global_handle(id));
}

unsigned long compat_pid(void)
{
	return (unsigned long)GetCurrentProcessId();
}

unsigned long compat_tid(void)
{
	return (unsigned long)GetCurrentThreadId();
}

typedef VOID(WINAPI *precise_time_fn)(LPFILETIME);

int64_t compat_wall_us(void)
{
	/* Precise (sub-microsecond) from Windows 8 on; 1-16 ms steps before. */
	static precise_time_fn precise;
	static volatile LONG looked;
	ULARGE_INTEGER t;
	FILETIME ft;

	if (!looked) {
		HMODULE k = GetModuleHandleW(L"kernel32.dll");
		if (k != NULL)
			precise = (precise_time_fn)(void (*)(
			        void))GetProcAddress(k, "GetSystemTimePreciseAsFileTime");
		InterlockedExchange(&looked, 1);
	}
	if (precise != NULL)
		precise(&ft);
	else
		GetSystemTimeAsFileTime(&ft);
	t.LowPart = ft.dwLowDateTime;
	t.HighPart = ft.dwHighDateTime;
	/* 100 ns steps since 1601-01-01; the Unix epoch is 11644473600 s later. */
	return (int64_t)((t.QuadPart - 116444736000000000ULL) / 10);
}

int64_t compat_mono_ns(void)
{
	static LARGE_INTEGER freq;
	LARGE_INTEGER c;

	if (freq.QuadPart == 0)
		QueryPerformanceFrequency(&freq);
	QueryPerformanceCounter(&c);
	return (int64_t)(c.QuadPart / freq.QuadPart) * 1000000000 +
	       (int64_t)(c.QuadPart % freq.QuadPart) * 1000000000 / freq.QuadPart;
}

/* QueryPerformanceCounter reads the TSC itself where it can: nothing cheaper. */
int64_t compat_fast_ns(void)
{
	return compat_mono_ns();
}

time_t compat_timegm(struct tm *tm)
{
	return _mkgmtime(tm);
}

/* Windows has no fork: a process is always the one that initialised. */
void compat_fork_guard_arm(void)
{
}

void compat_fork_guard_disarm(void)
{
}

bool compat_fork_guard_same_process(void)
{
	return true;
}

void compat_set_binary(int fd)
{
	_setmode(fd, _O_BINARY);
}

void compat_sleep_us(unsigned long us)
{
	Sleep((DWORD)((us + 999) / 1000));
}

/* ---- well-known paths ---- */

/* %NAME%\tail; false when the variable is unset or the result too long. */
static bool env_path(char *buf, size_t len, const char *name, const char *fallback, const char *tail)
{
	const char *base = getenv(name);
	int n;

	if (base == NULL || base[0] == '\0')
		base = fallback;
	if (base == NULL)
		return false;
	n = snprintf(buf, len, "%s\\%s", base, tail);
	return n > 0 && (size_t)n < len;
}

const char *compat_system_conf_path(void)
{
	static char buf[MAX_PATH * 3];

	if (!env_path(buf, sizeof(buf), "PROGRAMDATA", "C:\\ProgramData", "p11shim\\p11shim.conf"))
		snprintf(buf, sizeof(buf), "C:\\ProgramData\\p11shim\\p11shim.conf");
	return buf;
}

bool compat_user_conf_path(char *buf, size_t len)
{
	return env_path(buf, len, "APPDATA", NULL, "p11shim\\p11shim.conf");
}

bool compat_state_dir(char *buf, size_t len)
{
	/* As Personal keeps its logs in %APPDATA%\Personal\log\ (Nexus's
	 * Personal integration guide). */
	return env_path(buf, len, "APPDATA", NULL, "p11shim\\log");
}

/* ---- files ---- */

/*
 * LockFileEx: released when the handle closes or the process ends. The
 * locked byte lies far beyond the file's text, where the holder writes its
 * pid, which a waiting process can read (Windows does not name the holder).
 */
#define LOCK_OFFSET 0x40000000UL

struct compat_lockfile {
	HANDLE h;
};

compat_lockfile *compat_lockfile_open(const char *path, char *err, size_t errlen)
{
	compat_lockfile *l;
	char why[256];
	wchar_t *w;
	DWORD code;

	w = compat_wide_path(path);
	l = calloc(1, sizeof(*l));
	if (w == NULL || l == NULL) {
		free(w);
		free(l);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE,
	                   FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
	                   OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
	code = GetLastError();
	free(w);
	if (l->h == INVALID_HANDLE_VALUE) {
		win_error(code, why, sizeof(why));
		snprintf(err, errlen, "%s", why);
		free(l);
		return NULL;
	}
	return l;
}

int compat_lockfile_try(compat_lockfile *l, char *err, size_t errlen)
{
	OVERLAPPED ov;
	char text[32];
	DWORD code, n;
	int len;

	memset(&ov, 0, sizeof(ov));
	ov.Offset = LOCK_OFFSET;
	if (!LockFileEx(l->h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ov)) {
		code = GetLastError();
		if (code == ERROR_LOCK_VIOLATION || code == ERROR_IO_PENDING)
			return 1;
		win_error(code, text, sizeof(text));
		snprintf(err, errlen, "%s (error %lu)", text, (unsigned long)code);
		return -1;
	}
	len = snprintf(text, sizeof(text), "%lu\n", (unsigned long)GetCurrentProcessId());
	memset(&ov, 0, sizeof(ov));
	if (WriteFile(l->h, text, (DWORD)len, &n, &ov)) {
		SetFilePointer(l->h, len, NULL, FILE_BEGIN);
		SetEndOfFile(l->h);
	}
	return 0;
}

unsigned long compat_lockfile_holder(compat_lockfile *l)
{
	char text[32];
	OVERLAPPED ov;
	DWORD n = 0;

	memset(&ov, 0, sizeof(ov));
	if (!ReadFile(l->h, text, sizeof(text) - 1, &n, &ov))
		return 0;
	text[n] = '\0';
	return strtoul(text, NULL, 10);
}

void compat_lockfile_close(compat_lockfile *l)
{
	if (l == NULL)
		return;
	CloseHandle(l->h); /* releases the lock */
	free(l);
}

int compat_fsync(int fd)
{
	return _commit(fd);
}

int compat_replace_file(const char *from, const char *to)
{
	wchar_t *wf = compat_wide_path(from), *wt = compat_wide_path(to);
	DWORD code = ERROR_NOT_ENOUGH_MEMORY;
	int tries;

	/*
	 * MOVEFILE_WRITE_THROUGH: returns once the rename is on the disk, as
	 * fsync of the folder does on POSIX. A reader holding the target open
	 * without FILE_SHARE_DELETE (the C library's open) makes it fail for
	 * that moment: retried for up to a second.
	 */
	for (tries = 0; wf != NULL && wt != NULL && tries < 100; tries++) {
		if (MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
			free(wf);
			free(wt);
			return 0;
		}
		code = GetLastError();
		if (code != ERROR_SHARING_VIOLATION && code != ERROR_ACCESS_DENIED &&
		    code != ERROR_LOCK_VIOLATION)
			break;
		Sleep(10);
	}
	free(wf);
	free(wt);
	set_errno_from(code);
	return -1;
}

int compat_sync_dir(const char *path)
{
	/* MOVEFILE_WRITE_THROUGH in compat_replace_file did it. */
	(void)path;
	return 0;
}

/* ---- folders ---- */

#define IS_SEP(c) ((c) == L'\\' || (c) == L'/')

void compat_mkdirs(const char *dir)
{
	wchar_t *w = compat_wide_path(dir), *p;
	/* The user, SYSTEM and Administrators only, as 0700 on POSIX: a trace
	 * folder under %PROGRAMDATA% would otherwise let every user read it. */
	SECURITY_ATTRIBUTES sa = { sizeof(sa), p11_acl_private_sd(true), FALSE };

	if (w == NULL)
		goto out;
	/* Past a drive (C:\) or a share (\\server\share\); every failure is the
	 * open's to report. */
	p = w;
	if (IS_SEP(p[0]) && IS_SEP(p[1])) {
		int seps = 0;
		for (p += 2; *p != 0 && seps < 2; p++)
			if (IS_SEP(*p))
				seps++;
	} else if (p[0] != 0 && p[1] == L':') {
		p += 2;
	}
	for (; *p != 0; p++) {
		wchar_t sep = *p;
		if (!IS_SEP(sep) || p == w)
			continue;
		*p = 0;
		CreateDirectoryW(w, sa.lpSecurityDescriptor != NULL ? &sa : NULL);
		*p = sep;
	}
	CreateDirectoryW(w, sa.lpSecurityDescriptor != NULL ? &sa : NULL);
out:
	LocalFree(sa.lpSecurityDescriptor);
	free(w);
}

bool compat_file_id_of(const char *path, compat_file_id *out)
{
	BY_HANDLE_FILE_INFORMATION info;
	FILE_BASIC_INFO basic;
	wchar_t *w = compat_wide_path(path);
	HANDLE h;
	BOOL ok;

	memset(out, 0, sizeof(*out));
	if (w == NULL) {
		errno = ENOMEM;
		return false;
	}
	/* No access asked for: only the attributes are read (and a DLL in use can be opened so). */
	h = CreateFileW(w, 0, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
	                OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE) {
		set_errno_from(GetLastError());
		return false;
	}
	ok = GetFileInformationByHandle(h, &info) &&
	     GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof(basic));
	CloseHandle(h);
	if (!ok) {
		errno = EIO;
		return false;
	}
	out->dev = info.dwVolumeSerialNumber;
	out->ino = (uint64_t)info.nFileIndexHigh << 32 | info.nFileIndexLow;
	out->size = (uint64_t)info.nFileSizeHigh << 32 | info.nFileSizeLow;
	out->mtime_ns = (int64_t)basic.LastWriteTime.QuadPart * 100;
	out->ctime_ns = (int64_t)basic.ChangeTime.QuadPart * 100;
	return true;
}

bool compat_free_bytes(const char *path, unsigned long long *avail)
{
	ULARGE_INTEGER mine, total, all;
	wchar_t *w = compat_wide_path(path);
	BOOL ok;

	if (w == NULL) {
		errno = ENOMEM;
		return false;
	}
	/* The first figure honours this user's disk quota, as f_bavail does. */
	ok = GetDiskFreeSpaceExW(w, &mine, &total, &all);
	free(w);
	if (!ok) {
		set_errno_from(GetLastError());
		return false;
	}
	*avail = mine.QuadPart;
	return true;
}

/* ---- crash visibility: a vectored exception handler ---- */

static volatile LONG crash_installs;
static PVOID crash_veh;
static compat_fault_fn crash_on_fault;

static const char *exception_name(DWORD code)
{
	switch (code) {
	case EXCEPTION_ACCESS_VIOLATION: return "EXCEPTION_ACCESS_VIOLATION";
	case EXCEPTION_IN_PAGE_ERROR: return "EXCEPTION_IN_PAGE_ERROR";
	case EXCEPTION_ILLEGAL_INSTRUCTION: return "EXCEPTION_ILLEGAL_INSTRUCTION";
	case EXCEPTION_PRIV_INSTRUCTION: return "EXCEPTION_PRIV_INSTRUCTION";
	case EXCEPTION_INT_DIVIDE_BY_ZERO: return "EXCEPTION_INT_DIVIDE_BY_ZERO";
	case EXCEPTION_ARRAY_BOUNDS_EXCEEDED: return "EXCEPTION_ARRAY_BOUNDS_EXCEEDED";
	case EXCEPTION_DATATYPE_MISALIGNMENT: return "EXCEPTION_DATATYPE_MISALIGNMENT";
	case 0xC0000409: return "STATUS_STACK_BUFFER_OVERRUN"; /* __fastfail, /GS */
	default: return NULL;
	}
}

/*
 * First in line for every exception of the process, so: only the fatal
 * kinds (not C++ exceptions, not the debugger's breakpoints, not a stack
 * overflow, whose few pages of stack the record would not fit), and always
 * EXCEPTION_CONTINUE_SEARCH: the middleware's own __except, a JVM's
 * handler or Windows Error Reporting decide what happens next. A fault the
 * middleware handles itself therefore leaves a "crash" record as well as
 * the call's own.
 */
static LONG CALLBACK crash_veh_handler(EXCEPTION_POINTERS *ep)
{
	EXCEPTION_RECORD *er = ep->ExceptionRecord;
	const char *name = exception_name(er->ExceptionCode);
	void *addr = NULL;

	if (name == NULL || crash_on_fault == NULL)
		return EXCEPTION_CONTINUE_SEARCH;
	if (er->ExceptionCode == EXCEPTION_IN_PAGE_ERROR && er->NumberParameters >= 2)
		addr = (void *)er->ExceptionInformation[1];
	if (crash_on_fault(name, addr))
		return EXCEPTION_CONTINUE_EXECUTION;
	return EXCEPTION_CONTINUE_SEARCH;
}

void compat_crash_install(compat_fault_fn on_fault, void (*on_death)(void))
{
	(void)on_death; /* nothing to trim: the Windows sink appends */
	if (InterlockedIncrement(&crash_installs) != 1)
		return;
	crash_on_fault = on_fault;
	crash_veh = AddVectoredExceptionHandler(1, crash_veh_handler);
}

void compat_crash_uninstall(void)
{
	if (InterlockedDecrement(&crash_installs) != 0)
		return;
	if (crash_veh != NULL)
		RemoveVectoredExceptionHandler(crash_veh);
	crash_veh = NULL;
}

/*
 * The Windows Event Log (README, "Events in the system log"): the event
 * source "p11shim", registered by the installer under
 * HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\p11shim
 * (EventMessageFile = the path of p11shim.dll, whose message table,
 * src/platform/win32-rc/p11shim-events.mc, gives each event id its text;
 * TypesSupported = 7). Unregistered, ReportEvent still logs the line; Event
 * Viewer then only says it lacks the description.
 */
void compat_system_log(compat_log_level level, unsigned event_id, const char *line)
{
	static const WORD type[] = { [COMPAT_LOG_ERROR] = EVENTLOG_ERROR_TYPE,
		                     [COMPAT_LOG_WARNING] = EVENTLOG_WARNING_TYPE,
		                     [COMPAT_LOG_INFO] = EVENTLOG_INFORMATION_TYPE };
	LPCWSTR strings[1];
	wchar_t *w = NULL;
	HANDLE source = NULL;
	int n;

	n = MultiByteToWideChar(CP_UTF8, 0, line, -1, NULL, 0);
	if (n <= 0)
		goto out;
	w = malloc((size_t)n * sizeof(*w));
	if (w == NULL || MultiByteToWideChar(CP_UTF8, 0, line, -1, w, n) <= 0)
		goto out;
	source = RegisterEventSourceW(NULL, L"p11shim");
	if (source == NULL)
		goto out;
	strings[0] = w;
	ReportEventW(source, type[level], 0, (DWORD)event_id, NULL, 1, 0, strings, NULL);
out:
	if (source != NULL)
		DeregisterEventSource(source);
	free(w);
}

/* ---- a mapped file of fixed size; processes; a ticker thread ---- */

void *compat_map_file(const char *path, size_t size, bool *created, char *err, size_t errlen)
{
	wchar_t *w = compat_wide_path(path);
	HANDLE f, m = NULL;
	void *p = NULL;

	*created = false;
	if (w == NULL) {
		snprintf(err, errlen, "cannot open %s: not a valid path", path);
		return NULL;
	}
	f = CreateFileW(w, GENERIC_READ | GENERIC_WRITE,
	                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
	                FILE_ATTRIBUTE_NORMAL, NULL);
	*created = f != INVALID_HANDLE_VALUE && GetLastError() != ERROR_ALREADY_EXISTS;
	free(w);
	if (f == INVALID_HANDLE_VALUE) {
		snprintf(err, errlen, "cannot open %s: error %lu", path,
		         (unsigned long)GetLastError());
		return NULL;
	}
	/* CreateFileMapping extends the file to size: the blocks exist before a store. */
	m = CreateFileMappingW(f, NULL, PAGE_READWRITE, 0, (DWORD)size, NULL);
	if (m == NULL) {
		snprintf(err, errlen, "cannot map %s: error %lu", path,
		         (unsigned long)GetLastError());
		goto out;
	}
	p = MapViewOfFile(m, FILE_MAP_WRITE, 0, 0, size);
	if (p == NULL)
		snprintf(err, errlen, "cannot map %s: error %lu", path,
		         (unsigned long)GetLastError());
out:
	if (m != NULL)
		CloseHandle(m); /* the view keeps the mapping */
	CloseHandle(f);
	return p;
}

void compat_unmap_file(void *p, size_t size)
{
	(void)size;
	if (p != NULL)
		UnmapViewOfFile(p);
}

bool compat_process_alive(unsigned long pid)
{
	HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
	DWORD rc;

	if (h == NULL)
		return GetLastError() == ERROR_ACCESS_DENIED;
	rc = WaitForSingleObject(h, 0);
	CloseHandle(h);
	return rc == WAIT_TIMEOUT;
}

struct compat_ticker {
	HANDLE thread, wake;
	volatile LONG stop;
	unsigned interval_ms;
	void (*fn)(void *);
	void *data;
};

static DWORD WINAPI ticker_main(LPVOID arg)
{
	compat_ticker *t = arg;

	while (WaitForSingleObject(t->wake, t->interval_ms) == WAIT_TIMEOUT && !t->stop)
		t->fn(t->data);
	return 0;
}

compat_ticker *compat_ticker_start(unsigned interval_ms, void (*fn)(void *), void *data)
{
	compat_ticker *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->interval_ms = interval_ms ? interval_ms : 1;
	t->fn = fn;
	t->data = data;
	t->wake = CreateEventW(NULL, TRUE, FALSE, NULL);
	/* A small stack (a note record, a write): 128 KiB reserved, not 1 MiB. */
	if (t->wake != NULL)
		t->thread = CreateThread(NULL, 128 * 1024, ticker_main, t,
		                         STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
	if (t->wake == NULL || t->thread == NULL) {
		if (t->wake != NULL)
			CloseHandle(t->wake);
		free(t);
		return NULL;
	}
	return t;
}

void compat_ticker_stop(compat_ticker *t)
{
	if (t == NULL)
		return;
	InterlockedExchange(&t->stop, 1);
	SetEvent(t->wake);
	WaitForSingleObject(t->thread, INFINITE);
	CloseHandle(t->thread);
	CloseHandle(t->wake);
	free(t);
}
