/*
 * Platform layer (POSIX here; the Windows variants arrive with the win32
 * build and implement the same header).
 */
#include "config.h"

#include "p11-compat.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void *compat_dlopen(const char *path, char *err, size_t errlen)
{
	void *h;

	/* RTLD_LOCAL: the backend's symbols must not leak into the client. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		snprintf(err, errlen, "cannot load: %s", dlerror());
	return h;
}

void *compat_dlsym(void *handle, const char *symbol)
{
	return dlsym(handle, symbol);
}

void compat_dlclose(void *handle)
{
	if (handle != NULL)
		dlclose(handle);
}

static const char *elf_machine_name(unsigned machine)
{
	switch (machine) {
	case EM_386: return "i386";
	case EM_X86_64: return "x86-64";
	case EM_ARM: return "arm";
	case EM_AARCH64: return "aarch64";
	case EM_PPC: return "ppc";
	case EM_PPC64: return "ppc64";
	case EM_S390: return "s390";
	case EM_RISCV: return "riscv";
	case EM_MIPS: return "mips";
	default: return "unknown machine";
	}
}

#if defined(__x86_64__)
#define SELF_MACHINE EM_X86_64
#elif defined(__i386__)
#define SELF_MACHINE EM_386
#elif defined(__aarch64__)
#define SELF_MACHINE EM_AARCH64
#elif defined(__arm__)
#define SELF_MACHINE EM_ARM
#else
#define SELF_MACHINE EM_NONE
#endif
#define SELF_BITS ((int)(sizeof(void *) * 8))

const char *compat_self_arch(void)
{
	static char buf[32];

	if (buf[0] == '\0')
		snprintf(buf, sizeof(buf), "%d-bit %s", SELF_BITS, elf_machine_name(SELF_MACHINE));
	return buf;
}

int compat_check_module_file(const char *path, char *err, size_t errlen)
{
	unsigned char h[20];
	unsigned bits, machine;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s", errno == ENOENT ? "not found" : strerror(errno));
		return -1;
	}
	n = read(fd, h, sizeof(h));
	close(fd);
	if (n < (ssize_t)sizeof(h) || memcmp(h, ELFMAG, SELFMAG) != 0) {
		if (n >= 2 && h[0] == 'M' && h[1] == 'Z')
			snprintf(err, errlen, "wrong architecture: a Windows PE file, the shim is %s ELF",
			         compat_self_arch());
		else
			snprintf(err, errlen, "not a shared library (no ELF header)");
		return -1;
	}
	bits = h[EI_CLASS] == ELFCLASS64 ? 64 : h[EI_CLASS] == ELFCLASS32 ? 32 : 0;
	/* e_machine is at offset 18, in the file's byte order. */
	machine = h[EI_DATA] == ELFDATA2MSB ? (unsigned)(h[18] << 8 | h[19]) : (unsigned)(h[19] << 8 | h[18]);
	if ((int)bits != SELF_BITS || (SELF_MACHINE != EM_NONE && machine != SELF_MACHINE)) {
		snprintf(err, errlen, "wrong architecture: ELF %u-bit %s, the shim is %s",
		         bits, elf_machine_name(machine), compat_self_arch());
		return -1;
	}
	return 0;
}

struct compat_mutex {
	pthread_mutex_t m;
};

compat_mutex *compat_mutex_new(void)
{
	compat_mutex *m = calloc(1, sizeof(*m));

	if (m != NULL)
		pthread_mutex_init(&m->m, NULL);
	return m;
}

void compat_mutex_free(compat_mutex *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->m);
	free(m);
}

void compat_mutex_lock(compat_mutex *m)
{
	pthread_mutex_lock(&m->m);
}

void compat_mutex_unlock(compat_mutex *m)
{
	pthread_mutex_unlock(&m->m);
}

unsigned long compat_pid(void)
{
	return (unsigned long)getpid();
}

unsigned long compat_tid(void)
{
	/* Cached per thread: gettid is a system call. A forked child's only
	 * thread keeps the parent's cache, so the pid is part of the key. */
	static __thread unsigned long tid, tid_pid;
	unsigned long pid;

	if (tid != 0 && compat_fork_guard_same_process())
		return tid;
	pid = compat_pid();
	if (tid == 0 || tid_pid != pid) {
		tid = (unsigned long)syscall(SYS_gettid);
		tid_pid = pid;
	}
	return tid;
}

int64_t compat_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t compat_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static volatile unsigned char *guard_page;
static unsigned long guard_pid;

void compat_fork_guard_arm(void)
{
	long pagesz = sysconf(_SC_PAGESIZE);

	guard_pid = compat_pid();
	if (guard_page == NULL) {
		void *p = mmap(NULL, (size_t)pagesz, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return;
#ifdef MADV_WIPEONFORK
		if (madvise(p, (size_t)pagesz, MADV_WIPEONFORK) != 0) {
			munmap(p, (size_t)pagesz);
			return;
		}
		guard_page = p;
#else
		munmap(p, (size_t)pagesz);
		return;
#endif
	}
	guard_page[0] = 1;
}

void compat_fork_guard_disarm(void)
{
	if (guard_page != NULL)
		guard_page[0] = 0;
	guard_pid = 0;
}

bool compat_fork_guard_same_process(void)
{
	if (guard_page != NULL)
		return guard_page[0] != 0;
	return guard_pid == compat_pid();
}

const char *compat_system_conf_path(void)
{
	return SYSCONFDIR "/p11shim/p11shim.conf";
}

static bool home_path(char *buf, size_t len, const char *xdg_var, const char *fallback,
                      const char *tail)
{
	const char *base = getenv(xdg_var);
	int n;

	if (base != NULL && base[0] == '/') {
		n = snprintf(buf, len, "%s/%s", base, tail);
	} else {
		const char *home = getenv("HOME");
		if (home == NULL || home[0] != '/')
			return false;
		n = snprintf(buf, len, "%s/%s/%s", home, fallback, tail);
	}
	return n > 0 && (size_t)n < len;
}

bool compat_user_conf_path(char *buf, size_t len)
{
	return home_path(buf, len, "XDG_CONFIG_HOME", ".config", "p11shim/p11shim.conf");
}

bool compat_state_dir(char *buf, size_t len)
{
	return home_path(buf, len, "XDG_STATE_HOME", ".local/state", "p11shim");
}
