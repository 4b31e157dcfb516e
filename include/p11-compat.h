/*
 * Every OS difference sits behind these few functions (after p11-kit
 * common/compat.h): module loading and its header check, locks, thread ids,
 * time, fork detection, well-known paths, files.
 */
#ifndef P11_COMPAT_H
#define P11_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Facts of this platform that portable code asks instead of an #ifdef of its
 * own (the only #ifdef _WIN32 outside src/platform/ are here and in
 * p11-pkcs11.h, whose packing is the Cryptoki ABI).
 */
#ifdef _WIN32
#define COMPAT_WINDOWS 1
#define COMPAT_EXE_FORMAT "PE" /* what compat_exe_header calls our own modules */
#define COMPAT_DIR_SEPS "/\\"
#define COMPAT_DIR_WRITABLE 2  /* access(): W_OK; folders have no X bit */
#define COMPAT_O_BINARY 0x8000 /* _O_BINARY */
/* The middleware's own files where Personal installs them (the guide's paths). */
#define COMPAT_DEFAULT_PERSONAL_CFG "C:/Program Files (x86)/Personal/config/Personal.cfg"
#define COMPAT_DEFAULT_PERSONAL_USER_CFG "%APPDATA%/Personal/config/Personal.cfg"
#define COMPAT_DEFAULT_PIN_ENCRYPTION_CFG "C:/Program Files (x86)/Personal/config/iD2ppa.cfg"
#else
#define COMPAT_WINDOWS 0
#define COMPAT_EXE_FORMAT "ELF"
#define COMPAT_DIR_SEPS "/"
#define COMPAT_DIR_WRITABLE (2 | 1) /* W_OK | X_OK */
#define COMPAT_O_BINARY 0
/* No Personal installation to find elsewhere: these must be configured. */
#define COMPAT_DEFAULT_PERSONAL_CFG ""
#define COMPAT_DEFAULT_PERSONAL_USER_CFG ""
#define COMPAT_DEFAULT_PIN_ENCRYPTION_CFG ""
#endif

/* Standard input and output as bytes (Windows' C library translates CR LF). */
void compat_set_binary(int fd);

/* Module loading. Errors are written to err as one readable phrase. */
void *compat_dlopen(const char *path, char *err, size_t errlen);
void *compat_dlsym(void *handle, const char *symbol);
void compat_dlclose(void *handle);

/*
 * Reads the executable header of a module file and compares its word size
 * and machine with this build's. Returns 0 when it matches; otherwise -1
 * with err naming the problem ("not found", "wrong architecture: ELF
 * 32-bit i386, the shim is 64-bit x86-64", "not a shared library").
 */
int compat_check_module_file(const char *path, char *err, size_t errlen);

/*
 * An executable's header, ELF or PE (a Windows file): its format, word
 * size and machine, for the module check above and for `p11shim doctor`
 * (the JRE's java). Returns 0; -1 with err when the file cannot be opened
 * ("not found"); -2 when it has neither header. bits is 0 and machine
 * "unknown machine" where the header does not tell.
 */
typedef struct {
	char format[4];              /* "ELF" or "PE" */
	unsigned bits;               /* 32 or 64 */
	char machine[24];            /* "x86-64", "i386", "aarch64", ... */
	unsigned elf_machine;        /* ELF e_machine, 0 for PE */
	unsigned pe_machine;         /* PE Machine, 0 for ELF */
	unsigned pe_characteristics; /* the COFF header's flags (IMAGE_FILE_DLL) */
	bool pe_header;              /* true when a PE header was found behind the MZ one */
} compat_exe;
int compat_exe_header(const char *path, compat_exe *out, char *err, size_t errlen);

/* A short description of this build: "64-bit x86-64". */
const char *compat_self_arch(void);

/* Mutexes for the shim's own state. */
typedef struct compat_mutex compat_mutex;
compat_mutex *compat_mutex_new(void);
void compat_mutex_free(compat_mutex *m);
void compat_mutex_lock(compat_mutex *m);
void compat_mutex_unlock(compat_mutex *m);

unsigned long compat_pid(void);
unsigned long compat_tid(void);

/* Wall clock in microseconds since the epoch; monotonic in nanoseconds. */
int64_t compat_wall_us(void);
int64_t compat_mono_ns(void);
/*
 * A monotonic clock in nanoseconds for the trace's durations, cheaper than
 * compat_mono_ns where it can be (the TSC on x86, when the kernel's own
 * clock is the TSC); the same clock otherwise. Agrees with compat_mono_ns.
 */
int64_t compat_fast_ns(void);
/* A broken-down UTC time as seconds since the epoch (timegm; Windows _mkgmtime). */
time_t compat_timegm(struct tm *tm);

/*
 * Fork detection without a system call per PKCS#11 call: a page that the
 * kernel wipes in a forked child (MADV_WIPEONFORK), with getpid() as the
 * fallback. arm() at C_Initialize; same_process() on every call.
 */
void compat_fork_guard_arm(void);
void compat_fork_guard_disarm(void);
bool compat_fork_guard_same_process(void);

/*
 * fn is called when the module is unloaded from a process that goes on
 * (dlclose, FreeLibrary): to free what the shim keeps across C_Finalize.
 * On POSIX it is a destructor, which runs at exit too (the two cannot be
 * told apart there). On Windows it is not called when the process ends
 * (DLL_PROCESS_DETACH with lpReserved set): the other threads were stopped
 * wherever they were, perhaps holding a lock fn needs, and the memory goes
 * with the process. It runs under the loader's lock: fn may free memory and
 * close files, and must not load, unload or call another module, nor wait
 * for another thread. The last fn given is the one called.
 */
void compat_at_unload(void (*fn)(void));

/* Configuration files: system and per-user (README.md, Configuration). */
const char *compat_system_conf_path(void);
/* Writes the per-user path to buf; returns false when no home is known. */
bool compat_user_conf_path(char *buf, size_t len);
/* The default trace folder: $XDG_STATE_HOME/p11shim or ~/.local/state/p11shim. */
bool compat_state_dir(char *buf, size_t len);

/*
 * The file version of a module from its version resource ("5.7.2"; a
 * fourth part only when it is not 0): the middleware layer reads Personal's
 * version from there first. Windows only; elsewhere false.
 */
bool compat_module_file_version(const char *path, char *buf, size_t len);

/*
 * Process-wide locks in static storage, usable before anything is set up
 * (C_Initialize racing C_Initialize): one per purpose.
 */
typedef enum {
	COMPAT_GLOBAL_INIT,     /* C_Initialize / C_Finalize */
	COMPAT_GLOBAL_NUMRANGE, /* the number-range allocator's threads */
	COMPAT_GLOBAL_COUNT
} compat_global;
void compat_global_lock(compat_global id);
/* false when the lock was not free within timeout_ms. */
bool compat_global_timedlock(compat_global id, unsigned timeout_ms);
void compat_global_unlock(compat_global id);

/*
 * A lock file shared by processes (POSIX: an fcntl write lock; Windows:
 * LockFileEx), released when closed and when the process dies, however it
 * dies. open() creates the file (0600) and does not lock.
 */
typedef struct compat_lockfile compat_lockfile;
compat_lockfile *compat_lockfile_open(const char *path, char *err, size_t errlen);
/* 0: locked; 1: another process holds it; -1: err says why (a phrase). */
int compat_lockfile_try(compat_lockfile *l, char *err, size_t errlen);
/* The pid of the process holding it, 0 when the system does not say. */
unsigned long compat_lockfile_holder(compat_lockfile *l);
void compat_lockfile_close(compat_lockfile *l);

/*
 * Files written in place of others: open() flags for a private file
 * (binary; not inherited by child processes, no controlling terminal),
 * flushing to the disk, replacing a file atomically by another of the
 * same folder, and flushing the folder entry (a no-op where the system
 * does it with the replace). -1 with errno on failure.
 */
#ifdef _WIN32
#define COMPAT_O_PRIVATE (O_BINARY | O_NOINHERIT)
#else
#define COMPAT_O_PRIVATE (O_CLOEXEC | O_NOCTTY)
#endif
int compat_fsync(int fd);
int compat_replace_file(const char *from, const char *to);
int compat_sync_dir(const char *path);

void compat_sleep_us(unsigned long us);

/* mkdir -p; new folders private to the user (POSIX 0700; Windows: inherited). */
void compat_mkdirs(const char *dir);

/*
 * What tells whether a file is the one seen before: device and file
 * number, size, modification and change times (a chmod or chown changes the
 * latter). The path is followed through symbolic links. false (errno set)
 * when the file cannot be looked at; compare with compat_file_same.
 */
typedef struct {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
} compat_file_id;
bool compat_file_id_of(const char *path, compat_file_id *out);
static inline bool compat_file_same(const compat_file_id *a, const compat_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* Bytes this user may still write on the file system of path (an existing
 * folder); false with errno set when the system does not say. */
bool compat_free_bytes(const char *path, unsigned long long *avail);

/*
 * A small file of fixed size mapped shared (the trace's in-flight table,
 * src/trace/inflight.c): created 0600 if missing (never through a symbolic
 * link), its blocks allocated before it is mapped so that a store into
 * the mapping never meets a full disk, then mapped read-write. NULL with
 * err (a phrase) on failure. *created: the file was made now (zeroed).
 */
void *compat_map_file(const char *path, size_t size, bool *created, char *err, size_t errlen);
void compat_unmap_file(void *p, size_t size);

/* Whether a process of that id runs now (on this machine); true when unsure. */
bool compat_process_alive(unsigned long pid);

/*
 * A thread that calls fn(data) every interval_ms until stopped (the
 * trace's SlowCall watchdog). NULL when no thread could be made. stop()
 * wakes and joins it; in a forked child, where the thread does not exist,
 * it only frees.
 */
typedef struct compat_ticker compat_ticker;
compat_ticker *compat_ticker_start(unsigned interval_ms, void (*fn)(void *), void *data);
void compat_ticker_stop(compat_ticker *t);

/*
 * Crash visibility, so that a call that crashes inside the middleware
 * still shows in the trace. While installed (install/uninstall pairs
 * are counted), a fatal fault of this process calls on_fault on the
 * faulting thread with its name ("SIGSEGV", "EXCEPTION_ACCESS_VIOLATION")
 * and, for a fault on a mapped file (SIGBUS; Windows EXCEPTION_IN_PAGE_ERROR),
 * the address (else NULL). on_fault returns true
 * when it repaired the fault (execution resumes), else the fault takes its
 * course: POSIX hands the signal to the handler that was there before (a
 * JVM's), or, calling on_death first, repeats it under the default action;
 * Windows (no signals: a vectored exception handler) lets the exception go
 * on to the handlers after it. Both run inside the fault: async-signal-safe
 * work only.
 */
typedef bool (*compat_fault_fn)(const char *what, void *addr);
void compat_crash_install(compat_fault_fn on_fault, void (*on_death)(void));
void compat_crash_uninstall(void);

#ifdef _WIN32
#include <wchar.h>
/* Windows: a path as UTF-16 (from UTF-8, else the ANSI code page) with '\\'
 * separators, for the W functions; free() it. NULL when it cannot be converted. */
wchar_t *compat_wide_path(const char *path);
#endif

/*
 * One event in the system's log (README, "Events in the system log"): on
 * POSIX a syslog line with the ident "p11shim", facility LOG_USER, sent to
 * /dev/log; on Windows ReportEvent with the event source "p11shim" and the
 * event id of the DLL's message table. `line` is the whole event text.
 * Best effort: a log that cannot be reached is not the caller's problem.
 */
typedef enum { COMPAT_LOG_ERROR, COMPAT_LOG_WARNING, COMPAT_LOG_INFO } compat_log_level;
void compat_system_log(compat_log_level level, unsigned event_id, const char *line);

#endif /* P11_COMPAT_H */
