/*
 * Helpers shared by the cmocka unit tests: include after <cmocka.h>.
 * Macros and static inline functions only, so a test that does not use
 * one pays nothing and no build rule changes.
 */
#ifndef P11_TEST_SUPPORT_H
#define P11_TEST_SUPPORT_H

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define assert_contains(hay, needle)                                                    \
	do {                                                                            \
		const char *h_ = (hay), *n_ = (needle);                                 \
		if (h_ == NULL || strstr(h_, n_) == NULL)                               \
			fail_msg("'%s' does not contain '%s'", h_ ? h_ : "(null)", n_); \
	} while (0)

#define assert_not_contains(hay, needle)                                  \
	do {                                                              \
		const char *h_ = (hay), *n_ = (needle);                   \
		if (h_ != NULL && strstr(h_, n_) != NULL)                 \
			fail_msg("'%s' should not contain '%s'", h_, n_); \
	} while (0)

/* rm -r of a test's scratch folder. */
static inline void test_remove_tree(const char *path)
{
	char sub[PATH_MAX * 2];
	struct dirent *e;
	struct stat st;
	DIR *dp;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		dp = opendir(path);
		while (dp != NULL && (e = readdir(dp)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			test_remove_tree(sub);
		}
		if (dp != NULL)
			closedir(dp);
		rmdir(path);
	} else {
		unlink(path);
	}
}

#endif /* P11_TEST_SUPPORT_H */
