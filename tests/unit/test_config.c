/*
 * Unit tests for src/core/config.c (include/p11-config.h; DESIGN.md,
 * Configuration): precedence of defaults, system file, user file,
 * P11SHIM_CONF and the quick-use variables; syntax; mapped fields; every
 * error with its message; conf/p11shim.conf documenting every key.
 *
 * Every configuration file is written by the test into its own mkdtemp
 * folder; nothing outside it is read except conf/p11shim.conf.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-support.h"

#include "p11-config.h"

/* The environment variables the tests set: none may leak into another test. */
static const char *const test_vars[] = {
	"P11SHIM_TEST_FILE",   "P11SHIM_TEST_ENABLE", "P11SHIM_TEST_SIZE",
	"P11SHIM_TEST_FORMAT", "P11SHIM_TEST_LIB",    "P11SHIM_TEST_UNSET",
};

static char dir[256];
static char err[1024];

static void clear_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(test_vars) / sizeof(test_vars[0]); i++)
		unsetenv(test_vars[i]);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/p11shim-test-config-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	clear_env();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	clear_env();
	test_remove_tree(dir);
	return 0;
}

static int test_teardown(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

/* Writes text (exactly, NUL excluded) to dir/name; the full path goes to path. */
static void write_conf(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Loads a configuration made of one P11SHIM_CONF file with this text. */
static p11_config *load_text(const char *text, char *path, size_t len)
{
	p11_config_sources src = { 0 };

	write_conf("p11shim.conf", text, path, len);
	src.conf_env_file = path;
	err[0] = '\0';
	return p11_config_load(&src, err, sizeof(err));
}

/* The raw value with its origin, file and line, checked in one go. */
static void expect_raw(const p11_config *cfg, p11_key key, const char *value, p11_origin origin,
                       const char *file, unsigned line)
{
	p11_origin o = (p11_origin)-1;
	const char *f = (const char *)1;
	unsigned l = 12345;
	const char *v;

	v = p11_config_raw(cfg, key, &o, &f, &l);
	assert_non_null(v);
	assert_string_equal(v, value);
	assert_int_equal(o, origin);
	if (file == NULL)
		assert_null(f);
	else
		assert_string_equal(f, file);
	assert_int_equal(l, line);
}

/*
 * A configuration that must be refused: NULL, and one line starting with
 * "FILE:LINE: " (or "FILE: " when line is 0) holding every needle.
 */
static void expect_error(const char *text, unsigned line, ...)
{
	char path[PATH_MAX], prefix[PATH_MAX + 32];
	const char *needle;
	p11_config *cfg;
	va_list ap;

	cfg = load_text(text, path, sizeof(path));
	if (cfg != NULL) {
		p11_config_free(cfg);
		fail_msg("configuration accepted: %s", text);
	}
	if (line)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
	assert_null(strchr(err, '\n'));
	va_start(ap, line);
	while ((needle = va_arg(ap, const char *)) != NULL)
		assert_contains(err, needle);
	va_end(ap);
}

/* ---- precedence ---- */

static void test_defaults(void **state)
{
	p11_config_sources src = { 0 };
	p11_config *cfg;
	uint64_t size = 0;
	bool b = true;
	int k;

	(void)state;
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	for (k = 0; k < P11_KEY_COUNT; k++) {
		expect_raw(cfg, (p11_key)k, p11_config_default((p11_key)k), P11_ORIGIN_DEFAULT,
		           NULL, 0);
		assert_string_equal(p11_config_get(cfg, (p11_key)k, err, sizeof(err)),
		                    p11_config_default((p11_key)k));
	}
	/* What the trace layer reads of an empty configuration. */
	assert_true(p11_config_bool(cfg, P11_KEY_TRACE_ENABLE, &b, err, sizeof(err)));
	assert_false(b);
	assert_true(p11_config_size(cfg, P11_KEY_TRACE_MAXSIZE, &size, err, sizeof(err)));
	assert_int_equal(size, 64ULL << 20);
	assert_string_equal(p11_config_get(cfg, P11_KEY_TRACE_FORMAT, err, sizeof(err)), "jsonl");
	assert_string_equal(p11_config_get(cfg, P11_KEY_TRACE_DATA, err, sizeof(err)), "length");
	assert_string_equal(p11_config_get(cfg, P11_KEY_LIBRARY, err, sizeof(err)), "");
	p11_config_free(cfg);
	p11_config_free(NULL);
}

static void test_system_file(void **state)
{
	p11_config_sources src = { 0 };
	char sys[PATH_MAX];
	p11_config *cfg;

	(void)state;
	write_conf("system.conf",
	           "[backend]\n"
	           "PKCS11Library = /usr/lib/softhsm/libsofthsm2.so\n"
	           "[trace]\n"
	           "File = /var/log/p11shim.jsonl\n",
	           sys, sizeof(sys));
	src.system_file = sys;
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_LIBRARY, "/usr/lib/softhsm/libsofthsm2.so", P11_ORIGIN_SYSTEM, sys,
	           2);
	expect_raw(cfg, P11_KEY_TRACE_FILE, "/var/log/p11shim.jsonl", P11_ORIGIN_SYSTEM, sys, 4);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "jsonl", P11_ORIGIN_DEFAULT, NULL, 0);
	p11_config_free(cfg);
}

static void test_user_overrides_system(void **state)
{
	p11_config_sources src = { 0 };
	char sys[PATH_MAX], user[PATH_MAX];
	p11_config *cfg;
	uint64_t size;

	(void)state;
	write_conf("system.conf",
	           "[backend]\n"
	           "PKCS11Library = /system/lib.so\n"
	           "[trace]\n"
	           "File = /system/trace.jsonl\n"
	           "Format = text\n"
	           "Data = hex\n",
	           sys, sizeof(sys));
	write_conf("user.conf",
	           "; the user's own file\n"
	           "[trace]\n"
	           "Format = jsonl\n"
	           "MaxSize = 1M\n",
	           user, sizeof(user));
	src.system_file = sys;
	src.user_file = user;
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	/* Key by key: the user file wins where it says something. */
	expect_raw(cfg, P11_KEY_LIBRARY, "/system/lib.so", P11_ORIGIN_SYSTEM, sys, 2);
	expect_raw(cfg, P11_KEY_TRACE_FILE, "/system/trace.jsonl", P11_ORIGIN_SYSTEM, sys, 4);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "jsonl", P11_ORIGIN_USER, user, 3);
	expect_raw(cfg, P11_KEY_TRACE_DATA, "hex", P11_ORIGIN_SYSTEM, sys, 6);
	expect_raw(cfg, P11_KEY_TRACE_MAXSIZE, "1M", P11_ORIGIN_USER, user, 4);
	expect_raw(cfg, P11_KEY_TRACE_ENABLE, "false", P11_ORIGIN_DEFAULT, NULL, 0);
	assert_true(p11_config_size(cfg, P11_KEY_TRACE_MAXSIZE, &size, err, sizeof(err)));
	assert_int_equal(size, 1 << 20);
	p11_config_free(cfg);
}

static void test_conf_env_replaces_both(void **state)
{
	p11_config_sources src = { 0 };
	char sys[PATH_MAX], user[PATH_MAX], env[PATH_MAX];
	p11_config *cfg;

	(void)state;
	write_conf("system.conf", "[trace]\nFile = /system/trace\nFormat = text\n", sys, sizeof(sys));
	write_conf("user.conf", "[trace]\nMaxSize = 1K\n", user, sizeof(user));
	write_conf("env.conf", "\n[trace]\nData = none\n", env, sizeof(env));
	src.system_file = sys;
	src.user_file = user;
	src.conf_env_file = env;
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	/* Neither file was read: their keys keep the defaults. */
	expect_raw(cfg, P11_KEY_TRACE_FILE, "", P11_ORIGIN_DEFAULT, NULL, 0);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "jsonl", P11_ORIGIN_DEFAULT, NULL, 0);
	expect_raw(cfg, P11_KEY_TRACE_MAXSIZE, "64M", P11_ORIGIN_DEFAULT, NULL, 0);
	expect_raw(cfg, P11_KEY_TRACE_DATA, "none", P11_ORIGIN_CONF_ENV, env, 3);
	p11_config_free(cfg);

	/* Even a broken system file does not matter then. */
	write_conf("system.conf", "[nonsense\n", sys, sizeof(sys));
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	p11_config_free(cfg);
}

static void test_env_overrides_files(void **state)
{
	p11_config_sources src = { 0 };
	char sys[PATH_MAX], env[PATH_MAX];
	p11_config *cfg;

	(void)state;
	write_conf("system.conf",
	           "[backend]\nPKCS11Library = /system/lib.so\n[trace]\nFile = /system/t\n", sys,
	           sizeof(sys));
	src.system_file = sys;
	src.env_library = "/env/real-module.so";
	src.env_trace = "/env/trace.jsonl";
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_LIBRARY, "/env/real-module.so", P11_ORIGIN_ENV, "P11SHIM_LIBRARY", 0);
	expect_raw(cfg, P11_KEY_TRACE_FILE, "/env/trace.jsonl", P11_ORIGIN_ENV, "P11SHIM_TRACE", 0);
	p11_config_free(cfg);

	/* Over P11SHIM_CONF too. */
	write_conf("env.conf", "[backend]\nPKCS11Library = /conf/lib.so\n[trace]\nFile = /conf/t\n",
	           env, sizeof(env));
	src.conf_env_file = env;
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_LIBRARY, "/env/real-module.so", P11_ORIGIN_ENV, "P11SHIM_LIBRARY", 0);
	expect_raw(cfg, P11_KEY_TRACE_FILE, "/env/trace.jsonl", P11_ORIGIN_ENV, "P11SHIM_TRACE", 0);
	p11_config_free(cfg);

	/* Quick use without any file. */
	src.system_file = src.user_file = src.conf_env_file = NULL;
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_LIBRARY, "/env/real-module.so", P11_ORIGIN_ENV, "P11SHIM_LIBRARY", 0);
	p11_config_free(cfg);

	/* An empty variable is as good as unset. */
	src.system_file = sys;
	src.env_library = "";
	src.env_trace = "";
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_LIBRARY, "/system/lib.so", P11_ORIGIN_SYSTEM, sys, 2);
	expect_raw(cfg, P11_KEY_TRACE_FILE, "/system/t", P11_ORIGIN_SYSTEM, sys, 4);
	p11_config_free(cfg);
}

static void test_missing_optional_files(void **state)
{
	p11_config_sources src = { 0 };
	char sys[PATH_MAX], user[PATH_MAX];
	p11_config *cfg;

	(void)state;
	snprintf(sys, sizeof(sys), "%s/no-such-system.conf", dir);
	snprintf(user, sizeof(user), "%s/no-such-dir/p11shim.conf", dir);
	src.system_file = sys;
	src.user_file = user;
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "jsonl", P11_ORIGIN_DEFAULT, NULL, 0);
	p11_config_free(cfg);
}

/* ---- syntax ---- */

static void test_syntax(void **state)
{
	char path[PATH_MAX];
	p11_config *cfg;

	(void)state;
	cfg = load_text("# a comment\n"                                 /* 1 */
	                "; another comment\n"                           /* 2 */
	                "\n"                                            /* 3 */
	                "   \t  \n"                                     /* 4 */
	                "   # indented comment = with an equals sign\n" /* 5 */
	                "[BACKEND]\n"                                   /* 6 */
	                "pkcs11library=/opt/a b/lib.so\n"               /* 7 */
	                "  [ Trace ]  \n"                               /* 8 */
	                "\tFORMAT\t=\tTEXT\t\n"                         /* 9 */
	                "file = \"  /tmp/with spaces  \"\n"             /* 10 */
	                "Data = \"hex\"\r\n"                            /* 11 */
	                "MaxSize = 4k\r\n"                              /* 12 */
	                "enable = \"\"\n" /* 13: "" is empty, refused */
	                ,
	                path, sizeof(path));
	/* An empty boolean is not a boolean. */
	assert_null(cfg);
	assert_contains(err, ":13: ");
	assert_contains(err, "Enable");

	cfg = load_text("# a comment\n"                                 /* 1 */
	                "; another comment\n"                           /* 2 */
	                "\n"                                            /* 3 */
	                "   \t  \n"                                     /* 4 */
	                "   # indented comment = with an equals sign\n" /* 5 */
	                "   ; PKCS11Library = /not/this\n"              /* 6 */
	                "[BACKEND]\n"                                   /* 7 */
	                "pkcs11library=/opt/a b/lib.so\n"               /* 8 */
	                "  [ Trace ]  \n"                               /* 9 */
	                "\tFORMAT\t=\tTEXT\t\n"                         /* 10 */
	                "file = \"  /tmp/with spaces  \"\n"             /* 11 */
	                "Data = \"hex\"\r\n"                            /* 12 */
	                "MaxSize = 4k\r\n"                              /* 13 */
	                "ENABLE = Yes",                                 /* 14, no newline */
	                path, sizeof(path));
	if (cfg == NULL)
		fail_msg("%s", err);
	expect_raw(cfg, P11_KEY_LIBRARY, "/opt/a b/lib.so", P11_ORIGIN_CONF_ENV, path, 8);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "TEXT", P11_ORIGIN_CONF_ENV, path, 10);
	/* One pair of quotes removed, what is inside kept as written. */
	expect_raw(cfg, P11_KEY_TRACE_FILE, "  /tmp/with spaces  ", P11_ORIGIN_CONF_ENV, path, 11);
	/* CRLF line ends, as Windows editors write. */
	expect_raw(cfg, P11_KEY_TRACE_DATA, "hex", P11_ORIGIN_CONF_ENV, path, 12);
	expect_raw(cfg, P11_KEY_TRACE_MAXSIZE, "4k", P11_ORIGIN_CONF_ENV, path, 13);
	expect_raw(cfg, P11_KEY_TRACE_ENABLE, "Yes", P11_ORIGIN_CONF_ENV, path, 14);
	p11_config_free(cfg);
}

static void test_value_with_equals_and_hash(void **state)
{
	char path[PATH_MAX];
	p11_config *cfg;

	(void)state;
	/* Only the first '=' separates; '#' inside a value is not a comment. */
	cfg = load_text("[trace]\nFile = /tmp/a=b#c;d.jsonl\n", path, sizeof(path));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_TRACE_FILE, "/tmp/a=b#c;d.jsonl", P11_ORIGIN_CONF_ENV, path, 2);
	p11_config_free(cfg);

	/* An empty string value is fine for a string key. */
	cfg = load_text("[trace]\nFile =\n", path, sizeof(path));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_TRACE_FILE, "", P11_ORIGIN_CONF_ENV, path, 2);
	p11_config_free(cfg);
}

static void test_utf8_bom(void **state)
{
	char path[PATH_MAX];
	p11_config *cfg;

	(void)state;
	cfg = load_text("\xEF\xBB\xBF[trace]\nFormat = text\n", path, sizeof(path));
	if (cfg == NULL)
		fail_msg("%s", err);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "text", P11_ORIGIN_CONF_ENV, path, 2);
	p11_config_free(cfg);

	cfg = load_text("\xEF\xBB\xBF# written by Notepad\r\n[trace]\r\nData = none\r\n", path,
	                sizeof(path));
	if (cfg == NULL)
		fail_msg("%s", err);
	expect_raw(cfg, P11_KEY_TRACE_DATA, "none", P11_ORIGIN_CONF_ENV, path, 3);
	p11_config_free(cfg);
}

static void test_repeated_key_last_wins(void **state)
{
	char path[PATH_MAX];
	p11_config *cfg;

	(void)state;
	cfg = load_text("[trace]\nFormat = text\nData = hex\nFormat = jsonl\n", path, sizeof(path));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "jsonl", P11_ORIGIN_CONF_ENV, path, 4);
	/* Not a repeatable key: no list. */
	assert_int_equal(p11_config_count(cfg, P11_KEY_TRACE_FORMAT), 0);
	assert_null(p11_config_item(cfg, P11_KEY_TRACE_FORMAT, 0, NULL, NULL, NULL));
	p11_config_free(cfg);

	/* A section may appear twice. */
	cfg = load_text("[trace]\nFormat = text\n[backend]\n[trace]\nData = none\n", path,
	                sizeof(path));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_TRACE_FORMAT, "text", P11_ORIGIN_CONF_ENV, path, 2);
	expect_raw(cfg, P11_KEY_TRACE_DATA, "none", P11_ORIGIN_CONF_ENV, path, 5);
	p11_config_free(cfg);
}

static void test_long_value(void **state)
{
	char path[PATH_MAX];
	static char text[4200], value[4001];
	p11_config *cfg;

	(void)state;
	memset(value, 'x', 4000);
	value[0] = '/';
	value[4000] = '\0';
	snprintf(text, sizeof(text), "[trace]\nFile = %s\n", value);
	cfg = load_text(text, path, sizeof(path));
	assert_non_null(cfg);
	expect_raw(cfg, P11_KEY_TRACE_FILE, value, P11_ORIGIN_CONF_ENV, path, 2);
	p11_config_free(cfg);
}

/* ---- repeatable keys ---- */

/* One item of a repeatable key, with its origin, file and line. */
static void expect_item(const p11_config *cfg, p11_key key, size_t i, const char *value,
                        p11_origin origin, const char *file, unsigned line)
{
	p11_origin o = (p11_origin)-1;
	const char *f = (const char *)1;
	unsigned l = 12345;
	const char *v;

	v = p11_config_item(cfg, key, i, &o, &f, &l);
	if (v == NULL)
		fail_msg("no item %zu", i);
	assert_string_equal(v, value);
	assert_int_equal(o, origin);
	if (file == NULL)
		assert_null(f);
	else
		assert_string_equal(f, file);
	assert_int_equal(l, line);
}

static void test_repeatable_key(void **state)
{
	p11_config_sources src = { 0 };
	char sys[PATH_MAX], user[PATH_MAX], env[PATH_MAX];
	const p11_key key = P11_KEY_SKIP_READER;
	const char *def = p11_config_default(key);
	size_t ndef, i;
	p11_config *cfg;

	(void)state;
	/* The defaults are real items (one per line of the default). */
	cfg = p11_config_load(&src, err, sizeof(err));
	assert_non_null(cfg);
	ndef = p11_config_count(cfg, key);
	assert_true(ndef >= 1);
	for (i = 0; i < ndef; i++) {
		const char *v = p11_config_item(cfg, key, i, NULL, NULL, NULL);
		assert_non_null(v);
		assert_non_null(strstr(def, v));
		expect_item(cfg, key, i, v, P11_ORIGIN_DEFAULT, NULL, 0);
	}
	assert_null(p11_config_item(cfg, key, ndef, NULL, NULL, NULL));
	p11_config_free(cfg);

	/* Lines accumulate after the defaults, across the system and user files. */
	write_conf("system.conf",
	           "[readers]\nSkipReader = Virtual .*\nSkipReader = \"Test Reader\"\n", sys,
	           sizeof(sys));
	write_conf("user.conf", "[readers]\n\nSkipReader = My Reader [0-9]+\n", user, sizeof(user));
	src.system_file = sys;
	src.user_file = user;
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(p11_config_count(cfg, key), ndef + 3);
	expect_item(cfg, key, ndef, "Virtual .*", P11_ORIGIN_SYSTEM, sys, 2);
	expect_item(cfg, key, ndef + 1, "Test Reader", P11_ORIGIN_SYSTEM, sys, 3);
	expect_item(cfg, key, ndef + 2, "My Reader [0-9]+", P11_ORIGIN_USER, user, 3);
	p11_config_free(cfg);

	/* An empty value clears the list so far, defaults included. */
	write_conf("user.conf", "[readers]\nSkipReader =\nSkipReader = Only This\n", user,
	           sizeof(user));
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(p11_config_count(cfg, key), 1);
	expect_item(cfg, key, 0, "Only This", P11_ORIGIN_USER, user, 3);
	p11_config_free(cfg);

	write_conf("user.conf", "[readers]\nSkipReader = gone\nSkipReader = \"\"\n", user,
	           sizeof(user));
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(p11_config_count(cfg, key), 0);
	assert_null(p11_config_item(cfg, key, 0, NULL, NULL, NULL));
	p11_config_free(cfg);

	/* P11SHIM_CONF replaces both files here too. */
	write_conf("env.conf", "[readers]\nSkipReader = From Env\n", env, sizeof(env));
	src.conf_env_file = env;
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(p11_config_count(cfg, key), ndef + 1);
	expect_item(cfg, key, ndef, "From Env", P11_ORIGIN_CONF_ENV, env, 2);
	p11_config_free(cfg);
}

/* ---- mapped fields ---- */

static void test_mapped_field(void **state)
{
	char path[PATH_MAX];
	p11_config *cfg;
	const char *v;

	(void)state;
	cfg = load_text("[trace]\n"
	                "Format = text\n"
	                "File = ${P11SHIM_TEST_FILE}\n"
	                "Data = \"${P11SHIM_TEST_FORMAT}\"\n",
	                path, sizeof(path));
	if (cfg == NULL)
		fail_msg("%s", err);
	/* The raw value keeps the field; it is checked when read. */
	expect_raw(cfg, P11_KEY_TRACE_FILE, "${P11SHIM_TEST_FILE}", P11_ORIGIN_CONF_ENV, path, 3);

	setenv("P11SHIM_TEST_FILE", "/tmp/first.jsonl", 1);
	v = p11_config_get(cfg, P11_KEY_TRACE_FILE, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(v, "/tmp/first.jsonl");

	/* Read when used, not at load: the client's environment now. */
	setenv("P11SHIM_TEST_FILE", "/tmp/second.jsonl", 1);
	v = p11_config_get(cfg, P11_KEY_TRACE_FILE, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(v, "/tmp/second.jsonl");

	/* A concrete value next to it is untouched. */
	assert_string_equal(p11_config_get(cfg, P11_KEY_TRACE_FORMAT, err, sizeof(err)), "text");

	/* Unset: an error naming the field, the key and file:line. */
	unsetenv("P11SHIM_TEST_FILE");
	err[0] = '\0';
	assert_null(p11_config_get(cfg, P11_KEY_TRACE_FILE, err, sizeof(err)));
	assert_contains(err, "P11SHIM_TEST_FILE");
	assert_contains(err, "[trace] File");
	assert_contains(err, path);
	assert_contains(err, ":3:");
	assert_null(strchr(err, '\n'));

	/* A quoted mapped field is a mapped field too. */
	setenv("P11SHIM_TEST_FORMAT", "hex", 1);
	v = p11_config_get(cfg, P11_KEY_TRACE_DATA, err, sizeof(err));
	assert_non_null(v);
	assert_string_equal(v, "hex");
	p11_config_free(cfg);
}

static void test_mapped_field_wrong_type(void **state)
{
	char path[PATH_MAX];
	uint64_t size = 0;
	p11_config *cfg;
	bool b = false;

	(void)state;
	cfg = load_text("[trace]\n"
	                "Enable = ${P11SHIM_TEST_ENABLE}\n"
	                "MaxSize = ${P11SHIM_TEST_SIZE}\n"
	                "Format = ${P11SHIM_TEST_FORMAT}\n"
	                "[serial]\n"
	                "CMSCardSerialNumber = ${P11SHIM_TEST_SERIAL}\n",
	                path, sizeof(path));
	if (cfg == NULL)
		fail_msg("%s", err);

	setenv("P11SHIM_TEST_ENABLE", "yes", 1);
	assert_true(p11_config_bool(cfg, P11_KEY_TRACE_ENABLE, &b, err, sizeof(err)));
	assert_true(b);
	setenv("P11SHIM_TEST_ENABLE", "maybe", 1);
	err[0] = '\0';
	assert_null(p11_config_get(cfg, P11_KEY_TRACE_ENABLE, err, sizeof(err)));
	assert_contains(err, path);
	assert_contains(err, ":2:");
	assert_contains(err, "[trace] Enable");
	assert_contains(err, "P11SHIM_TEST_ENABLE");
	assert_contains(err, "'maybe' is not a boolean");
	assert_false(p11_config_bool(cfg, P11_KEY_TRACE_ENABLE, &b, err, sizeof(err)));

	setenv("P11SHIM_TEST_SIZE", "12K", 1);
	assert_true(p11_config_size(cfg, P11_KEY_TRACE_MAXSIZE, &size, err, sizeof(err)));
	assert_int_equal(size, 12 * 1024);
	setenv("P11SHIM_TEST_SIZE", "lots", 1);
	err[0] = '\0';
	assert_false(p11_config_size(cfg, P11_KEY_TRACE_MAXSIZE, &size, err, sizeof(err)));
	assert_contains(err, ":3:");
	assert_contains(err, "[trace] MaxSize");
	assert_contains(err, "P11SHIM_TEST_SIZE");
	assert_contains(err, "'lots' is not a size");

	setenv("P11SHIM_TEST_FORMAT", "xml", 1);
	err[0] = '\0';
	assert_null(p11_config_get(cfg, P11_KEY_TRACE_FORMAT, err, sizeof(err)));
	assert_contains(err, ":4:");
	assert_contains(err, "[trace] Format");
	assert_contains(err, "'xml' is not valid");
	assert_contains(err, "jsonl|text");

	/* Issue 14, item 5: a serial with a newline and ESC never reaches a card. */
	setenv("P11SHIM_TEST_SERIAL", "CM 4711", 1);
	assert_string_equal(p11_config_get(cfg, P11_KEY_CMS_CARD_SERIAL, err, sizeof(err)),
	                    "CM 4711");
	setenv("P11SHIM_TEST_SERIAL", "CM47\n\x1b[2J", 1);
	err[0] = '\0';
	assert_null(p11_config_get(cfg, P11_KEY_CMS_CARD_SERIAL, err, sizeof(err)));
	assert_contains(err, ":6: [serial] CMSCardSerialNumber: mapped field ${P11SHIM_TEST_SERIAL}");
	assert_contains(err, "position 5 (a control character)");
	unsetenv("P11SHIM_TEST_SERIAL");

	/* Unset, through the typed getter. */
	unsetenv("P11SHIM_TEST_ENABLE");
	err[0] = '\0';
	assert_false(p11_config_bool(cfg, P11_KEY_TRACE_ENABLE, &b, err, sizeof(err)));
	assert_contains(err, "P11SHIM_TEST_ENABLE");
	assert_contains(err, "not set");
	p11_config_free(cfg);
}

static void test_mapped_library_refused(void **state)
{
	static const char *const keys[] = {
		"PKCS11Library",
		"PKCS11LibraryWindows32",
		"PKCS11LibraryWindows64",
	};
	char text[256], key[64];
	size_t i;

	(void)state;
	/* The client's environment must never choose which code is loaded. */
	setenv("P11SHIM_TEST_LIB", "/tmp/evil.so", 1);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(text, sizeof(text), "[backend]\n\n%s = ${P11SHIM_TEST_LIB}\n", keys[i]);
		snprintf(key, sizeof(key), "[backend] %s", keys[i]);
		expect_error(text, 3, key, "mapped field", NULL);
	}
}

/* ---- errors ---- */

static void test_error_unknown_section(void **state)
{
	(void)state;
	expect_error("[trace]\nFormat = text\n\n[tracing]\nData = hex\n", 4,
	             "unknown section [tracing]", "[backend]", "[trace]", NULL);
	expect_error("[]\n", 1, "unknown section []", "[backend]", NULL);
}

static void test_error_unknown_key(void **state)
{
	(void)state;
	expect_error("[trace]\nFormat = text\nColour = red\n", 3, "unknown key 'Colour'", "[trace]",
	             "known keys: Enable, File, Format, Data, MaxSize", NULL);
	/* A key of another section. */
	expect_error("[backend]\nFile = /tmp/x\n", 2, "unknown key 'File'", "[backend]",
	             "PKCS11Library", NULL);
}

static void test_error_bad_values(void **state)
{
	(void)state;
	expect_error("[trace]\nEnable = maybe\n", 2, "[trace] Enable", "'maybe' is not a boolean",
	             "true or false", NULL);
	expect_error("[trace]\nEnable =\n", 2, "[trace] Enable", "not a boolean", NULL);
	expect_error("[trace]\nFormat = xml\n", 2, "[trace] Format", "'xml'", "jsonl|text", NULL);
	expect_error("[trace]\nData = full\n", 2, "[trace] Data", "'full'", "none|length|hex", NULL);
	expect_error("[trace]\nMaxSize = 12Q\n", 2, "[trace] MaxSize", "'12Q' is not a size", "64M",
	             NULL);
	expect_error("[trace]\nMaxSize = -1\n", 2, "[trace] MaxSize", "'-1'", NULL);
	expect_error("[trace]\nMaxSize = 4 K\n", 2, "[trace] MaxSize", "'4 K'", NULL);
	expect_error("[trace]\nMaxSize =\n", 2, "[trace] MaxSize", NULL);
	expect_error("[trace]\nMaxSize = 99999999999999999999999\n", 2, "[trace] MaxSize", NULL);
}

/* Issue 14, item 5: a card serial goes on the card as it is: printable ASCII, 16 at most. */
static void test_error_card_serial(void **state)
{
	(void)state;
	expect_error("[serial]\nCMSCardSerialNumber = 12\x1b[2J34\n", 2,
	             "[serial] CMSCardSerialNumber", "'12\x1b[2J34' cannot be a card serial",
	             "position 3 (a control character)", "1 to 16 printable ASCII", NULL);
	expect_error("[serial]\nCMSCardSerialNumber = 12345678901234567\n", 2,
	             "[serial] CMSCardSerialNumber", "is 17 characters long", NULL);
	expect_error("[serial]\nCMSCardSerialNumber = caf\xc3\xa9\n", 2,
	             "[serial] CMSCardSerialNumber", "(not ASCII)", NULL);
	/* A mapped one: test_mapped_field_wrong_type. */
}

static void test_error_key_outside_section(void **state)
{
	(void)state;
	expect_error("# no section yet\nFormat = text\n", 2, "'Format'", "outside any section",
	             "[section]", NULL);
}

static void test_error_malformed_section(void **state)
{
	(void)state;
	expect_error("[trace\nFormat = text\n", 1, "malformed section header '[trace'", NULL);
	expect_error("[trace] Format = text\n", 1, "malformed section header", NULL);
	expect_error("[trace]\n[backend]]\n", 2, "malformed section header", NULL);
}

static void test_error_not_key_value(void **state)
{
	(void)state;
	expect_error("[trace]\nFormat text\n", 2, "expected 'Key = Value'", "Format text", NULL);
}

static void test_error_line_too_long(void **state)
{
	static char text[6000];
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "[trace]\n# fine\nFile = /");
	memset(text + n, 'y', 5000);
	strcpy(text + n + 5000, "\nFormat = text\n");
	expect_error(text, 3, "line longer than", NULL);
}

static void test_error_later_line(void **state)
{
	(void)state;
	/* Good lines before the bad one do not survive: nothing is returned. */
	expect_error("[backend]\nPKCS11Library = /a.so\n[trace]\nFile = /t\nFormat = text\nData = lots\n",
	             6, "[trace] Data", "'lots'", NULL);
}

static void test_error_unreadable_conf_env(void **state)
{
	p11_config_sources src = { 0 };
	char missing[PATH_MAX], sub[PATH_MAX];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing.conf", dir);
	src.conf_env_file = missing;
	err[0] = '\0';
	assert_null(p11_config_load(&src, err, sizeof(err)));
	assert_contains(err, missing);
	assert_contains(err, "No such file");
	assert_contains(err, "P11SHIM_CONF");
	assert_null(strchr(err, '\n'));

	/* A folder where the file should be. */
	snprintf(sub, sizeof(sub), "%s/a-folder.conf", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	src.conf_env_file = sub;
	err[0] = '\0';
	assert_null(p11_config_load(&src, err, sizeof(err)));
	assert_contains(err, sub);
	rmdir(sub);
}

static void test_error_in_user_file(void **state)
{
	p11_config_sources src = { 0 };
	char sys[PATH_MAX], user[PATH_MAX];

	(void)state;
	write_conf("system.conf", "[trace]\nFile = /system/t\n", sys, sizeof(sys));
	write_conf("user.conf", "[trace]\n\n\nFormat = yaml\n", user, sizeof(user));
	src.system_file = sys;
	src.user_file = user;
	err[0] = '\0';
	assert_null(p11_config_load(&src, err, sizeof(err)));
	assert_contains(err, user);
	assert_contains(err, ":4:");
	assert_contains(err, "[trace] Format");
	assert_not_contains(err, sys);

	/* The same in the system file is named there. */
	src.user_file = NULL;
	write_conf("system.conf", "[trace]\nData = all\n", sys, sizeof(sys));
	err[0] = '\0';
	assert_null(p11_config_load(&src, err, sizeof(err)));
	assert_contains(err, sys);
	assert_contains(err, ":2:");
}

static void test_error_small_buffer(void **state)
{
	char path[PATH_MAX], small[16];
	p11_config_sources src = { 0 };

	(void)state;
	write_conf("p11shim.conf", "[nope]\n", path, sizeof(path));
	src.conf_env_file = path;
	memset(small, 'Z', sizeof(small));
	assert_null(p11_config_load(&src, small, sizeof(small)));
	assert_non_null(memchr(small, '\0', sizeof(small)));
}

/* ---- value parsers ---- */

static void test_parse_bool(void **state)
{
	static const char *const yes[] = { "true", "TRUE", "True", "yes", "Yes", "on", "ON", "1" };
	static const char *const no[] = { "false", "FALSE", "no", "NO", "off", "Off", "0" };
	static const char *const bad[] = { "", "2", "y", "n", "truee", " true", "t", "enable" };
	size_t i;
	bool b;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_true(p11_parse_bool(yes[i], &b));
		assert_true(b);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_true(p11_parse_bool(no[i], &b));
		assert_false(b);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (p11_parse_bool(bad[i], &b))
			fail_msg("'%s' accepted as a boolean", bad[i]);
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *text;
		uint64_t value;
	} good[] = {
		{ "0", 0 },
		{ "4096", 4096 },
		{ "4K", 4096 },
		{ "4k", 4096 },
		{ "4KB", 4096 },
		{ "4KiB", 4096 },
		{ "64M", 64ULL << 20 },
		{ "2G", 2ULL << 30 },
		{ "1048576G", 1ULL << 50 },
	};
	static const char *const bad[] = {
		"",
		"K",
		"-1",
		"+1",
		" 1",
		"1 ",
		"1.5M",
		"1T",
		"1KK",
		"12Q",
		"0x10",
		"99999999999999999999", /* beyond unsigned long long */
		"1048577G",             /* beyond the 2^50 limit */
		"18014398509481984K",   /* 2^54 K: wraps past 2^64 when shifted */
		"17179869184G",         /* 2^34 G = 2^64: wraps to 0, "no limit" */
		"17179869185G",         /* wraps to 1G */
	};
	unsigned wrong = 0;
	uint64_t v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 12345;
		if (!p11_parse_size(good[i].text, &v))
			fail_msg("'%s' refused", good[i].text);
		assert_int_equal(v, good[i].value);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (p11_parse_size(bad[i], &v)) {
			print_error("'%s' accepted as a size: %llu\n", bad[i], (unsigned long long)v);
			wrong++;
		}
	}
	if (wrong)
		fail_msg("%u invalid sizes accepted", wrong);
}

/* ---- sources and metadata ---- */

static void test_default_sources(void **state)
{
	char userbuf[PATH_MAX], xdg[PATH_MAX];
	p11_config_sources src;
	const char *saved[5];
	static const char *const vars[5] = {
		"P11SHIM_CONF", "P11SHIM_LIBRARY", "P11SHIM_TRACE", "XDG_CONFIG_HOME", "HOME",
	};
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		saved[i] = getenv(vars[i]);
		saved[i] = saved[i] ? strdup(saved[i]) : NULL;
	}
	snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	setenv("P11SHIM_CONF", "/some/p11shim.conf", 1);
	setenv("P11SHIM_LIBRARY", "/some/module.so", 1);
	setenv("P11SHIM_TRACE", "/some/trace.jsonl", 1);
#ifdef _WIN32
	/* Windows: %PROGRAMDATA% and %APPDATA% (DESIGN.md, Configuration). */
	setenv("PROGRAMDATA", "C:\\PD", 1);
	setenv("APPDATA", "C:\\Users\\someone\\AppData\\Roaming", 1);
	p11_config_default_sources(&src, userbuf, sizeof(userbuf));
	assert_string_equal(src.system_file, "C:\\PD\\p11shim\\p11shim.conf");
	assert_string_equal(src.user_file,
	                    "C:\\Users\\someone\\AppData\\Roaming\\p11shim\\p11shim.conf");
	assert_string_equal(src.conf_env_file, "/some/p11shim.conf");
	(void)xdg;
	for (i = 0; i < 5; i++) {
		if (saved[i] != NULL)
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free((void *)saved[i]);
	}
	return;
#endif
	p11_config_default_sources(&src, userbuf, sizeof(userbuf));
	assert_non_null(src.system_file);
	assert_contains(src.system_file, "/p11shim/p11shim.conf");
	assert_non_null(src.user_file);
	strcat(xdg, "/p11shim/p11shim.conf");
	assert_string_equal(src.user_file, xdg);
	assert_string_equal(src.conf_env_file, "/some/p11shim.conf");
	assert_string_equal(src.env_library, "/some/module.so");
	assert_string_equal(src.env_trace, "/some/trace.jsonl");

	/* An empty P11SHIM_CONF does not replace the files. */
	setenv("P11SHIM_CONF", "", 1);
	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/someone", 1);
	unsetenv("P11SHIM_LIBRARY");
	unsetenv("P11SHIM_TRACE");
	p11_config_default_sources(&src, userbuf, sizeof(userbuf));
	assert_null(src.conf_env_file);
	assert_string_equal(src.user_file, "/home/someone/.config/p11shim/p11shim.conf");
	assert_null(src.env_library);
	assert_null(src.env_trace);

	for (i = 0; i < 5; i++) {
		if (saved[i] != NULL)
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free((void *)saved[i]);
	}
}

static void test_metadata(void **state)
{
	int k;

	(void)state;
	assert_string_equal(p11_config_section(P11_KEY_LIBRARY), "backend");
	assert_string_equal(p11_config_name(P11_KEY_LIBRARY), "PKCS11Library");
	assert_string_equal(p11_config_section(P11_KEY_TRACE_MAXSIZE), "trace");
	assert_string_equal(p11_config_name(P11_KEY_TRACE_MAXSIZE), "MaxSize");
	assert_string_equal(p11_config_default(P11_KEY_TRACE_MAXSIZE), "64M");
	assert_string_equal(p11_config_choices(P11_KEY_TRACE_FORMAT), "jsonl|text");
	assert_null(p11_config_choices(P11_KEY_TRACE_FILE));
	for (k = 0; k < P11_KEY_COUNT; k++) {
		assert_non_null(p11_config_section((p11_key)k));
		assert_non_null(p11_config_name((p11_key)k));
		assert_non_null(p11_config_default((p11_key)k));
		assert_non_null(p11_config_help((p11_key)k));
		assert_true(strlen(p11_config_help((p11_key)k)) > 10);
	}
	assert_string_equal(p11_origin_name(P11_ORIGIN_DEFAULT), "default");
	assert_string_equal(p11_origin_name(P11_ORIGIN_SYSTEM), "system file");
	assert_string_equal(p11_origin_name(P11_ORIGIN_USER), "user file");
	assert_string_equal(p11_origin_name(P11_ORIGIN_CONF_ENV), "P11SHIM_CONF");
	assert_string_equal(p11_origin_name(P11_ORIGIN_ENV), "environment");
}

/* ---- conf/p11shim.conf ---- */

static char *read_sample_conf(char *path, size_t len)
{
	const char *top = getenv("top_srcdir");
	char *text;
	long size;
	FILE *f;

	if (top == NULL)
		top = ".";
	snprintf(path, len, "%s/conf/p11shim.conf", top);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot read %s (is top_srcdir set?)", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	return text;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* The next line of a text cut in place (empty lines included), or NULL at the end. */
static char *next_line(char **cursor)
{
	char *line = *cursor, *nl;

	if (line == NULL || *line == '\0')
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*cursor = nl + 1;
	} else {
		*cursor = NULL;
	}
	return line;
}

/* "# Key = value" -> key and value, when the line has that shape. */
static bool documented_line(char *line, char **key, char **value)
{
	char *s = trim(line), *eq, *k;

	if (*s != '#')
		return false;
	s = trim(s + 1);
	eq = strchr(s, '=');
	if (eq == NULL)
		return false;
	*eq = '\0';
	k = trim(s);
	if (*k == '\0' ||
	    strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != strlen(k))
		return false;
	*key = k;
	*value = trim(eq + 1);
	return true;
}

/*
 * The sample shows the POSIX defaults; where Windows has its own (the
 * middleware's files), its comments say "Windows default: VALUE". On
 * Windows that is the default the line must name.
 */
static bool windows_default(const char *path, const char *value, const char *expected)
{
#ifdef _WIN32
	char *text, *p;
	bool ok = false;

	if (value[0] != '\0' || (text = read_sample_conf((char[PATH_MAX]){ 0 }, PATH_MAX)) == NULL)
		return false;
	/* "default: VALUE", or "default:" at the end of a comment line and
	 * VALUE on the next. */
	for (p = text; !ok && (p = strstr(p, expected)) != NULL; p++) {
		const char *q = p;
		while (q > text && (q[-1] == ' ' || q[-1] == '#' || q[-1] == '\n'))
			q--;
		ok = q - text >= 8 && memcmp(q - 8, "default:", 8) == 0;
	}
	free(text);
	(void)path;
	return ok;
#else
	(void)path, (void)value, (void)expected;
	return false;
#endif
}

static void test_conf_documents_every_key(void **state)
{
	char path[PATH_MAX], section[64] = "", *text, *line, *save = NULL;
	size_t seen[P11_KEY_COUNT] = { 0 }, items[P11_KEY_COUNT];
	p11_config_sources src = { 0 };
	unsigned lineno = 0, wrong = 0;
	p11_config *defaults;
	const char *expected;
	int k;

	(void)state;
	/* A repeatable key's default is a list: one documented line per item, in order. */
	defaults = p11_config_load(&src, err, sizeof(err));
	assert_non_null(defaults);
	for (k = 0; k < P11_KEY_COUNT; k++)
		items[k] = p11_config_count(defaults, (p11_key)k);

	text = read_sample_conf(path, sizeof(path));
	save = text;
	while ((line = next_line(&save)) != NULL) {
		char *s = trim(line), *key, *value;
		lineno++;
		if (*s == '[') {
			char *close = strchr(s, ']');
			assert_non_null(close);
			*close = '\0';
			snprintf(section, sizeof(section), "%s", s + 1);
			continue;
		}
		if (section[0] == '\0' || !documented_line(s, &key, &value))
			continue;
		for (k = 0; k < P11_KEY_COUNT; k++)
			if (strcmp(p11_config_section((p11_key)k), section) == 0 &&
			    strcmp(p11_config_name((p11_key)k), key) == 0)
				break;
		/* Every "# Key = value" under a section is a real key. */
		if (k == P11_KEY_COUNT) {
			print_error("%s:%u: '# %s = %s' in [%s]: no such key\n", path, lineno, key,
			            value, section);
			wrong++;
			continue;
		}
		if (items[k] > 0)
			expected = seen[k] < items[k] ? p11_config_item(defaults, (p11_key)k,
			                                                seen[k], NULL, NULL, NULL) :
			                                NULL;
		else
			expected = seen[k] == 0 ? p11_config_default((p11_key)k) : NULL;
		if (expected == NULL) {
			print_error("%s:%u: [%s] '# %s = %s' documented once too often\n", path,
			            lineno, section, key, value);
			wrong++;
		} else if (strcmp(value, expected) != 0 && !windows_default(path, value, expected)) {
			print_error("%s:%u: [%s] '# %s = %s' is not the default '%s'\n", path,
			            lineno, section, key, value, expected);
			wrong++;
		}
		seen[k]++;
	}
	for (k = 0; k < P11_KEY_COUNT; k++) {
		size_t want = items[k] > 0 ? items[k] : 1;
		if (seen[k] < want) {
			print_error("%s: no line '# %s = %s' under [%s]\n", path,
			            p11_config_name((p11_key)k),
			            items[k] > 0 ? p11_config_item(defaults, (p11_key)k, seen[k],
			                                           NULL, NULL, NULL) :
			                           p11_config_default((p11_key)k),
			            p11_config_section((p11_key)k));
			wrong++;
		}
	}
	p11_config_free(defaults);
	free(text);
	if (wrong)
		fail_msg("%s does not document %u keys with their defaults", path, wrong);
}

/* Uncommenting the documented lines gives a configuration the shim accepts. */
static void test_conf_uncommented_loads(void **state)
{
	char path[PATH_MAX], *text, *out, *line, *save = NULL, *key, *value;
	size_t used = 0, cap;
	p11_config *cfg;
	char copy[4096];

	(void)state;
	text = read_sample_conf(path, sizeof(path));
	cap = strlen(text) + 1;
	out = calloc(1, cap);
	assert_non_null(out);
	save = text;
	while ((line = next_line(&save)) != NULL) {
		snprintf(copy, sizeof(copy), "%s", line);
		if (documented_line(copy, &key, &value))
			used += (size_t)snprintf(out + used, cap - used, "%s = %s\n", key, value);
		else
			used += (size_t)snprintf(out + used, cap - used, "%s\n", line);
	}
	cfg = load_text(out, path, sizeof(path));
	if (cfg == NULL)
		fail_msg("%s", err);
	p11_config_free(cfg);
	free(out);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, test_teardown),
		cmocka_unit_test_teardown(test_system_file, test_teardown),
		cmocka_unit_test_teardown(test_user_overrides_system, test_teardown),
		cmocka_unit_test_teardown(test_conf_env_replaces_both, test_teardown),
		cmocka_unit_test_teardown(test_env_overrides_files, test_teardown),
		cmocka_unit_test_teardown(test_missing_optional_files, test_teardown),
		cmocka_unit_test_teardown(test_syntax, test_teardown),
		cmocka_unit_test_teardown(test_value_with_equals_and_hash, test_teardown),
		cmocka_unit_test_teardown(test_utf8_bom, test_teardown),
		cmocka_unit_test_teardown(test_repeated_key_last_wins, test_teardown),
		cmocka_unit_test_teardown(test_long_value, test_teardown),
		cmocka_unit_test_teardown(test_repeatable_key, test_teardown),
		cmocka_unit_test_teardown(test_mapped_field, test_teardown),
		cmocka_unit_test_teardown(test_mapped_field_wrong_type, test_teardown),
		cmocka_unit_test_teardown(test_mapped_library_refused, test_teardown),
		cmocka_unit_test_teardown(test_error_unknown_section, test_teardown),
		cmocka_unit_test_teardown(test_error_unknown_key, test_teardown),
		cmocka_unit_test_teardown(test_error_bad_values, test_teardown),
		cmocka_unit_test_teardown(test_error_card_serial, test_teardown),
		cmocka_unit_test_teardown(test_error_key_outside_section, test_teardown),
		cmocka_unit_test_teardown(test_error_malformed_section, test_teardown),
		cmocka_unit_test_teardown(test_error_not_key_value, test_teardown),
		cmocka_unit_test_teardown(test_error_line_too_long, test_teardown),
		cmocka_unit_test_teardown(test_error_later_line, test_teardown),
		cmocka_unit_test_teardown(test_error_unreadable_conf_env, test_teardown),
		cmocka_unit_test_teardown(test_error_in_user_file, test_teardown),
		cmocka_unit_test_teardown(test_error_small_buffer, test_teardown),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test_teardown(test_default_sources, test_teardown),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_conf_documents_every_key),
		cmocka_unit_test_teardown(test_conf_uncommented_loads, test_teardown),
	};

	return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
