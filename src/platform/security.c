/*
 * File trust: who can change the configuration and the backend library
 * (include/p11-security.h says what is refused, and why).
 *
 * The path is resolved by hand, one component at a time, so that every
 * folder actually looked into, every symbolic link followed and the folders
 * of each link's target are checked, not just the final file: a writable
 * folder anywhere on the way lets another user swap what the shim reads.
 * The rules follow OpenSSH's safe_path() (auth.c), with the sticky-bit
 * exception that lets a file of one's own in /tmp pass.
 * POSIX only: src/platform/security_win32.c reads owners and DACLs instead.
 */
#include "config.h"

#include "p11-security.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define PATHBUF 4096
#define MAX_LINKS 40 /* as the kernel's MAXSYMLINKS */

static const char *owner_name(uid_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];

	/* Only on the error path: a name lookup may go through NSS modules. */
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
		snprintf(buf, len, "%s (uid %lu)", res->pw_name, (unsigned long)uid);
	else
		snprintf(buf, len, "uid %lu", (unsigned long)uid);
	return buf;
}

/* The path as a shell word: quoted when it holds anything unusual. */
static const char *shell_word(const char *s, char *buf, size_t len)
{
	size_t o = 0;
	const char *p;

	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+,:@%=") ==
	    strlen(s)) {
		snprintf(buf, len, "%s", s);
		return buf;
	}
	if (len < 3) {
		buf[0] = '\0';
		return buf;
	}
	buf[o++] = '\'';
	for (p = s; *p != '\0' && o + 6 < len; p++) {
		if (*p == '\'') {
			memcpy(buf + o, "'\\''", 4);
			o += 4;
		} else {
			buf[o++] = *p;
		}
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

static const char *writers(mode_t m)
{
	if ((m & S_IWGRP) && (m & S_IWOTH))
		return "its group and all users";
	return (m & S_IWOTH) ? "all users" : "its group";
}

static bool trusted_owner(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static p11_trust refuse_owner(const char *path, const char *what, const char *kind, const char *obj,
                              uid_t uid, char *err, size_t errlen)
{
	char who[160], me[200], word[PATHBUF + 64];

	owner_name(uid, who, sizeof(who));
	if (geteuid() == 0) {
		snprintf(me, sizeof(me), "root");
	} else {
		memcpy(me, "root or ", 8);
		owner_name(geteuid(), me + 8, sizeof(me) - 8);
	}
	if (kind == NULL)
		snprintf(err, errlen,
		         "%s: the %s belongs to %s, not to %s, so the shim refuses "
		         "it; fix: chown root %s",
		         path, what, who, me, shell_word(obj, word, sizeof(word)));
	else
		snprintf(err, errlen,
		         "%s: the %s is reached through the %s %s, which belongs to %s, not to "
		         "%s: that user could replace the %s, so the shim refuses it; fix: chown "
		         "root %s",
		         path, what, kind, obj, who, me, what, shell_word(obj, word, sizeof(word)));
	return P11_TRUST_REFUSED;
}

/* A folder the shim looks into: only trusted users may change its entries. */
static p11_trust check_dir(const char *path, const char *what, const char *dir,
                           const struct stat *st, char *err, size_t errlen)
{
	char word[PATHBUF + 64];
	mode_t m = st->st_mode;

	if (!trusted_owner(st->st_uid))
		return refuse_owner(path, what, "folder", dir, st->st_uid, err, errlen);
	/* Sticky (/tmp): others may add entries, but not rename or remove ours. */
	if ((m & (S_IWGRP | S_IWOTH)) != 0 && (m & S_ISVTX) == 0) {
		snprintf(err, errlen,
		         "%s: the %s is in the folder %s, which %s can write (mode %04o): "
		         "another user could replace the %s, so the shim refuses it; fix: chmod go-w %s",
		         path, what, dir, writers(m), (unsigned)(m & 07777), what,
		         shell_word(dir, word, sizeof(word)));
		return P11_TRUST_REFUSED;
	}
	return P11_TRUST_OK;
}

static p11_trust check_file(const char *path, const char *what, const char *real,
                            const struct stat *st, char *err, size_t errlen)
{
	char word[PATHBUF + 64];
	mode_t m = st->st_mode;

	/* /dev/null: an empty file nobody can change (P11SHIM_CONF=/dev/null). */
	if (S_ISCHR(m) && strcmp(real, "/dev/null") == 0) {
		snprintf(err, errlen, "/dev/null: empty, nobody can change it");
		return P11_TRUST_OK;
	}
	if (!S_ISREG(m)) {
		snprintf(err, errlen,
		         "%s: the %s is not a regular file (%s), so the shim refuses it; "
		         "name the file itself",
		         path, what, S_ISDIR(m) ? "a folder" : "a device or pipe");
		return P11_TRUST_REFUSED;
	}
	if (!trusted_owner(st->st_uid))
		return refuse_owner(path, what, NULL, real, st->st_uid, err, errlen);
	if ((m & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen,
		         "%s: %s can write the %s (mode %04o), so the shim refuses it; "
		         "fix: chmod go-w %s",
		         path, writers(m), what, (unsigned)(m & 07777),
		         shell_word(real, word, sizeof(word)));
		return P11_TRUST_REFUSED;
	}
	/* What was checked, for doctor. */
	snprintf(err, errlen,
	         "owner %s, mode %04o; no other user can change it or a folder on its "
	         "path",
	         owner_name(st->st_uid, word, sizeof(word)), (unsigned)(m & 07777));
	return P11_TRUST_OK;
}

/*
 * The walk's buffers, 28 KiB: on the heap, so that C_Initialize does not
 * leave them as resident stack pages in the client (issue 15's memory).
 */
typedef struct {
	char done[PATHBUF], rest[2 * PATHBUF], comp[PATHBUF], cand[PATHBUF], target[PATHBUF];
	char tmp[2 * PATHBUF];
} walk_bufs;

static p11_trust walk(const char *path, const char *what, walk_bufs *b, char *err, size_t errlen)
{
	char *done = b->done, *rest = b->rest, *comp = b->comp, *cand = b->cand;
	char *target = b->target, *tmp = b->tmp;
	struct stat st;
	int links = 0;
	p11_trust t;

	if (errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "no path given for the %s", what);
		return P11_TRUST_MISSING;
	}
	if (path[0] == '/') {
		if ((size_t)snprintf(rest, sizeof(b->rest), "%s", path) >= sizeof(b->rest))
			goto too_long;
	} else {
		if (getcwd(done, sizeof(b->done)) == NULL) {
			snprintf(err, errlen,
			         "%s: cannot tell the current folder to check the %s: %s; "
			         "write the full path",
			         path, what, strerror(errno));
			return P11_TRUST_REFUSED;
		}
		if ((size_t)snprintf(rest, sizeof(b->rest), "%s/%s", done, path) >= sizeof(b->rest))
			goto too_long;
	}
	snprintf(done, sizeof(b->done), "/");
	if (stat("/", &st) != 0 || (t = check_dir(path, what, "/", &st, err, errlen)) != P11_TRUST_OK)
		return P11_TRUST_REFUSED;

	for (;;) {
		char *p = rest;
		size_t n;
		bool last;

		while (*p == '/')
			p++;
		if (*p == '\0') {
			/* The path ends in '/': it names a folder. */
			snprintf(err, errlen,
			         "%s: the %s is a folder, not a file, so the shim refuses it; "
			         "name the file itself",
			         path, what);
			return P11_TRUST_REFUSED;
		}
		n = strcspn(p, "/");
		memcpy(comp, p, n);
		comp[n] = '\0';
		memmove(rest, p + n, strlen(p + n) + 1);
		last = rest[strspn(rest, "/")] == '\0';
		if (strcmp(comp, ".") == 0 && !last)
			continue;
		if (strcmp(comp, "..") == 0 && !last) {
			/* done has no symbolic link in it, so ".." is lexical there. */
			char *slash = strrchr(done, '/');
			if (slash == done)
				done[1] = '\0';
			else if (slash != NULL)
				*slash = '\0';
			continue;
		}
		if ((size_t)snprintf(cand, sizeof(b->cand), "%s%s%s", done, done[1] ? "/" : "",
		                     comp) >= sizeof(b->cand))
			goto too_long;
		if (lstat(cand, &st) != 0) {
			if (errno == ENOENT || errno == ENOTDIR) {
				snprintf(err, errlen, "%s: not found", path);
				return P11_TRUST_MISSING;
			}
			snprintf(err, errlen, "%s: cannot check the %s: %s: %s", path, what, cand,
			         strerror(errno));
			return P11_TRUST_REFUSED;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t len;

			/* In a sticky folder the link's owner could point it elsewhere. */
			if (!trusted_owner(st.st_uid))
				return refuse_owner(path, what, "symbolic link", cand, st.st_uid,
				                    err, errlen);
			if (++links > MAX_LINKS) {
				snprintf(err, errlen,
				         "%s: too many symbolic links on the way to the %s", path,
				         what);
				return P11_TRUST_REFUSED;
			}
			len = readlink(cand, target, sizeof(b->target) - 1);
			if (len <= 0) {
				snprintf(err, errlen, "%s: cannot read the symbolic link %s: %s",
				         path, cand, len < 0 ? strerror(errno) : "empty");
				return P11_TRUST_REFUSED;
			}
			target[len] = '\0';
			/* The target's components come next, then what was left. */
			if ((size_t)snprintf(tmp, sizeof(b->tmp), "%s%s", target, rest) >=
			    sizeof(b->rest))
				goto too_long;
			memcpy(rest, tmp, strlen(tmp) + 1);
			if (target[0] == '/')
				snprintf(done, sizeof(b->done), "/");
			continue;
		}
		if (last)
			return check_file(path, what, cand, &st, err, errlen);
		if (!S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "%s: not found (%s is not a folder)", path, cand);
			return P11_TRUST_MISSING;
		}
		if ((t = check_dir(path, what, cand, &st, err, errlen)) != P11_TRUST_OK)
			return t;
		memcpy(done, cand, strlen(cand) + 1);
	}

too_long:
	snprintf(err, errlen, "%.200s...: the path of the %s is too long to check", path, what);
	return P11_TRUST_REFUSED;
}

p11_trust p11_file_trusted(const char *path, const char *what, char *err, size_t errlen)
{
	walk_bufs *b = malloc(sizeof(*b));
	p11_trust t;

	if (b == NULL) {
		snprintf(err, errlen, "%s: out of memory checking the %s", path ? path : "?", what);
		return P11_TRUST_REFUSED;
	}
	t = walk(path, what, b, err, errlen);
	free(b);
	return t;
}
