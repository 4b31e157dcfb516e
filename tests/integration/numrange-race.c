/*
 * The process side of tests/integration/test-numrange.sh: processes that
 * race on one number-range state file, processes killed at random points,
 * and a process that holds the lock. The script checks what they print.
 *
 *   numrange-race alloc RANGE STATE COUNT
 *       hands out COUNT numbers (0: until an error, e.g. exhausted), one
 *       line each on stdout
 *   numrange-race kill RANGE STATE ROUNDS MAX_MS AFTER
 *       ROUNDS times: forks a child that hands out numbers in a tight loop,
 *       SIGKILLs it 0..MAX_MS ms after it started (every other child: after
 *       its first number); then hands out AFTER more itself.
 *       Children and parent print to the same stdout (open it O_APPEND)
 *   numrange-race hold LOCKFILE
 *       takes the write lock on LOCKFILE as the allocator does, prints
 *       "held PID", and waits to be killed
 *
 * A number is printed with one write() only after p11_range_next returned
 * it, so a process killed in between leaves a gap, never a line for a
 * number it did not get. NUMRANGE_RACE_TIMEOUT_MS sets the lock wait.
 * Exit status 0, or 1 with the allocator's message on stderr.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "p11-numrange.h"

static unsigned timeout_ms(void)
{
	const char *v = getenv("NUMRANGE_RACE_TIMEOUT_MS");

	return v != NULL && *v != '\0' ? (unsigned)strtoul(v, NULL, 10) : P11_RANGE_LOCK_TIMEOUT_MS;
}

/* One write per line: lines of racing processes never mix. */
static int print_line(const char *s)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s\n", s);

	return write(STDOUT_FILENO, line, (size_t)n) == n ? 0 : -1;
}

/*
 * A killed child's readiness: it writes one byte here (then closes it) at
 * its start, or after its first number; -1 for none. Without it a loaded
 * machine may run no child at all before its kill, and the rounds would
 * prove nothing.
 */
static int ready_fd = -1;
static bool ready_after_first;

static void say_ready(void)
{
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "r", 1);
		close(ready_fd);
		ready_fd = -1;
	}
}

/* COUNT numbers (0: until an error); 0 when all were handed out, else 1. */
static int alloc(const p11_range *r, const char *state, unsigned long count)
{
	char out[32], err[1024];
	unsigned long i;

	for (i = 0; count == 0 || i < count; i++) {
		if (p11_range_next_wait(r, state, timeout_ms(), out, sizeof(out), err, sizeof(err)) <
		    0) {
			fprintf(stderr, "numrange-race: %s\n", err);
			return 1;
		}
		if (print_line(out) < 0) {
			fprintf(stderr, "numrange-race: stdout: %s\n", strerror(errno));
			return 1;
		}
		if (ready_after_first)
			say_ready();
	}
	return 0;
}

static int kill_rounds(const p11_range *r, const char *state, unsigned rounds, unsigned max_ms,
                       unsigned long after)
{
	unsigned i, killed = 0, seed = (unsigned)getpid() ^ (unsigned)time(NULL);
	struct timespec ts;
	int status;
	pid_t pid;

	for (i = 0; i < rounds; i++) {
		int pfd[2];
		char byte;

		if (pipe(pfd) != 0) {
			perror("numrange-race: pipe");
			return 1;
		}
		pid = fork();
		if (pid < 0) {
			perror("numrange-race: fork");
			return 1;
		}
		if (pid == 0) {
			/* Odd rounds are killed only after a first number, even ones
			 * anywhere from their start: both kinds of kill, whatever the
			 * machine's load. */
			close(pfd[0]);
			ready_fd = pfd[1];
			ready_after_first = i % 2 == 1;
			if (!ready_after_first)
				say_ready();
			_exit(alloc(r, state, 0));
		}
		close(pfd[1]);
		while (read(pfd[0], &byte, 1) < 0 && errno == EINTR)
			;
		close(pfd[0]);
		/* 0..max_ms ms, in microseconds, so kills land anywhere in a call. */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(rand_r(&seed) % (max_ms * 1000 + 1)) * 1000;
		while (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		if (waitpid(pid, &status, 0) != pid) {
			perror("numrange-race: waitpid");
			return 1;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
			killed++;
		} else {
			/* It ended by itself: only an allocation error does that. */
			fprintf(stderr, "numrange-race: child ended with status %d before the kill\n",
			        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
			return 1;
		}
	}
	fprintf(stderr, "numrange-race: %u children killed\n", killed);
	return alloc(r, state, after);
}

static int hold(const char *lock_path)
{
	struct flock fl;
	char line[32];
	int fd;

	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(lock_path);
		return 1;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLKW, &fl) < 0) {
		perror("numrange-race: lock");
		return 1;
	}
	snprintf(line, sizeof(line), "held %ld", (long)getpid());
	if (print_line(line) < 0)
		return 1;
	for (;;)
		pause();
}

static int usage(void)
{
	fprintf(stderr, "usage: numrange-race alloc RANGE STATE COUNT\n"
	                "       numrange-race kill RANGE STATE ROUNDS MAX_MS AFTER\n"
	                "       numrange-race hold LOCKFILE\n");
	return 2;
}

int main(int argc, char **argv)
{
	char err[1024];
	p11_range r;

	if (argc == 3 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2]);
	if (argc < 5)
		return usage();
	if (!p11_range_parse(argv[2], &r, err, sizeof(err))) {
		fprintf(stderr, "numrange-race: %s\n", err);
		return 2;
	}
	if (argc == 5 && strcmp(argv[1], "alloc") == 0)
		return alloc(&r, argv[3], strtoul(argv[4], NULL, 10));
	if (argc == 7 && strcmp(argv[1], "kill") == 0)
		return kill_rounds(&r, argv[3], (unsigned)strtoul(argv[4], NULL, 10),
		                   (unsigned)strtoul(argv[5], NULL, 10), strtoul(argv[6], NULL, 10));
	return usage();
}
