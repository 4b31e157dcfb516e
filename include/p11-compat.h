/*
 * Every OS difference sits behind these few functions (STYLE.md section 1,
 * after p11-kit common/compat.h): module loading and its header check,
 * locks, thread ids, time, fork detection, well-known paths, files.
 */
#ifndef P11_COMPAT_H
#define P11_COMPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * Fork detection without a system call per PKCS#11 call: a page that the
 * kernel wipes in a forked child (MADV_WIPEONFORK), with getpid() as the
 * fallback. arm() at C_Initialize; same_process() on every call.
 */
void compat_fork_guard_arm(void);
void compat_fork_guard_disarm(void);
bool compat_fork_guard_same_process(void);

/* Configuration files: system and per-user (DESIGN.md, Configuration). */
const char *compat_system_conf_path(void);
/* Writes the per-user path to buf; returns false when no home is known. */
bool compat_user_conf_path(char *buf, size_t len);
/* The default trace folder: $XDG_STATE_HOME/p11shim or ~/.local/state/p11shim. */
bool compat_state_dir(char *buf, size_t len);

#endif /* P11_COMPAT_H */
