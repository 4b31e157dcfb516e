/*
 * Platform layer, POSIX (include/p11-compat.h); src/platform/win32.c is the
 * Windows one.
 */
#include "config.h"

#include "p11-compat.h"
#include "p11-exehdr.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

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
		snprintf(buf, sizeof(buf), "%d-bit %s", SELF_BITS,
		         exehdr_elf_machine_name(SELF_MACHINE));
	return buf;
}

static size_t read_at(void *ctx, uint32_t off, unsigned char *buf, size_t len)
{
	ssize_t n = pread(*(int *)ctx, buf, len, (off_t)off);

	return n < 0 ? 0 : (size_t)n;
}

int compat_exe_header(const char *path, compat_exe *out, char *err, size_t errlen)
{
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s", errno == ENOENT ? "not found" : strerror(errno));
		return -1;
	}
	rc = exehdr_parse(read_at, &fd, out, err, errlen);
	close(fd);
	return rc;
}

int compat_check_module_file(const char *path, char *err, size_t errlen)
{
	compat_exe x;
	int rc;

	rc = compat_exe_header(path, &x, err, errlen);
	if (rc == -2)
		snprintf(err, errlen, "not a shared library (no ELF header)");
	if (rc != 0)
		return -1;
	if (strcmp(x.format, "ELF") != 0) {
		snprintf(err, errlen, "wrong architecture: a Windows PE file, the shim is %s ELF",
		         compat_self_arch());
		return -1;
	}
	if ((int)x.bits != SELF_BITS || (SELF_MACHINE != EM_NONE && x.elf_machine != SELF_MACHINE)) {
		snprintf(err, errlen, "wrong architecture: ELF %u-bit %s, the shim is %s", x.bits,
		         x.machine, compat_self_arch());
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

time_t compat_timegm(struct tm *tm)
{
	return timegm(tm);
}

static volatile unsigned char *guard_page;
static unsigned long guard_pid;

unsigned long compat_pid(void)
{
	/* getpid is a system call (glibc stopped caching it: about 150 ns in
	 * a VM); the fork guard tells whether the pid of C_Initialize is
	 * still ours: a forked child's guard page is wiped. */
	if (guard_page != NULL && guard_page[0] != 0)
		return guard_pid;
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

/*
 * The trace reads a clock twice per call; through the vDSO that costs 25-55
 * ns each in a VM, the TSC itself 10-15. The TSC is used only when the kernel
 * chose it as its clocksource (so it checked that it is invariant and the
 * same on every CPU), and only once calibrated against CLOCK_MONOTONIC over
 * 50 ms; until then, and elsewhere, CLOCK_MONOTONIC. Anchored at
 * CLOCK_MONOTONIC, so both agree to a few ns per second.
 */
#if defined(__x86_64__) || defined(__i386__)
static struct {
	atomic_int state; /* 0 unknown, 1 TSC usable: calibrating, 2 calibrated, -1 no TSC */
	uint64_t tsc0;
	int64_t mono0;
	_Atomic double ns_per_tick;
	pthread_mutex_t lock;
} tsc = { .lock = PTHREAD_MUTEX_INITIALIZER };

static bool kernel_clock_is_tsc(void)
{
	char buf[32] = "";
	ssize_t n;
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
	              O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n >= 3 && strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || buf[3] == '\0');
}

int64_t compat_fast_ns(void)
{
	int state = atomic_load_explicit(&tsc.state, memory_order_acquire);
	uint64_t now;
	int64_t mono;

	if (state == 2)
		return tsc.mono0 +
		       (int64_t)((double)(__rdtsc() - tsc.tsc0) *
		                 atomic_load_explicit(&tsc.ns_per_tick, memory_order_relaxed));
	if (state < 0)
		return compat_mono_ns();
	mono = compat_mono_ns();
	/* Calibrating: the lock only for the first call, and once 50 ms are over. */
	if (state == 1 && mono - tsc.mono0 < 50000000)
		return mono;
	/* trylock: a fork while another thread calibrates must not leave the
	 * child's copy of the lock held forever (test-robust-threads.sh, fork). */
	if (pthread_mutex_trylock(&tsc.lock) != 0)
		return mono;
	state = atomic_load(&tsc.state);
	mono = compat_mono_ns();
	now = __rdtsc();
	if (state == 0) {
		if (kernel_clock_is_tsc()) {
			tsc.tsc0 = now;
			tsc.mono0 = mono;
			state = 1;
		} else {
			state = -1;
		}
	} else if (state == 1 && mono - tsc.mono0 >= 50000000 && now > tsc.tsc0) {
		atomic_store(&tsc.ns_per_tick, (double)(mono - tsc.mono0) / (double)(now - tsc.tsc0));
		state = 2;
	}
	atomic_store_explicit(&tsc.state, state, memory_order_release);
	pthread_mutex_unlock(&tsc.lock);
	return mono;
}
#else
int64_t compat_fast_ns(void)
{
	return compat_mono_ns();
}
#endif

void compat_fork_guard_arm(void)
{
	long pagesz = sysconf(_SC_PAGESIZE);

	guard_pid = (unsigned long)getpid();
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
	return guard_pid == (unsigned long)getpid();
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

bool compat_module_file_version(const char *path, char *buf, size_t len)
{
	/* ELF has no version resource: the version comes from CK_INFO. */
	(void)path;
	if (len > 0)
		buf[0] = '\0';
	return false;
}

static void (*_Atomic unload_fn)(void);

void compat_at_unload(void (*fn)(void))
{
	atomic_store(&unload_fn, fn);
}

/* dlclose of the module, and exit. */
__attribute__((destructor)) static void at_unload(void)
{
	void (*fn)(void) = atomic_load(&unload_fn);

	if (fn != NULL)
		fn();
}

static pthread_mutex_t global_locks[COMPAT_GLOBAL_COUNT] = {
	PTHREAD_MUTEX_INITIALIZER,
	PTHREAD_MUTEX_INITIALIZER,
};

void compat_global_lock(compat_global id)
{
	pthread_mutex_lock(&global_locks[id]);
}

bool compat_global_timedlock(compat_global id, unsigned timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	return pthread_mutex_timedlock(&global_locks[id], &until) == 0;
}

void compat_global_unlock(compat_global id)
{
	pthread_mutex_unlock(&global_locks[id]);
}

/*
 * fcntl locks: the kernel drops them when the process dies, so a lock held
 * by a dead process cannot exist; F_GETLK names the holder. They belong to
 * the process (threads serialise with a global lock first), and closing any
 * descriptor of the file drops them: the lock file is used for nothing else.
 */
struct compat_lockfile {
	int fd;
};

compat_lockfile *compat_lockfile_open(const char *path, char *err, size_t errlen)
{
	compat_lockfile *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (l->fd < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		free(l);
		return NULL;
	}
	return l;
}

int compat_lockfile_try(compat_lockfile *l, char *err, size_t errlen)
{
	struct flock fl;

	for (;;) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(l->fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EACCES || errno == EAGAIN)
			return 1;
		snprintf(err, errlen, "%s%s", strerror(errno),
		         errno == ENOLCK ?
		                 "; put the file on a local file system (or one with working fcntl locks)" :
		                 "");
		return -1;
	}
}

unsigned long compat_lockfile_holder(compat_lockfile *l)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(l->fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK && fl.l_pid > 0)
		return (unsigned long)fl.l_pid;
	return 0;
}

void compat_lockfile_close(compat_lockfile *l)
{
	if (l == NULL)
		return;
	close(l->fd); /* releases the lock */
	free(l);
}

int compat_fsync(int fd)
{
	return fsync(fd);
}

int compat_replace_file(const char *from, const char *to)
{
	return rename(from, to);
}

int compat_sync_dir(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == path)
		strcpy(dir, "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	/* Some file systems cannot sync a folder (EINVAL): nothing more to do there. */
	if (rc < 0 && errno == EINVAL)
		rc = 0;
	close(fd);
	return rc;
}

void compat_set_binary(int fd)
{
	(void)fd; /* bytes already */
}

void compat_sleep_us(unsigned long us)
{
	struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

void compat_mkdirs(const char *dir)
{
	char buf[4096];
	char *p;

	snprintf(buf, sizeof(buf), "%s", dir);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(buf, 0700);
		*p = '/';
	}
	mkdir(buf, 0700);
}

bool compat_file_id_of(const char *path, compat_file_id *out)
{
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (stat(path, &st) != 0)
		return false;
	out->dev = (uint64_t)st.st_dev;
	out->ino = (uint64_t)st.st_ino;
	out->size = (uint64_t)st.st_size;
	out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	out->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	return true;
}

bool compat_free_bytes(const char *path, unsigned long long *avail)
{
	struct statvfs vfs;

	if (statvfs(path, &vfs) != 0)
		return false;
	*avail = (unsigned long long)vfs.f_bavail * (unsigned long long)vfs.f_frsize;
	return true;
}

/* ---- crash visibility: fatal signals ---- */

static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
#define N_FATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))
static struct sigaction saved_actions[N_FATAL];
static atomic_int crash_installs; /* installs alive; the handler stays while > 0 */
static compat_fault_fn crash_on_fault;
static void (*crash_on_death)(void);

static const char *signal_name(int sig)
{
	switch (sig) {
	case SIGSEGV: return "SIGSEGV";
	case SIGBUS: return "SIGBUS";
	case SIGILL: return "SIGILL";
	case SIGFPE: return "SIGFPE";
	case SIGABRT: return "SIGABRT";
	default: return "signal";
	}
}

/*
 * Only async-signal-safe work: on_fault (which writes the in-flight trace
 * records of this thread), then hand the signal to whoever had it before (a
 * JVM uses SIGSEGV for its own purposes, so a signal outside a backend call
 * goes straight on).
 */
static void crash_handler(int sig, siginfo_t *info, void *uctx)
{
	struct sigaction *old = NULL;
	void *addr = NULL;
	size_t i;

	for (i = 0; i < N_FATAL; i++)
		if (fatal_signals[i] == sig)
			old = &saved_actions[i];
	/* si_code > 0: raised by the kernel for this address, not by kill(). */
	if (sig == SIGBUS && info != NULL && info->si_code > 0)
		addr = info->si_addr;
	if (crash_on_fault != NULL && crash_on_fault(signal_name(sig), addr))
		return;
	if (old == NULL)
		return;
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, info, uctx);
	} else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
		if (crash_on_death != NULL)
			crash_on_death();
		/* Restore and return: the fault repeats under the default action
		 * (abort() re-raises by itself). */
		sigaction(sig, old, NULL);
		if (sig == SIGABRT || info == NULL || info->si_code <= 0)
			raise(sig);
	} else {
		old->sa_handler(sig);
	}
}

void compat_crash_install(compat_fault_fn on_fault, void (*on_death)(void))
{
	struct sigaction sa;
	size_t i;

	if (atomic_fetch_add(&crash_installs, 1) != 0)
		return;
	crash_on_fault = on_fault;
	crash_on_death = on_death;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = crash_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < N_FATAL; i++)
		sigaction(fatal_signals[i], &sa, &saved_actions[i]);
}

void compat_crash_uninstall(void)
{
	struct sigaction cur;
	size_t i;

	if (atomic_fetch_sub(&crash_installs, 1) != 1)
		return;
	for (i = 0; i < N_FATAL; i++) {
		/* Only where ours is still in place: someone may have chained over us. */
		if (sigaction(fatal_signals[i], NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == crash_handler)
			sigaction(fatal_signals[i], &saved_actions[i], NULL);
	}
}

/*
 * The line goes to /dev/log as syslog(3) would send it (RFC 3164: "<PRI>Mmm
 * dd hh:mm:ss p11shim[PID]: text"), which rsyslog and journald (as
 * SYSLOG_IDENTIFIER=p11shim) read. Not through openlog(3)/syslog(3): the
 * ident is per process, and a module that called openlog would rename the
 * client's own log lines (or lose the name the client chose).
 */
void compat_system_log(compat_log_level level, unsigned event_id, const char *line)
{
	static const int sev[] = {
		[COMPAT_LOG_ERROR] = LOG_ERR, [COMPAT_LOG_WARNING] = LOG_WARNING, [COMPAT_LOG_INFO] = LOG_NOTICE
	};
	struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	char msg[1400], stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	int fd, n;

	(void)event_id; /* part of the line already */
	if (localtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm) == 0)
		stamp[0] = '\0';
	n = snprintf(msg, sizeof(msg), "<%d>%s p11shim[%ld]: %s", LOG_USER | sev[level], stamp,
	             (long)getpid(), line);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* MSG_NOSIGNAL: never SIGPIPE in the client; a full log drops the line. */
	(void)sendto(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&addr,
	             sizeof(addr));
	close(fd);
}

/* ---- a mapped file of fixed size; processes; a ticker thread ---- */

void *compat_map_file(const char *path, size_t size, bool *created, char *err, size_t errlen)
{
	struct stat st;
	void *p = NULL;
	int fd, rc;

	*created = false;
	fd = open(path, O_RDWR | O_NOFOLLOW | COMPAT_O_PRIVATE);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | COMPAT_O_PRIVATE, 0600);
		*created = fd >= 0;
		if (fd < 0 && errno == EEXIST) /* another process made it first */
			fd = open(path, O_RDWR | O_NOFOLLOW | COMPAT_O_PRIVATE);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		goto out;
	}
	/* Backed before mapped: a store must never raise SIGBUS in the client. */
	if ((uint64_t)st.st_size < size) {
		rc = posix_fallocate(fd, 0, (off_t)size);
		if (rc == EOPNOTSUPP || rc == EINVAL)
			rc = ftruncate(fd, (off_t)size) == 0 ? 0 : errno;
		if (rc != 0) {
			snprintf(err, errlen, "cannot size %s: %s", path, strerror(rc));
			goto out;
		}
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(errno));
		p = NULL;
	}
out:
	close(fd);
	return p;
}

void compat_unmap_file(void *p, size_t size)
{
	if (p != NULL)
		munmap(p, size);
}

bool compat_process_alive(unsigned long pid)
{
	if (pid == 0 || pid > (unsigned long)INT32_MAX)
		return false;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

struct compat_ticker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	unsigned long owner; /* the pid that started it: a forked child has no thread */
	unsigned interval_ms;
	void (*fn)(void *);
	void *data;
};

static void *ticker_main(void *arg)
{
	compat_ticker *t = arg;
	struct timespec at;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += t->interval_ms / 1000;
		at.tv_nsec += (long)(t->interval_ms % 1000) * 1000000L;
		if (at.tv_nsec >= 1000000000L) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000L;
		}
		while (!t->stop && pthread_cond_timedwait(&t->cond, &t->lock, &at) != ETIMEDOUT)
			;
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->lock);
		t->fn(t->data);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

#define TICKER_STACK (128 * 1024)

compat_ticker *compat_ticker_start(unsigned interval_ms, void (*fn)(void *), void *data)
{
	compat_ticker *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	pthread_attr_t attr;
	sigset_t all, old;
	int rc;

	if (t == NULL)
		return NULL;
	t->interval_ms = interval_ms ? interval_ms : 1;
	t->fn = fn;
	t->data = data;
	t->owner = compat_pid();
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* The client's signals are for the client's threads, not this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* Its work (a note record of under 1 KiB, a pwritev) needs a small
	 * stack, not the 8 MiB of address space a thread gets by default. */
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, TICKER_STACK);
	rc = pthread_create(&t->thread, &attr, ticker_main, t);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
		free(t);
		return NULL;
	}
	return t;
}

void compat_ticker_stop(compat_ticker *t)
{
	if (t == NULL)
		return;
	if (t->owner == compat_pid()) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_signal(&t->cond);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->lock);
	}
	free(t);
}
