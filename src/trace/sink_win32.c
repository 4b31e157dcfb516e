/*
 * The trace sink on Windows (include/p11-trace-sink.h; src/trace/sink_posix.c is
 * the POSIX one, with its shared mapping).
 *
 * One WriteFile per record to a handle opened with FILE_APPEND_DATA and no
 * FILE_WRITE_DATA: Windows places every write at the end of the file as one
 * piece, so the records of processes sharing the file never interleave (the
 * O_APPEND guarantee of POSIX). Within the process the writes take a lock
 * all the same: Wine (where the tests run) computes the end of the file for
 * each write without serialising them, and lost records to threads racing
 * there (4 threads x 5000 records: 17106 lines). Always P11_SINK_APPEND.
 *
 * Every 64 KiB this process wrote: is the file at the path still the one
 * this handle writes (removed or rotated by another process: reopen), and
 * is it beyond MaxSize (rotate to PATH.1 under a named mutex, so that one
 * process rotates)? Handles are opened with FILE_SHARE_DELETE, so the
 * rename works while other processes write.
 */
#include "config.h"

#include "p11-trace-ring.h"
#include "p11-trace-sink.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "p11-compat.h"
#include "p11-text.h"
#include "p11-win32-acl.h"

#define CHECK_BYTES 65536

struct p11_sink {
	HANDLE h;
	wchar_t *wpath;
	HANDLE rotate_mutex; /* named after the path: one rotation at a time across processes */
	compat_mutex *lock;  /* writes, reopen and rotation in this process */
	uint64_t max_size;
	atomic_ullong since_check, est_size;
	atomic_bool lost;
	char path[4096];
};

static void report_loss(p11_sink *s, DWORD code)
{
	char shown[1024];

	if (!atomic_exchange(&s->lost, true))
		fprintf(stderr,
		        "p11shim: trace: cannot write %s: Windows error %lu; calls go on, "
		        "records are lost until it is writable again\n",
		        p11_text_safe(shown, sizeof(shown), s->path), (unsigned long)code);
}

/* Never through a symbolic link or junction planted at the trace path. */
static HANDLE open_append(const wchar_t *wpath)
{
	BY_HANDLE_FILE_INFORMATION info;
	/* A new trace: the user, SYSTEM and Administrators only, as 0600 on POSIX. */
	SECURITY_ATTRIBUTES sa = { sizeof(sa), p11_acl_private_sd(false), FALSE };
	HANDLE h;

	h = CreateFileW(wpath, FILE_APPEND_DATA | FILE_READ_ATTRIBUTES | SYNCHRONIZE,
	                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
	                sa.lpSecurityDescriptor != NULL ? &sa : NULL, OPEN_ALWAYS,
	                FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	LocalFree(sa.lpSecurityDescriptor);
	if (h == INVALID_HANDLE_VALUE)
		return h;
	if (GetFileInformationByHandle(h, &info) &&
	    (info.dwFileAttributes & (FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_DIRECTORY))) {
		CloseHandle(h);
		SetLastError(ERROR_CANT_ACCESS_FILE);
		return INVALID_HANDLE_VALUE;
	}
	return h;
}

static bool file_info(HANDLE h, BY_HANDLE_FILE_INFORMATION *info)
{
	return GetFileInformationByHandle(h, info) != 0;
}

static bool path_info(const wchar_t *wpath, BY_HANDLE_FILE_INFORMATION *info)
{
	HANDLE h = CreateFileW(wpath, FILE_READ_ATTRIBUTES,
	                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
	                       OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT, NULL);
	bool ok;

	if (h == INVALID_HANDLE_VALUE)
		return false;
	ok = GetFileInformationByHandle(h, info) != 0;
	CloseHandle(h);
	return ok;
}

static bool same_file(const BY_HANDLE_FILE_INFORMATION *a, const BY_HANDLE_FILE_INFORMATION *b)
{
	return a->dwVolumeSerialNumber == b->dwVolumeSerialNumber &&
	       a->nFileIndexHigh == b->nFileIndexHigh && a->nFileIndexLow == b->nFileIndexLow;
}

static uint64_t size_of(const BY_HANDLE_FILE_INFORMATION *i)
{
	return (uint64_t)i->nFileSizeHigh << 32 | i->nFileSizeLow;
}

static void reopen_inlock(p11_sink *s)
{
	HANDLE h = open_append(s->wpath);

	if (h == INVALID_HANDLE_VALUE)
		return; /* keep writing where we were; the next check tries again */
	if (s->h != INVALID_HANDLE_VALUE)
		CloseHandle(s->h);
	s->h = h;
}

/*
 * Deleted while open: Windows keeps the name until the last handle closes
 * ("delete pending") and no one can open it meanwhile. Let go of ours, so
 * that the name frees and a new file can be made; records until then are
 * lost (reported once), as they would be in the doomed file.
 */
static bool deleted_inlock(p11_sink *s)
{
	FILE_STANDARD_INFO si;

	if (s->h == INVALID_HANDLE_VALUE)
		return true;
	if (!GetFileInformationByHandleEx(s->h, FileStandardInfo, &si, sizeof(si)) ||
	    !si.DeletePending)
		return false;
	CloseHandle(s->h);
	s->h = INVALID_HANDLE_VALUE;
	return true;
}

/* Caller holds s->lock. */
static void check_inlock(p11_sink *s)
{
	BY_HANDLE_FILE_INFORMATION fi, pi;
	wchar_t *old;
	size_t n;

	atomic_store(&s->since_check, 0);
	if (deleted_inlock(s)) {
		reopen_inlock(s);
		goto out;
	}
	if (!file_info(s->h, &fi))
		goto out;
	atomic_store(&s->est_size, size_of(&fi));
	if (!path_info(s->wpath, &pi) || !same_file(&fi, &pi)) {
		reopen_inlock(s);
		goto out;
	}
	if (s->max_size == 0 || size_of(&fi) < s->max_size || s->rotate_mutex == NULL)
		goto out;
	if (WaitForSingleObject(s->rotate_mutex, 5000) == WAIT_TIMEOUT)
		goto out;
	/* Another process may have rotated while we waited. */
	if (path_info(s->wpath, &pi) && same_file(&fi, &pi) && size_of(&pi) >= s->max_size) {
		n = wcslen(s->wpath);
		old = malloc((n + 3) * sizeof(wchar_t));
		if (old != NULL) {
			memcpy(old, s->wpath, n * sizeof(wchar_t));
			memcpy(old + n, L".1", 3 * sizeof(wchar_t));
			/* Fails while a reader holds PATH or PATH.1 without
			 * FILE_SHARE_DELETE: tried again at the next check. */
			MoveFileExW(s->wpath, old, MOVEFILE_REPLACE_EXISTING);
			free(old);
		}
	}
	ReleaseMutex(s->rotate_mutex);
	reopen_inlock(s);
	atomic_store(&s->est_size, 0);
out:
	return;
}

/* Local\p11shim-trace-<FNV-1a of the lower-case path>: one per trace file and session. */
static HANDLE make_rotate_mutex(const wchar_t *wpath)
{
	wchar_t name[64];
	uint32_t h = 2166136261u;
	const wchar_t *p;

	for (p = wpath; *p != 0; p++) {
		wchar_t c = *p >= L'A' && *p <= L'Z' ? (wchar_t)(*p + 32) : *p;
		h = (h ^ (uint32_t)c) * 16777619u;
	}
	swprintf(name, sizeof(name) / sizeof(name[0]), L"Local\\p11shim-trace-%08lx",
	         (unsigned long)h);
	return CreateMutexW(NULL, FALSE, name);
}

p11_sink *p11_sink_open(const char *path, uint64_t max_size)
{
	BY_HANDLE_FILE_INFORMATION fi;
	p11_sink *s = calloc(1, sizeof(*s));
	DWORD code;

	if (s == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->max_size = max_size;
	s->wpath = compat_wide_path(path);
	s->lock = compat_mutex_new();
	if (s->wpath == NULL || s->lock == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	s->h = open_append(s->wpath);
	if (s->h == INVALID_HANDLE_VALUE) {
		code = GetLastError();
		errno = code == ERROR_PATH_NOT_FOUND || code == ERROR_FILE_NOT_FOUND ? ENOENT :
		        code == ERROR_CANT_ACCESS_FILE                               ? ELOOP :
		                                                                       EACCES;
		goto fail;
	}
	if (file_info(s->h, &fi))
		atomic_store(&s->est_size, size_of(&fi));
	if (max_size != 0)
		s->rotate_mutex = make_rotate_mutex(s->wpath);
	return s;
fail:
	compat_mutex_free(s->lock);
	free(s->wpath);
	free(s);
	return NULL;
}

void p11_sink_write(p11_sink *s, const char *rec, size_t n)
{
	DWORD w = 0;
	BOOL ok;

	compat_mutex_lock(s->lock);
	ok = WriteFile(s->h, rec, (DWORD)n, &w, NULL) && w == n;
	if (atomic_fetch_add(&s->since_check, n) + n >= CHECK_BYTES ||
	    (s->max_size != 0 && atomic_fetch_add(&s->est_size, n) + n >= s->max_size))
		check_inlock(s);
	compat_mutex_unlock(s->lock);
	if (!ok)
		report_loss(s, GetLastError());
	else if (atomic_load(&s->lost))
		atomic_store(&s->lost, false);
}

/*
 * From the vectored exception handler: no allocation, no lock (the faulting
 * thread may hold it). The two pieces go in one write when they fit a stack
 * buffer (always, but for huge templates).
 */
void p11_sink_write_crash(p11_sink *s, const char *a, size_t an, const char *b, size_t bn)
{
	char buf[8192];
	DWORD w;

	if (an + bn <= sizeof(buf)) {
		memcpy(buf, a, an);
		memcpy(buf + an, b, bn);
		WriteFile(s->h, buf, (DWORD)(an + bn), &w, NULL);
	} else {
		WriteFile(s->h, a, (DWORD)an, &w, NULL);
		WriteFile(s->h, b, (DWORD)bn, &w, NULL);
	}
}

void p11_sink_crash_done(void)
{
	/* Every record is in the file already: nothing to trim. */
}

bool p11_sink_fault(void *addr)
{
	(void)addr; /* no mapping to repair */
	return false;
}

void p11_sink_flush(p11_sink *s)
{
	(void)s; /* every record is written at once */
}

void p11_sink_close(p11_sink *s)
{
	if (s == NULL)
		return;
	if (s->h != INVALID_HANDLE_VALUE)
		CloseHandle(s->h);
	if (s->rotate_mutex != NULL)
		CloseHandle(s->rotate_mutex);
	compat_mutex_free(s->lock);
	free(s->wpath);
	free(s);
}

p11_sink_mode p11_sink_get_mode(const p11_sink *s)
{
	(void)s;
	return P11_SINK_APPEND;
}

const char *p11_sink_path(const p11_sink *s)
{
	return s->path;
}

/* Nothing is staged on Windows: every record is in the file once written. */
size_t p11_ring_pending(const char *path, int fd, char **out)
{
	(void)path;
	(void)fd;
	*out = NULL;
	return 0;
}
