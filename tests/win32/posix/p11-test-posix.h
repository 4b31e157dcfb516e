/*
 * The POSIX calls the unit tests make, for the Windows build of the tests
 * only (tests/win32/local.mk force-includes this header): environment,
 * temporary folders, two-argument mkdir, lstat. The product code never
 * sees it: it has include/p11-compat.h. What Windows cannot do at all
 * (fork, a signal from another process) the tests skip, saying why.
 */
#ifndef P11_TEST_POSIX_H
#define P11_TEST_POSIX_H
#ifdef _WIN32

/* First, as in every .c of the project (_WIN32_WINNT, C99 printf...); the
 * test's own #include of it repeats identical definitions only. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <direct.h>
#include <errno.h>
#include <io.h>
#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static inline int p11_test_setenv(const char *name, const char *value, int overwrite)
{
	if (!overwrite && getenv(name) != NULL)
		return 0;
	return _putenv_s(name, value) == 0 ? 0 : -1;
}
#define setenv p11_test_setenv

static inline int p11_test_unsetenv(const char *name)
{
	return _putenv_s(name, "") == 0 ? 0 : -1;
}
#define unsetenv p11_test_unsetenv

/*
 * The tests' scratch folders go to Windows' own temporary folder (%TEMP%),
 * not to "/tmp": under Wine that is the Unix /tmp, which every user may
 * write, and Wine shows no sticky bit, so the shim's tamper check rightly
 * refuses a configuration there. Wine itself keeps the Unix TMPDIR.
 */
static inline char *p11_test_getenv(const char *name)
{
	if (strcmp(name, "TMPDIR") == 0 && getenv("TEMP") != NULL)
		return getenv("TEMP");
	return getenv(name);
}
#define getenv p11_test_getenv

static inline char *p11_test_mkdtemp(char *tmpl)
{
	if (_mktemp_s(tmpl, strlen(tmpl) + 1) != 0 || _mkdir(tmpl) != 0)
		return NULL;
	return tmpl;
}
#define mkdtemp p11_test_mkdtemp

/* No symbolic links for the tests to see. */
#define lstat stat

/* The mode is the folder's ACL's business on Windows. */
#define mkdir(path, mode) _mkdir(path)

#endif /* _WIN32 */
#endif /* P11_TEST_POSIX_H */
