/*
 * The card-serial number-range allocator (include/p11-numrange.h). A state
 * file that is corrupt, truncated or locked by a dead process gives a clear
 * error, never a reused number.
 *
 * The one rule: a number is returned to the caller only after a state file
 * saying "this number is handed out" is durably in place. Everything else
 * follows from it:
 *
 * - Lock. Processes serialise on a companion file STATE.lock with an fcntl
 *   write lock. The kernel drops a process's fcntl locks when it dies, so a
 *   lock "held by a dead process" cannot exist, whatever the way it died.
 *   F_SETLKW has no timeout (and alarm() is process-wide, which a library
 *   must not touch), so we poll F_SETLK until a deadline, then name the
 *   holder's pid. The lock is on a separate file, never the state file,
 *   because closing any descriptor of a file drops the process's fcntl
 *   locks on it, and the state file is opened, replaced and reopened while
 *   the lock is held. STATE.lock is never deleted: a process waiting on an
 *   unlinked lock file would lock a different inode than a newcomer.
 *
 * - Threads. fcntl locks belong to the process: a second thread would "get"
 *   the lock its sibling holds. A process-wide mutex serialises
 *   p11_range_next across threads first (the only static object here: it
 *   guards the lock file, no state is kept between calls).
 *
 * - State. A small text file, read whole under the lock:
 *       p11shim-numrange 1
 *       range 000100-000199
 *       last 000123
 *   The first line is a magic and version, so a foreign file is detected;
 *   exactly three complete lines are required, so a truncated file is
 *   detected (truncation cannot add the final newline). An empty, truncated
 *   or unparsable file is an error, never "start again": that would reuse
 *   numbers. A missing file means nothing handed out yet; deleting it
 *   restarts the range at FIRST, which is therefore only for a range no
 *   card uses yet.
 *
 * - Update. The new state goes to STATE.tmp.PID (0600), is fsync'ed and
 *   renamed over STATE, then the directory is fsync'ed; only then is the
 *   number returned. Killed before the rename: the old state stays and the
 *   number was never handed out. Killed after it: the number is recorded
 *   but never used, a gap. A leftover STATE.tmp.PID of a killed process is
 *   garbage and may be deleted (we hold the lock whenever we write one, so
 *   truncating a stale one of a recycled pid is harmless).
 *
 * - Range changes. The state records its range. A new configured range may
 *   continue from the state when the last number lies inside it (next is
 *   last + 1) or below its FIRST (next is FIRST); when the last number lies
 *   above the new LAST, numbers of the new range may be in use: an error.
 *
 * The OS calls (the lock file, fsync, the atomic replace, the folder sync)
 * are behind include/p11-compat.h: fcntl, fsync and rename on POSIX;
 * LockFileEx (also released when a process dies), _commit and MoveFileEx
 * with MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH on Windows.
 */
#include "config.h"

#include "p11-numrange.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "p11-compat.h"

#define MAGIC "p11shim-numrange"
#define FORMAT_VERSION 1
/* A valid state is under 100 bytes; anything much bigger is not ours. */
#define STATE_MAX 512
/* Poll interval while another process holds the lock: 1..10 ms, jittered. */
#define POLL_MAX_US 10000

/* What to do with a state file we cannot trust (shared by several errors). */
#define FIX_CORRUPT                                                                         \
	"numbers may already be in use, so it is not restarted: restore it from a backup, " \
	"or write the last number handed out as three lines 'p11shim-numrange 1', "         \
	"'range FIRST-LAST', 'last N'; delete it only if no number of the range is in use yet"

typedef struct {
	p11_range range;
	unsigned long long last;
} state;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Reads a decimal number at *pp: 0 and *pp after it, or -1 when there is
 * no digit, -2 when it has more than P11_RANGE_MAX_DIGITS digits.
 */
static int scan_number(const char **pp, unsigned long long *value, unsigned *digits)
{
	const char *p = *pp;
	unsigned long long v = 0;
	unsigned n = 0;

	while (*p >= '0' && *p <= '9') {
		if (n == P11_RANGE_MAX_DIGITS)
			return -2;
		v = v * 10 + (unsigned)(*p - '0');
		n++;
		p++;
	}
	if (n == 0)
		return -1;
	*pp = p;
	*value = v;
	*digits = n;
	return 0;
}

#define RANGE_EXAMPLE "write FIRST-LAST with decimal numbers, e.g. 000100-000199"

bool p11_range_parse(const char *text, p11_range *r, char *err, size_t errlen)
{
	const char *p = text;
	unsigned long long first, last;
	unsigned wfirst, wlast;
	int rc;

	if (text == NULL || r == NULL) {
		seterr(err, errlen, "no number range given; " RANGE_EXAMPLE);
		return false;
	}
	while (is_blank(*p))
		p++;
	if (*p == '\0') {
		seterr(err, errlen, "the number range is empty; " RANGE_EXAMPLE);
		return false;
	}
	rc = scan_number(&p, &first, &wfirst);
	if (rc == -1) {
		seterr(err, errlen,
		       "number range '%.80s': FIRST is not a decimal number; " RANGE_EXAMPLE, text);
		return false;
	}
	if (rc == -2) {
		seterr(err, errlen,
		       "number range '%.80s': FIRST has more than %d digits; use at most %d", text,
		       P11_RANGE_MAX_DIGITS, P11_RANGE_MAX_DIGITS);
		return false;
	}
	while (is_blank(*p))
		p++;
	if (*p != '-') {
		seterr(err, errlen, "number range '%.80s': no '-' after FIRST; " RANGE_EXAMPLE, text);
		return false;
	}
	p++;
	while (is_blank(*p))
		p++;
	rc = scan_number(&p, &last, &wlast);
	if (rc == -1) {
		seterr(err, errlen,
		       "number range '%.80s': LAST is not a decimal number; " RANGE_EXAMPLE, text);
		return false;
	}
	if (rc == -2) {
		seterr(err, errlen,
		       "number range '%.80s': LAST has more than %d digits; use at most %d", text,
		       P11_RANGE_MAX_DIGITS, P11_RANGE_MAX_DIGITS);
		return false;
	}
	while (is_blank(*p))
		p++;
	if (*p != '\0') {
		seterr(err, errlen,
		       "number range '%.80s': unexpected text after LAST; " RANGE_EXAMPLE, text);
		return false;
	}
	if (first > last) {
		seterr(err, errlen,
		       "number range '%.80s': FIRST %llu is above LAST %llu; "
		       "write the lower number first",
		       text, first, last);
		return false;
	}
	r->first = first;
	r->last = last;
	r->width = wfirst;
	return true;
}

/* A number as the range writes it: zero-padded to the width of FIRST. */
static void format_number(const p11_range *r, unsigned long long n, char *buf, size_t len)
{
	snprintf(buf, len, "%0*llu", (int)r->width, n);
}

static void format_range(const p11_range *r, char *buf, size_t len)
{
	snprintf(buf, len, "%0*llu-%0*llu", (int)r->width, r->first, (int)r->width, r->last);
}

/* The line [*pp, newline) when it starts with prefix; NULL otherwise. */
static const char *take_line(const char **pp, const char *end, const char *prefix, char *line,
                             size_t linelen)
{
	const char *p = *pp, *nl;
	size_t n, plen = strlen(prefix);

	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		return NULL;
	n = (size_t)(nl - p);
	if (n < plen || memcmp(p, prefix, plen) != 0 || n - plen >= linelen)
		return NULL;
	memcpy(line, p + plen, n - plen);
	line[n - plen] = '\0';
	*pp = nl + 1;
	return line;
}

/*
 * Reads and checks the state file: 1 and *st when it exists, 0 when it
 * does not (nothing handed out yet), -1 with err when it cannot be read
 * or trusted.
 */
static int read_state(const char *path, state *st, char *err, size_t errlen)
{
	char buf[STATE_MAX + 1], line[128], first[48];
	const char *p, *end;
	unsigned long long last;
	unsigned digits;
	struct stat sb;
	size_t len = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | COMPAT_O_PRIVATE);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		/* Windows cannot open() a folder at all: say what it is. */
		if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
			seterr(err, errlen,
			       "%s: the number-range state is not a regular file; set "
			       "[serial] NumberRangeState to a file path",
			       path);
			return -1;
		}
		seterr(err, errlen,
		       "%s: cannot open the number-range state: %s; NumberRangeState "
		       "must be readable and writable by the user of the shim",
		       path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		seterr(err, errlen,
		       "%s: the number-range state is not a regular file; set "
		       "[serial] NumberRangeState to a file path",
		       path);
		close(fd);
		return -1;
	}
	for (;;) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			seterr(err, errlen, "%s: cannot read the number-range state: %s", path,
			       strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0 || (len += (size_t)n) == sizeof(buf))
			break;
	}
	close(fd);

	if (len == 0) {
		seterr(err, errlen,
		       "%s: the number-range state is empty (a crash, a full disk or "
		       "an editor may have truncated it); " FIX_CORRUPT,
		       path);
		return -1;
	}
	if (len > STATE_MAX || memchr(buf, '\0', len) != NULL) {
		seterr(err, errlen,
		       "%s: not a p11shim number-range state file (binary or too "
		       "large); check [serial] NumberRangeState names the right file",
		       path);
		return -1;
	}
	p = buf;
	end = buf + len;

	/* Line 1: the magic, so that a foreign file is never taken for a state. */
	if (len < sizeof(MAGIC) && memcmp(buf, MAGIC, len) == 0) {
		seterr(err, errlen,
		       "%s: the number-range state is truncated (in its first line); " FIX_CORRUPT,
		       path);
		return -1;
	}
	if (len < sizeof(MAGIC) || memcmp(buf, MAGIC " ", sizeof(MAGIC)) != 0) {
		seterr(err, errlen,
		       "%s: not a p11shim number-range state file (it does not start "
		       "with '" MAGIC "'); check [serial] NumberRangeState names the right file",
		       path);
		return -1;
	}
	if (take_line(&p, end, MAGIC " ", line, sizeof(line)) == NULL) {
		seterr(err, errlen,
		       "%s: the number-range state is truncated (in its first line); " FIX_CORRUPT,
		       path);
		return -1;
	}
	if (strcmp(line, "1") != 0) {
		seterr(err, errlen,
		       "%s: number-range state format '%.20s' is not known to this "
		       "p11shim (it knows %d); use the p11shim version that wrote it",
		       path, line, FORMAT_VERSION);
		return -1;
	}

	/*
	 * Line 2: the range it was written for. A line without its newline is
	 * a truncated file (truncation never adds one); otherwise it is corrupt.
	 */
	if (memchr(p, '\n', (size_t)(end - p)) == NULL) {
		seterr(err, errlen,
		       "%s: the number-range state is truncated (before or in its "
		       "'range' line); " FIX_CORRUPT,
		       path);
		return -1;
	}
	if (take_line(&p, end, "range ", line, sizeof(line)) == NULL ||
	    !p11_range_parse(line, &st->range, NULL, 0)) {
		seterr(err, errlen,
		       "%s: the number-range state is corrupt (its 'range' line); " FIX_CORRUPT,
		       path);
		return -1;
	}

	/* Line 3: the last number handed out, inside that range. */
	if (memchr(p, '\n', (size_t)(end - p)) == NULL) {
		seterr(err, errlen,
		       "%s: the number-range state is truncated (before or in its "
		       "'last' line); " FIX_CORRUPT,
		       path);
		return -1;
	}
	if (take_line(&p, end, "last ", line, sizeof(line)) == NULL) {
		seterr(err, errlen,
		       "%s: the number-range state is corrupt (its 'last' line); " FIX_CORRUPT, path);
		return -1;
	}
	{
		const char *q = line;
		if (scan_number(&q, &last, &digits) != 0 || *q != '\0') {
			seterr(err, errlen,
			       "%s: the number-range state is corrupt ('last %.40s' is "
			       "not a number); " FIX_CORRUPT,
			       path, line);
			return -1;
		}
	}
	if (last < st->range.first || last > st->range.last) {
		format_range(&st->range, first, sizeof(first));
		seterr(err, errlen,
		       "%s: the number-range state is corrupt (last %llu is outside "
		       "its range %s); " FIX_CORRUPT,
		       path, last, first);
		return -1;
	}
	if (p != end) {
		seterr(err, errlen,
		       "%s: the number-range state is corrupt (text after the 'last' "
		       "line); " FIX_CORRUPT,
		       path);
		return -1;
	}
	st->last = last;
	return 1;
}

/*
 * Where the configured range stands given the state: 0 and *next (the
 * number to hand out; r->last + 1 when exhausted) and *any (a number of r
 * was handed out), or -1 when the state's last number lies above r.
 */
static int position(const p11_range *r, const char *path, const state *st, int have,
                    unsigned long long *next, bool *any, char *err, size_t errlen)
{
	char want[48], was[48], last[32];

	if (!have || st->last < r->first) {
		*next = r->first;
		*any = false;
		return 0;
	}
	if (st->last <= r->last) {
		*next = st->last + 1;
		*any = true;
		return 0;
	}
	format_range(r, want, sizeof(want));
	format_range(&st->range, was, sizeof(was));
	format_number(&st->range, st->last, last, sizeof(last));
	seterr(err, errlen,
	       "%s: the last number handed out, %s, lies above the configured range "
	       "%s (the state was written for %s), so numbers of that range may be in use; set "
	       "[serial] NumberRange to start above %s, or NumberRangeState to a state of this range",
	       path, last, want, was, last);
	return -1;
}

static bool check_args(const p11_range *r, const char *path, char *err, size_t errlen)
{
	if (r == NULL || r->first > r->last) {
		seterr(err, errlen, "no valid number range; set [serial] NumberRange = FIRST-LAST");
		return false;
	}
	if (path == NULL || path[0] == '\0') {
		seterr(err, errlen,
		       "no number-range state file; set [serial] NumberRangeState "
		       "to a file the shim may write (it records the last number handed out)");
		return false;
	}
	return true;
}

int p11_range_status(const p11_range *r, const char *state_path, unsigned long long *last,
                     bool *any, char *err, size_t errlen)
{
	unsigned long long next = 0;
	state st;
	int have;

	if (!check_args(r, state_path, err, errlen))
		return -1;
	have = read_state(state_path, &st, err, errlen);
	if (have < 0)
		return -1;
	if (position(r, state_path, &st, have, &next, any, err, errlen) < 0)
		return -1;
	if (*any && last != NULL)
		*last = next - 1;
	return 0;
}

static int64_t mono_ms(void)
{
	return compat_mono_ns() / 1000000;
}

/*
 * Takes the write lock on lock_path by deadline (mono_ms): the lock, or NULL
 * with err. timeout_ms is the caller's whole wait, for the message: the
 * deadline may be nearer when the thread first waited for a sibling.
 */
static compat_lockfile *take_lock(const char *lock_path, int64_t deadline, unsigned timeout_ms,
                                  char *err, size_t errlen)
{
	unsigned seed = (unsigned)compat_pid() ^ (unsigned)deadline;
	compat_lockfile *lock;
	char why[256];
	int rc;

	lock = compat_lockfile_open(lock_path, why, sizeof(why));
	if (lock == NULL) {
		seterr(err, errlen,
		       "%s: cannot open the number-range lock file: %s; the folder of "
		       "NumberRangeState must be writable by the user of the shim",
		       lock_path, why);
		return NULL;
	}
	for (;;) {
		rc = compat_lockfile_try(lock, why, sizeof(why));
		if (rc == 0)
			return lock;
		if (rc < 0) {
			seterr(err, errlen, "%s: cannot lock the number-range state: %s", lock_path,
			       why);
			break;
		}
		if (mono_ms() >= deadline) {
			/* Who holds it? The system tells; a dead process would hold nothing. */
			unsigned long holder = compat_lockfile_holder(lock);
			if (holder != 0)
				seterr(err, errlen,
				       "%s: process %lu has held the number-range lock for "
				       "more than %u ms; look for that process (an encoder or "
				       "'p11shim serial') and end it if it hangs (a process that dies "
				       "releases the lock by itself)",
				       lock_path, holder, timeout_ms);
			else
				seterr(err, errlen,
				       "%s: another process (on another host?) has held the "
				       "number-range lock for more than %u ms; look for a hung encoder or "
				       "'p11shim serial' using this state file",
				       lock_path, timeout_ms);
			break;
		}
		/* Jitter, so that waiting processes do not wake in lock step. */
		seed = seed * 1103515245u + 12345u;
		compat_sleep_us(1000 + (seed >> 8) % (POLL_MAX_US - 1000));
	}
	compat_lockfile_close(lock);
	return NULL;
}

/* write() all of buf, across short writes and signals. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Replaces the state at path with (r, last) atomically and durably:
 * 0, or -1 with err and the old state still in place (unless only the
 * folder sync failed, when the new state may be there too: a gap).
 */
static int write_state(const char *path, const p11_range *r, unsigned long long last, char *err,
                       size_t errlen)
{
	char tmp[PATH_MAX], text[128], rtext[48], ltext[32];
	int fd, len;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%lu", path, compat_pid()) >= sizeof(tmp)) {
		seterr(err, errlen, "%s: the path is too long; use a shorter NumberRangeState", path);
		return -1;
	}
	format_range(r, rtext, sizeof(rtext));
	format_number(r, last, ltext, sizeof(ltext));
	len = snprintf(text, sizeof(text), MAGIC " %d\nrange %s\nlast %s\n", FORMAT_VERSION, rtext,
	               ltext);

	/* 0600: the state is nobody else's business, and nobody else's to change. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | COMPAT_O_PRIVATE, 0600);
	if (fd < 0) {
		seterr(err, errlen,
		       "%s: cannot create the new number-range state: %s; the folder "
		       "of NumberRangeState must be writable by the user of the shim",
		       tmp, strerror(errno));
		return -1;
	}
	/* Synced before the rename, else a power loss could leave an empty STATE. */
	if (write_all(fd, text, (size_t)len) < 0 || compat_fsync(fd) < 0) {
		seterr(err, errlen,
		       "%s: cannot write the new number-range state: %s; free disk "
		       "space or fix the folder of NumberRangeState",
		       tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		seterr(err, errlen, "%s: cannot write the new number-range state: %s", tmp,
		       strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (compat_replace_file(tmp, path) < 0) {
		seterr(err, errlen,
		       "%s: cannot replace the number-range state: %s; the folder of "
		       "NumberRangeState must be writable by the user of the shim",
		       path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (compat_sync_dir(path) < 0) {
		/* The number is recorded but might not survive a power loss: never hand it out. */
		seterr(err, errlen,
		       "%s: cannot sync the folder of the number-range state: %s; "
		       "no number was handed out, try again",
		       path, strerror(errno));
		return -1;
	}
	return 0;
}

static unsigned count_digits(unsigned long long n)
{
	unsigned d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

static int next_inlock(const p11_range *r, const char *path, int64_t deadline, unsigned timeout_ms,
                       char *out, size_t outlen, char *err, size_t errlen)
{
	char lock_path[PATH_MAX], rtext[48], ltext[32];
	unsigned long long next = 0;
	compat_lockfile *lock;
	unsigned need;
	state st;
	bool any;
	int have, rc = -1;

	if ((size_t)snprintf(lock_path, sizeof(lock_path), "%s.lock", path) >= sizeof(lock_path)) {
		seterr(err, errlen, "%s: the path is too long; use a shorter NumberRangeState", path);
		return -1;
	}
	lock = take_lock(lock_path, deadline, timeout_ms, err, errlen);
	if (lock == NULL)
		return -1;

	have = read_state(path, &st, err, errlen);
	if (have < 0)
		goto out;
	if (position(r, path, &st, have, &next, &any, err, errlen) < 0)
		goto out;
	if (next > r->last) {
		format_range(r, rtext, sizeof(rtext));
		format_number(r, r->last, ltext, sizeof(ltext));
		seterr(err, errlen,
		       "%s: number range %s is exhausted (last handed out: %s); widen "
		       "[serial] NumberRange or configure a new range",
		       path, rtext, ltext);
		goto out;
	}
	/* Checked before recording the number: once recorded it can never be returned again. */
	need = count_digits(next);
	if (need < r->width)
		need = r->width;
	if (out == NULL || outlen <= need) {
		seterr(err, errlen, "buffer of %zu bytes too small for a number of %u digits",
		       out == NULL ? (size_t)0 : outlen, need);
		goto out;
	}
	if (write_state(path, r, next, err, errlen) < 0)
		goto out;
	format_number(r, next, out, outlen);
	rc = 0;
out:
	compat_lockfile_close(lock); /* releases the lock */
	return rc;
}

int p11_range_next_wait(const p11_range *r, const char *state_path, unsigned timeout_ms, char *out,
                        size_t outlen, char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + timeout_ms;
	int rc;

	if (!check_args(r, state_path, err, errlen))
		return -1;
	/*
	 * The thread's wait for the mutex counts against the same timeout, so
	 * that a thread queued behind a sibling that waits for a hung process
	 * gives up in time too.
	 */
	if (!compat_global_timedlock(COMPAT_GLOBAL_NUMRANGE, timeout_ms)) {
		seterr(err, errlen,
		       "%s: another thread of this process has waited for the "
		       "number-range lock for more than %u ms; look for a hung encoder or "
		       "'p11shim serial' using this state file",
		       state_path, timeout_ms);
		return -1;
	}
	rc = next_inlock(r, state_path, deadline, timeout_ms, out, outlen, err, errlen);
	compat_global_unlock(COMPAT_GLOBAL_NUMRANGE);
	return rc;
}

int p11_range_next(const p11_range *r, const char *state_path, char *out, size_t outlen, char *err,
                   size_t errlen)
{
	return p11_range_next_wait(r, state_path, P11_RANGE_LOCK_TIMEOUT_MS, out, outlen, err,
	                           errlen);
}
