/*
 * `p11shim doctor [--config FILE] [--json]`:
 * the middleware vendor's whole troubleshooting list, checked on this
 * machine, one line per check (ok, warn, FAIL, skip), each problem followed
 * by its fix: the file, the section, the key and the value to write.
 *
 * Groups, in order: configuration (each key's effective value and where it
 * came from), backend (file, word size, loading, C_GetInfo, middleware and
 * version), Personal.cfg (caching, SkipReader), PIN-encryption certificate,
 * Java (JAVA_HOME's word size), slots (shown or hidden, and by which
 * pattern), trace (destination writable, free space).
 *
 * Nothing here has its own copy of a rule the shim applies: the checks call
 * what the shim calls (p11_config_load, p11_file_trusted,
 * compat_check_module_file, p11_middleware_identify, p11_personal_cfg_read,
 * p11_pin_cert_check, p11_skip_new/p11_skip_match), so doctor and the
 * module cannot disagree. The backend is loaded and initialised directly,
 * not through the shim, so that each step can be judged on its own.
 *
 * Exit status: 0 nothing failed (warnings allowed), 1 a check failed,
 * 2 doctor could not run (bad arguments, unreadable --config).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "p11-compat.h"
#include "p11-config.h"
#include "p11-personal.h"
#include "p11-security.h"
#include "p11-shim.h"
#include "p11-text.h"
#include "p11-trace.h"
#include "tool.h"

/* A certificate expiring within this many days is a warning. */
#define CERT_WARN_DAYS 30
/* A folder one can make files in (Windows' access() knows no X_OK). */
#define DIR_WRITABLE COMPAT_DIR_WRITABLE

/* A trace needs room for FILE and FILE.1; with MaxSize = 0, at least this. */
#define TRACE_MIN_FREE (64ULL << 20)

typedef enum { ST_OK, ST_WARN, ST_FAIL, ST_SKIP, ST_COUNT } status;
static const char *const st_text[ST_COUNT] = { "ok", "warn", "FAIL", "skip" };
static const char *const st_json[ST_COUNT] = { "ok", "warn", "fail", "skip" };

#define MAX_KV 12

typedef struct {
	const char *group;
	status st;
	char *name;
	char *text;
	char *fix_file, *fix_section, *fix_key, *fix_value; /* fix_file NULL: no fix */
	size_t n_kv;
	char *k[MAX_KV], *v[MAX_KV];
} check;

typedef struct {
	check *c;
	size_t n, cap;
	const char *group;

	const char *config_opt; /* --config FILE */
	p11_config_sources src;
	char userbuf[4096];
	p11_config *cfg;

	/* the backend, while it is loaded */
	CK_FUNCTION_LIST *fl;
	bool initialized;
	bool have_info;
	CK_INFO info;
	int personal; /* 1 yes, 0 no, -1 unknown (the backend did not answer) */
} doctor;

/* ---- building the list ---- */

static void oom(void)
{
	fprintf(stderr, "p11shim doctor: out of memory\n");
	exit(TOOL_EXIT_USAGE);
}

static char *vfmt(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (d == NULL)
		oom();
	return d;
}

static void group(doctor *d, const char *name)
{
	d->group = name;
}

static check *add(doctor *d, status st, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static check *add(doctor *d, status st, const char *name, const char *fmt, ...)
{
	check *c;
	va_list ap;

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		check *n = realloc(d->c, cap * sizeof(*n));
		if (n == NULL)
			oom();
		d->c = n;
		d->cap = cap;
	}
	c = &d->c[d->n++];
	memset(c, 0, sizeof(*c));
	c->group = d->group;
	c->st = st;
	c->name = xstrdup(name);
	va_start(ap, fmt);
	c->text = vfmt(fmt, ap);
	va_end(ap);
	return c;
}

/* The fix: in FILE, [SECTION] KEY = VALUE (section and key may be NULL). */
static void fix(check *c, const char *file, const char *section, const char *key, const char *fmt,
                ...) __attribute__((format(printf, 5, 6)));

static void fix(check *c, const char *file, const char *section, const char *key, const char *fmt, ...)
{
	va_list ap;

	c->fix_file = xstrdup(file);
	c->fix_section = section ? xstrdup(section) : NULL;
	c->fix_key = key ? xstrdup(key) : NULL;
	va_start(ap, fmt);
	c->fix_value = vfmt(fmt, ap);
	va_end(ap);
}

/* A value for --json ("data"): what a script wants without parsing text. */
static void kv(check *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void kv(check *c, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (c->n_kv == MAX_KV)
		return;
	c->k[c->n_kv] = xstrdup(key);
	va_start(ap, fmt);
	c->v[c->n_kv] = vfmt(fmt, ap);
	va_end(ap);
	c->n_kv++;
}

static void free_checks(doctor *d)
{
	size_t i, j;

	for (i = 0; i < d->n; i++) {
		check *c = &d->c[i];
		free(c->name);
		free(c->text);
		free(c->fix_file);
		free(c->fix_section);
		free(c->fix_key);
		free(c->fix_value);
		for (j = 0; j < c->n_kv; j++) {
			free(c->k[j]);
			free(c->v[j]);
		}
	}
	free(d->c);
}

/* ---- small helpers ---- */

/* A blank-padded PKCS#11 field as a C string. */
static void padded(char *out, size_t cap, const unsigned char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static bool is_mapped(const char *v)
{
	size_t n = strlen(v);

	return n > 3 && v[0] == '$' && v[1] == '{' && v[n - 1] == '}';
}

static bool file_exists(const char *path)
{
	struct stat st;

	return path != NULL && path[0] != '\0' && stat(path, &st) == 0;
}

/* The shim's own word size and machine, from compat_self_arch() ("64-bit x86-64"). */
static void self_arch(unsigned *bits, char *machine, size_t cap)
{
	const char *s = compat_self_arch(), *sp = strchr(s, ' ');

	*bits = (unsigned)strtoul(s, NULL, 10);
	snprintf(machine, cap, "%s", sp ? sp + 1 : "");
}

/*
 * Where the fix for a key goes: the file that set it, else the file that
 * replaces the others (--config, P11SHIM_CONF), else the system file.
 */
static const char *conf_target(doctor *d, p11_key key)
{
	const char *file = NULL;
	p11_origin origin = P11_ORIGIN_DEFAULT;

	if (d->cfg != NULL)
		p11_config_raw(d->cfg, key, &origin, &file, NULL);
	if (file != NULL && origin != P11_ORIGIN_ENV)
		return file;
	if (d->src.conf_env_file != NULL)
		return d->src.conf_env_file;
	return d->src.system_file ? d->src.system_file : "p11shim.conf";
}

static const char *origin_name(doctor *d, p11_origin o)
{
	if (o == P11_ORIGIN_CONF_ENV && d->config_opt != NULL)
		return "--config";
	return p11_origin_name(o);
}

/* "(P11SHIM_CONF /x/p11shim.conf:4)", "(default)", "(environment P11SHIM_LIBRARY)". */
static void where(doctor *d, p11_origin o, const char *file, unsigned line, char *buf, size_t cap)
{
	if (o == P11_ORIGIN_DEFAULT)
		snprintf(buf, cap, "default");
	else if (o == P11_ORIGIN_ENV)
		snprintf(buf, cap, "environment %s", file ? file : "");
	else
		snprintf(buf, cap, "%s %s:%u", origin_name(d, o), file ? file : "?", line);
}

/*
 * A message "FILE:LINE: what; fix" (the shim's configuration errors) split
 * into the fix's file ("FILE:LINE") and the rest; the whole text as the rest
 * when it does not start so.
 */
static void split_located(const char *msg, const char *fallback, char *file, size_t fcap,
                          const char **rest)
{
	const char *p;

	for (p = msg; *p != '\0'; p++) {
		if (p[0] == ':' && p[1] >= '0' && p[1] <= '9') {
			const char *q = p + 1;
			while (*q >= '0' && *q <= '9')
				q++;
			if (q[0] == ':' && q[1] == ' ') {
				snprintf(file, fcap, "%.*s", (int)(q - msg), msg);
				*rest = q + 2;
				return;
			}
		}
	}
	snprintf(file, fcap, "%s", fallback);
	*rest = msg;
}

/* ---- configuration ---- */

/* What the tamper check found for a configuration file, for its line. */
static const char *trust_note(const char *path, char *buf, size_t len)
{
	char why[2048];

	switch (p11_file_trusted(path, "configuration file", why, sizeof(why))) {
	case P11_TRUST_OK: snprintf(buf, len, "; %s", why); break;
	case P11_TRUST_REFUSED:
		snprintf(buf, len, "; refused: another user can change it (see load)");
		break;
	case P11_TRUST_MISSING: buf[0] = '\0'; break;
	}
	return buf;
}

static void check_sources(doctor *d)
{
	char note[2200];
	check *c;

	if (d->src.conf_env_file != NULL) {
		if (d->config_opt != NULL)
			c = add(d, ST_OK, "files",
			        "--config %s, read as P11SHIM_CONF: it replaces the system "
			        "and user files%s",
			        d->src.conf_env_file,
			        trust_note(d->src.conf_env_file, note, sizeof(note)));
		else
			c = add(d, ST_OK, "files",
			        "P11SHIM_CONF = %s: it replaces the system and user files%s",
			        d->src.conf_env_file,
			        trust_note(d->src.conf_env_file, note, sizeof(note)));
		kv(c, "conf", "%s", d->src.conf_env_file);
	} else {
		c = add(d, ST_OK, "system file", "%s%s", d->src.system_file,
		        file_exists(d->src.system_file) ?
		                trust_note(d->src.system_file, note, sizeof(note)) :
		                " (not present)");
		kv(c, "path", "%s", d->src.system_file);
		kv(c, "exists", "%s", file_exists(d->src.system_file) ? "true" : "false");
		if (d->src.user_file != NULL) {
			c = add(d, ST_OK, "user file", "%s%s%s", d->src.user_file,
			        file_exists(d->src.user_file) ?
			                " (wins over the system file key by key)" :
			                " (not present)",
			        file_exists(d->src.user_file) ?
			                trust_note(d->src.user_file, note, sizeof(note)) :
			                "");
			kv(c, "path", "%s", d->src.user_file);
			kv(c, "exists", "%s", file_exists(d->src.user_file) ? "true" : "false");
		} else {
			add(d, ST_OK, "user file", "none (no HOME or XDG_CONFIG_HOME)");
		}
	}
	if (d->src.env_library != NULL && d->src.env_library[0] != '\0')
		add(d, ST_OK, "environment",
		    "P11SHIM_LIBRARY = %s (wins over [backend] PKCS11Library)", d->src.env_library);
	if (d->src.env_trace != NULL && d->src.env_trace[0] != '\0')
		add(d, ST_OK, "environment", "P11SHIM_TRACE = %s (wins over [trace] File)",
		    d->src.env_trace);
}

/* One key's line: value, origin, and for a mapped field its value now. */
static void check_key(doctor *d, p11_key key, const char *value, p11_origin o, const char *file,
                      unsigned line)
{
	char name[128], from[4400], err[1024], field[128];
	const char *shown = value[0] != '\0' ? value : "(empty)";
	check *c;

	snprintf(name, sizeof(name), "[%s] %s", p11_config_section(key), p11_config_name(key));
	where(d, o, file, line, from, sizeof(from));
	if (!is_mapped(value) || key == P11_KEY_SKIP_READER) {
		c = add(d, ST_OK, name, "= %s (%s)", shown, from);
	} else {
		const char *now;
		snprintf(field, sizeof(field), "%.*s", (int)strlen(value) - 3, value + 2);
		now = getenv(field);
		if (now == NULL) {
			c = add(d, ST_WARN, name,
			        "= %s (%s): mapped field %s, unset in this environment; the "
			        "client's environment must set it when the shim reads it",
			        value, from, field);
			fix(c, "the client's environment (e.g. an Identity Manager mapped field)",
			    NULL, field, "the value for [%s] %s", p11_config_section(key),
			    p11_config_name(key));
		} else if (p11_config_get(d->cfg, key, err, sizeof(err)) == NULL) {
			c = add(d, ST_FAIL, name,
			        "= %s (%s): mapped field %s = '%s' is not valid: %s", value, from,
			        field, now, err);
			/* The check's own advice: "...; use true or false". */
			fix(c, "the client's environment", NULL, field, "%s",
			    strstr(err, "; use ") ? strstr(err, "; use ") + 6 : "a valid value");
		} else {
			c = add(d, ST_OK, name, "= %s (%s): mapped field %s, now '%s'", value, from,
			        field, now);
		}
		kv(c, "mapped", "%s", field);
		if (now != NULL)
			kv(c, "current", "%s", now);
	}
	kv(c, "section", "%s", p11_config_section(key));
	kv(c, "key", "%s", p11_config_name(key));
	kv(c, "value", "%s", value);
	kv(c, "origin", "%s", is_mapped(value) ? "mapped field" : origin_name(d, o));
	kv(c, "set_in", "%s", o == P11_ORIGIN_DEFAULT ? "default" : origin_name(d, o));
	if (file != NULL)
		kv(c, "file", "%s", file);
	if (line > 0)
		kv(c, "line", "%u", line);
}

static bool check_config(doctor *d)
{
	char err[1024], file[4200];
	const char *rest, *file_, *value;
	p11_origin o;
	unsigned line;
	size_t i, n;
	check *c;
	int k;

	group(d, "configuration");
	check_sources(d);
	d->cfg = p11_config_load(&d->src, err, sizeof(err));
	if (d->cfg == NULL) {
		/* The module would fail C_Initialize with this line. */
		split_located(err, conf_target(d, P11_KEY_LIBRARY), file, sizeof(file), &rest);
		c = add(d, ST_FAIL, "load", "%s", err);
		fix(c, file, NULL, NULL, "%s", rest);
		return false;
	}
	add(d, ST_OK, "load", "the configuration loads as the shim loads it");
	for (k = 0; k < P11_KEY_COUNT; k++) {
		if (k == P11_KEY_SKIP_READER) {
			n = p11_config_count(d->cfg, (p11_key)k);
			for (i = 0; i < n; i++) {
				value = p11_config_item(d->cfg, (p11_key)k, i, &o, &file_, &line);
				check_key(d, (p11_key)k, value, o, file_, line);
			}
			if (n == 0) {
				c = add(d, ST_OK, "[readers] SkipReader",
				        "= (none: an empty SkipReader cleared "
				        "the list)");
				kv(c, "section", "readers");
				kv(c, "key", "SkipReader");
				kv(c, "value", "%s", "");
			}
			continue;
		}
		value = p11_config_raw(d->cfg, (p11_key)k, &o, &file_, &line);
		check_key(d, (p11_key)k, value, o, file_, line);
	}
	return true;
}

/* ---- backend ---- */

/* The fix for the backend path: the file (or P11SHIM_LIBRARY) that names it. */
static void fix_backend(doctor *d, check *c, p11_key key, const char *fmt, const char *arg)
{
	p11_origin o;
	char value[1200];

	p11_config_raw(d->cfg, key, &o, NULL, NULL);
	snprintf(value, sizeof(value), fmt, arg);
	if (o == P11_ORIGIN_ENV)
		fix(c, "environment", NULL, "P11SHIM_LIBRARY", "%s", value);
	else
		fix(c, conf_target(d, key), "backend", p11_config_name(key), "%s", value);
}

static void check_backend(doctor *d)
{
	char err[1024], why[1024], arch[256], desc[64], manuf[64], version[32], source[96];
	unsigned self_bits;
	char self_machine[24];
	CK_C_INITIALIZE_ARGS args;
	CK_C_GetFunctionList get_list;
	compat_exe x;
	p11_key key;
	const char *path, *fixp;
	void *dl;
	check *c;
	CK_RV rv;

	group(d, "backend");
	d->personal = -1;
	self_arch(&self_bits, self_machine, sizeof(self_machine));
	snprintf(arch, sizeof(arch),
	         "a %s PKCS#11 module (only the 32-bit personal.dll initialises "
	         "cards; the shim loads its own word size)",
	         compat_self_arch());
	key = p11_backend_key(d->cfg);
	path = p11_config_raw(d->cfg, key, NULL, NULL, NULL);
	if (path[0] == '\0') {
		c = add(d, ST_FAIL, "module", "no PKCS#11 module configured");
		fix_backend(d, c, key, "%s",
		            "the real PKCS#11 module, e.g. C:/Program Files (x86)/Personal/bin/personal.dll");
		return;
	}
	switch (p11_file_trusted(path, "backend library", why, sizeof(why))) {
	case P11_TRUST_MISSING:
		c = add(d, ST_FAIL, "file", "%s: not found", path);
		fix_backend(d, c, key, "%s", "the path of the real PKCS#11 module");
		kv(c, "path", "%s", path);
		return;
	case P11_TRUST_REFUSED:
		/* "PATH: why; fix: command" */
		fixp = strstr(why, "; fix: ");
		c = add(d, ST_FAIL, "file", "%.*s", fixp ? (int)(fixp - why) : (int)strlen(why), why);
		fix(c, path, NULL, NULL, "%s",
		    fixp ? fixp + 7 : "make it writable by its owner only");
		kv(c, "path", "%s", path);
		return;
	case P11_TRUST_OK:
		c = add(d, ST_OK, "file", "%s exists: %s", path, why);
		kv(c, "path", "%s", path);
		break;
	}
	if (compat_exe_header(path, &x, err, sizeof(err)) == 0) {
		if (compat_check_module_file(path, why, sizeof(why)) == 0) {
			c = add(d, ST_OK, "word size", "%s %u-bit %s, as the shim (%s)", x.format,
			        x.bits, x.machine, compat_self_arch());
		} else {
			c = add(d, ST_FAIL, "word size", "%s", why);
			fix_backend(d, c, key, "%s", arch);
		}
		kv(c, "format", "%s", x.format);
		kv(c, "bits", "%u", x.bits);
		kv(c, "machine", "%s", x.machine);
		kv(c, "shim", "%s", compat_self_arch());
		if (c->st == ST_FAIL)
			return;
	} else if (compat_check_module_file(path, why, sizeof(why)) != 0) {
		c = add(d, ST_FAIL, "word size", "%s", why);
		fix_backend(d, c, key, "%s", arch);
		return;
	}
	dl = compat_dlopen(path, err, sizeof(err));
	if (dl == NULL) {
		c = add(d, ST_FAIL, "loads", "%s", err);
		fix_backend(d, c, key, "%s",
		            "a PKCS#11 module whose own libraries are installed beside it");
		return;
	}
	add(d, ST_OK, "loads", "dlopen works");
	get_list = (CK_C_GetFunctionList)compat_dlsym(dl, "C_GetFunctionList");
	if (get_list == NULL) {
		c = add(d, ST_FAIL, "C_GetFunctionList", "not exported: not a PKCS#11 module");
		fix_backend(d, c, key, "%s",
		            "the real PKCS#11 module (it exports C_GetFunctionList)");
		return;
	}
	rv = get_list(&d->fl);
	if (rv != CKR_OK || d->fl == NULL || d->fl->C_Initialize == NULL || d->fl->C_GetInfo == NULL) {
		c = add(d, ST_FAIL, "C_GetFunctionList", "returned %s%s", p11_rv_str(rv),
		        rv == CKR_OK ? " and no usable function list" : "");
		fix_backend(d, c, key, "%s", "a working PKCS#11 module");
		d->fl = NULL;
		return;
	}
	add(d, ST_OK, "C_GetFunctionList", "exported; function list version %u.%u",
	    d->fl->version.major, d->fl->version.minor);
	/* As Java's SunPKCS11 asks: CKF_OS_LOCKING_OK, no mutex callbacks. */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = d->fl->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		c = add(d, ST_FAIL, "C_Initialize",
		        "returned %s (the module's own messages, if any, are "
		        "above)",
		        p11_rv_str(rv));
		kv(c, "rv", "%s", p11_rv_str(rv));
		fix_backend(d, c, key, "%s",
		            "a module that initialises: check its own configuration and logs");
		d->fl = NULL;
		return;
	}
	d->initialized = true;
	rv = d->fl->C_GetInfo(&d->info);
	if (rv != CKR_OK) {
		c = add(d, ST_FAIL, "C_GetInfo", "returned %s", p11_rv_str(rv));
		fix_backend(d, c, key, "%s", "a working PKCS#11 module");
	} else {
		d->have_info = true;
		padded(manuf, sizeof(manuf), d->info.manufacturerID, sizeof(d->info.manufacturerID));
		padded(desc, sizeof(desc), d->info.libraryDescription,
		       sizeof(d->info.libraryDescription));
		c = add(d, ST_OK, "C_GetInfo",
		        "manufacturer '%s', library '%s' %u.%u, Cryptoki %u.%u", manuf, desc,
		        d->info.libraryVersion.major, d->info.libraryVersion.minor,
		        d->info.cryptokiVersion.major, d->info.cryptokiVersion.minor);
		kv(c, "manufacturer", "%s", manuf);
		kv(c, "library", "%s", desc);
		kv(c, "library_version", "%u.%u", d->info.libraryVersion.major,
		   d->info.libraryVersion.minor);
		kv(c, "cryptoki", "%u.%u", d->info.cryptokiVersion.major,
		   d->info.cryptokiVersion.minor);
	}
	d->personal = p11_middleware_identify(d->cfg, path, d->have_info ? &d->info : NULL, version,
	                                      sizeof(version), source, sizeof(source));
	if (d->personal) {
		c = add(d, version[0] ? ST_OK : ST_WARN, "middleware",
		        "Nexus Personal %s%s%s ([backend] "
		        "Middleware = %s)%s",
		        version[0] ? version : "of unknown version",
		        source[0] ? ", version from " : "", source,
		        p11_config_raw(d->cfg, P11_KEY_MIDDLEWARE, NULL, NULL, NULL),
		        version[0] && p11_version_cmp(version, "5.7.2") < 0 ?
		                "; it cannot change the PUK (needs 5.7.2 or higher)" :
		                "");
		if (!version[0])
			fix(c, conf_target(d, P11_KEY_MIDDLEWARE_VERSION), "backend",
			    "MiddlewareVersion", "the installed Personal version, e.g. 5.7.2");
	} else {
		c = add(d, ST_OK, "middleware",
		        "generic PKCS#11 module, not Nexus Personal ([backend] "
		        "Middleware = %s); version %s%s%s%s",
		        p11_config_raw(d->cfg, P11_KEY_MIDDLEWARE, NULL, NULL, NULL),
		        version[0] ? version : "unknown", source[0] ? " (from " : "", source,
		        source[0] ? ")" : "");
	}
	kv(c, "personal", "%s", d->personal ? "true" : "false");
	kv(c, "version", "%s", version);
	kv(c, "version_source", "%s", source);
}

/* ---- Personal.cfg ---- */

/* Personal's own files are checked for a Personal backend, or when they are named. */
static bool personal_relevant(doctor *d, p11_key a, p11_key b)
{
	const char *m = p11_config_raw(d->cfg, P11_KEY_MIDDLEWARE, NULL, NULL, NULL);

	if (d->personal == 1 || (d->personal == -1 && strcasecmp(m, "personal") == 0))
		return true;
	return p11_config_raw(d->cfg, a, NULL, NULL, NULL)[0] != '\0' ||
	       (b != P11_KEY_COUNT && p11_config_raw(d->cfg, b, NULL, NULL, NULL)[0] != '\0');
}

static void check_personal_cfg(doctor *d)
{
	static const char sys_default[] = "C:/Program Files (x86)/Personal/config/Personal.cfg";
	p11_personal_cfg *pc;
	char err[1024], file[4200];
	const char *rest, *enforce, *target;
	bool from_personal = false;
	status st;
	check *c;
	size_t i;

	group(d, "Personal.cfg");
	if (!personal_relevant(d, P11_KEY_PERSONAL_CONFIG, P11_KEY_PERSONAL_USER_CONFIG)) {
		add(d, ST_SKIP, "Personal.cfg",
		    "not checked: the backend is not Nexus Personal and "
		    "[middleware] PersonalConfig and PersonalUserConfig are not set");
		return;
	}
	pc = calloc(1, sizeof(*pc));
	if (pc == NULL)
		oom();
	if (!p11_personal_cfg_read(d->cfg, pc, err, sizeof(err))) {
		split_located(err, pc->system_file, file, sizeof(file), &rest);
		c = add(d, ST_FAIL, "read", "%s", err);
		fix(c, file, NULL, NULL, "%s", rest);
		free(pc);
		return;
	}
	/* The two files. */
	if (pc->system_file[0] == '\0') {
		c = add(d, ST_WARN, "system file", "not set ([middleware] PersonalConfig)");
		fix(c, conf_target(d, P11_KEY_PERSONAL_CONFIG), "middleware", "PersonalConfig",
		    "the middleware's system Personal.cfg, e.g. %s", sys_default);
	} else {
		c = add(d, pc->system_read ? ST_OK : ST_WARN, "system file", "%s%s",
		        pc->system_file, pc->system_read ? "" : ": not found");
		if (!pc->system_read)
			fix(c, conf_target(d, P11_KEY_PERSONAL_CONFIG), "middleware",
			    "PersonalConfig", "the path of the middleware's system Personal.cfg");
	}
	kv(c, "path", "%s", pc->system_file);
	kv(c, "exists", "%s", pc->system_read ? "true" : "false");
	if (pc->user_file[0] == '\0')
		c = add(d, ST_OK, "per-user file", "not set ([middleware] PersonalUserConfig)");
	else
		c = add(d, ST_OK, "per-user file", "%s%s", pc->user_file,
		        pc->user_read ? "" : ": not present");
	kv(c, "path", "%s", pc->user_file);
	kv(c, "exists", "%s", pc->user_read ? "true" : "false");
	if (pc->system_read && pc->user_read)
		c = add(d, ST_OK, "wins", "both exist: the per-user file %s wins key by key",
		        pc->user_file);
	else if (pc->user_read)
		c = add(d, ST_OK, "wins", "only the per-user file exists: %s", pc->user_file);
	else if (pc->system_read)
		c = add(d, ST_OK, "wins", "only the system file exists: %s", pc->system_file);
	else
		c = add(d, ST_WARN, "wins",
		        "neither file exists: Personal runs with its defaults "
		        "(card caching on)");
	kv(c, "wins", "%s", pc->user_read ? "user" : pc->system_read ? "system" : "none");

	/* Caching: Nexus's Personal integration guide says it must be off; the
	 * layer refuses or warns per Enforce. */
	enforce = p11_config_raw(d->cfg, P11_KEY_ENFORCE, NULL, NULL, NULL);
	target = pc->user_read      ? pc->user_file :
	         pc->system_read    ? pc->system_file :
	         pc->system_file[0] ? pc->system_file :
	                              sys_default;
	if (!p11_personal_caching_on(pc)) {
		c = add(d, ST_OK, "caching", "off: %s:%u: [Cache] CacheValidity = 0", pc->file,
		        pc->line);
	} else {
		st = d->personal == 0 ? ST_WARN : ST_FAIL;
		if (pc->file[0] != '\0')
			c = add(d, st, "caching",
			        "on: %s:%u: [Cache] CacheValidity = %s; card data read "
			        "during encoding may be outdated",
			        pc->file, pc->line, pc->value);
		else
			c = add(d, st, "caching",
			        "on: no [Cache] CacheValidity in any Personal.cfg (Personal "
			        "caches by default); card data read during encoding may be outdated");
		if (d->personal != 0)
			kv(c, "enforce", "%s", enforce);
		fix(c, pc->file[0] ? pc->file : target, "Cache", "CacheValidity", "0");
	}
	kv(c, "caching", "%s", p11_personal_caching_on(pc) ? "on" : "off");
	kv(c, "value", "%s", pc->value);
	if (pc->file[0])
		kv(c, "file", "%s", pc->file);

	/* Its SkipReader lines. */
	(void)p11_config_bool(d->cfg, P11_KEY_READ_PERSONAL_SKIP_READER, &from_personal, err,
	                      sizeof(err));
	if (pc->n_skip == 0)
		add(d, ST_OK, "SkipReader", "no SkipReader lines");
	for (i = 0; i < pc->n_skip; i++) {
		c = add(d, ST_OK, "SkipReader", "%s (%s:%u)%s", pc->skip[i].pattern,
		        pc->skip[i].file, pc->skip[i].line,
		        from_personal ?
		                "; the shim hides these readers too" :
		                "; the shim ignores it ([readers] ReadPersonalSkipReader = false)");
		kv(c, "pattern", "%s", pc->skip[i].pattern);
		kv(c, "file", "%s", pc->skip[i].file);
		kv(c, "line", "%u", pc->skip[i].line);
	}
	free(pc);
}

/* ---- the PIN-encryption certificate ---- */

static void check_pin_cert(doctor *d)
{
	static const char cfg_default[] = "C:/Program Files (x86)/Personal/config/iD2ppa.cfg";
	p11_pin_cert cert;
	char why[2048], date[32];
	status bad;
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;
	check *c;
	long days;

	group(d, "PIN-encryption certificate");
	if (!personal_relevant(d, P11_KEY_PIN_ENCRYPTION_CONFIG, P11_KEY_COUNT)) {
		add(d, ST_SKIP, "certificate",
		    "not checked: the backend is not Nexus Personal and "
		    "[middleware] PinEncryptionConfig is not set");
		return;
	}
	/* For a generic backend the shim checks nothing: a problem is a warning. */
	bad = d->personal == 0 ? ST_WARN : ST_FAIL;
	if (p11_pin_cert_check(d->cfg, &cert, why, sizeof(why))) {
		c = add(d, ST_OK, "iD2ppa.cfg", "%s: [PIN Encryption] File = %s", cert.cfg_file,
		        cert.cert_file);
		kv(c, "path", "%s", cert.cfg_file);
		c = add(d, ST_OK, "certificate", "%s: readable, X.509 (%s)", cert.cert_file,
		        cert.format);
		kv(c, "path", "%s", cert.cert_file);
		kv(c, "format", "%s", cert.format);
		c = add(d, ST_OK, "subject", "%s", cert.subject);
		kv(c, "subject", "%s", cert.subject);
		gmtime_r(&cert.not_after, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm);
		days = (long)((cert.not_after - now) / 86400);
		if (cert.not_after <= now) {
			c = add(d, ST_WARN, "expiry", "expired on %s", date);
			fix(c, cert.cfg_file, "PIN Encryption", "File",
			    "a certificate that has not expired "
			    "(any dummy certificate will do)");
		} else if (cert.not_after - now < (time_t)CERT_WARN_DAYS * 86400) {
			c = add(d, ST_WARN, "expiry", "expires on %s, in %ld day%s", date, days,
			        days == 1 ? "" : "s");
			fix(c, cert.cfg_file, "PIN Encryption", "File",
			    "a certificate valid for more than %d "
			    "days (any dummy certificate will do)",
			    CERT_WARN_DAYS);
		} else {
			c = add(d, ST_OK, "expiry", "valid until %s (%ld days)", date, days);
		}
		kv(c, "not_after", "%s", date);
		kv(c, "days_left", "%ld", days);
		return;
	}
	/* Which step failed: the set-up file, its File line, reading, parsing. */
	if (cert.cfg_file[0] == '\0') {
		c = add(d, bad, "iD2ppa.cfg", "not set ([middleware] PinEncryptionConfig)");
		fix(c, conf_target(d, P11_KEY_PIN_ENCRYPTION_CONFIG), "middleware",
		    "PinEncryptionConfig", "the middleware's iD2ppa.cfg, e.g. %s", cfg_default);
		return;
	}
	if (cert.cert_file[0] == '\0') {
		c = add(d, bad, "iD2ppa.cfg", "%s", why);
		fix(c, cert.cfg_file, "PIN Encryption", "File",
		    "the path of an X.509 certificate (any "
		    "dummy certificate will do)");
		kv(c, "path", "%s", cert.cfg_file);
		return;
	}
	c = add(d, ST_OK, "iD2ppa.cfg", "%s: [PIN Encryption] File = %s", cert.cfg_file,
	        cert.cert_file);
	kv(c, "path", "%s", cert.cfg_file);
	f = fopen(cert.cert_file, "rb");
	if (f == NULL) {
		c = add(d, bad, "certificate", "%s cannot be read: %s", cert.cert_file,
		        strerror(errno));
	} else {
		fclose(f);
		c = add(d, bad, "certificate", "%s is not an X.509 certificate (PEM or DER)",
		        cert.cert_file);
	}
	kv(c, "path", "%s", cert.cert_file);
	fix(c, cert.cfg_file, "PIN Encryption", "File",
	    "a readable X.509 certificate, PEM or DER (any "
	    "dummy certificate will do)");
}

/* ---- Java ---- */

/* OS_ARCH of a JRE's release file: word size and machine as compat names them. */
static bool java_arch(const char *os_arch, unsigned *bits, const char **machine)
{
	static const struct {
		const char *name;
		unsigned bits;
		const char *machine;
	} map[] = {
		{ "x86", 32, "i386" },        { "i386", 32, "i386" },
		{ "i486", 32, "i386" },       { "i586", 32, "i386" },
		{ "i686", 32, "i386" },       { "amd64", 64, "x86-64" },
		{ "x86_64", 64, "x86-64" },   { "x64", 64, "x86-64" },
		{ "aarch64", 64, "aarch64" }, { "arm64", 64, "aarch64" },
		{ "arm", 32, "arm" },         { "aarch32", 32, "arm" },
		{ "ppc64", 64, "ppc64" },     { "ppc64le", 64, "ppc64" },
		{ "s390x", 64, "s390" },      { "riscv64", 64, "riscv" },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcasecmp(os_arch, map[i].name) == 0) {
			*bits = map[i].bits;
			*machine = map[i].machine;
			return true;
		}
	}
	return false;
}

/* KEY="VALUE" of a JRE's release file; "" when absent. */
static void release_value(const char *text, const char *key, char *out, size_t cap)
{
	size_t n = strlen(key);
	const char *p = text;

	out[0] = '\0';
	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, n) == 0 && p[n] == '=') {
			const char *v = p + n + 1, *e;
			if (*v == '"')
				v++;
			e = v + strcspn(v, "\"\r\n");
			snprintf(out, cap, "%.*s", (int)(e - v), v);
			return;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
}

static void check_java(doctor *d)
{
	char jre[128], path[4200], text[8192], version[64], impl[128], os_arch[64], os_name[64],
	        err[512];
	const char *home = getenv("JAVA_HOME"), *machine;
	unsigned self_bits, bits;
	char self_machine[24];
	struct stat st;
	compat_exe x;
	size_t n;
	FILE *f;
	check *c;

	group(d, "Java");
	self_arch(&self_bits, self_machine, sizeof(self_machine));
	snprintf(jre, sizeof(jre), "the root folder of a %s JRE%s", compat_self_arch(),
	         self_bits == 32 ? "" : " (the Windows p11shim.dll needs a 32-bit JRE)");
	if (home == NULL || home[0] == '\0') {
		c = add(d, ST_WARN, "JAVA_HOME",
		        "not set: JPKIEncoder (Identity Manager) needs it; the "
		        "Smart ID Desktop app does not use Java");
		fix(c, "environment", NULL, "JAVA_HOME", "%s", jre);
		return;
	}
	if (stat(home, &st) != 0 || !S_ISDIR(st.st_mode)) {
		c = add(d, ST_FAIL, "JAVA_HOME", "%s is not a folder", home);
		fix(c, "environment", NULL, "JAVA_HOME", "%s", jre);
		return;
	}
	c = add(d, ST_OK, "JAVA_HOME", "%s", home);
	kv(c, "path", "%s", home);

	/* The release file: what the JRE says about itself. */
	snprintf(path, sizeof(path), "%s/release", home);
	f = fopen(path, "r");
	if (f == NULL) {
		c = add(d, ST_WARN, "release", "%s: %s; the java executable's header decides", path,
		        strerror(errno));
	} else {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		text[n] = '\0';
		release_value(text, "JAVA_VERSION", version, sizeof(version));
		release_value(text, "IMPLEMENTOR", impl, sizeof(impl));
		release_value(text, "OS_NAME", os_name, sizeof(os_name));
		release_value(text, "OS_ARCH", os_arch, sizeof(os_arch));
		if (os_arch[0] == '\0' || !java_arch(os_arch, &bits, &machine)) {
			c = add(d, ST_WARN, "release",
			        "Java %s%s%s, OS_ARCH '%s' not known; the java "
			        "executable's header decides",
			        version[0] ? version : "?", impl[0] ? " by " : "", impl, os_arch);
		} else if (bits != self_bits || strcmp(machine, self_machine) != 0) {
			c = add(d, ST_FAIL, "release",
			        "Java %s%s%s for %s (OS_ARCH \"%s\"): a %u-bit %s "
			        "JRE cannot load the %s shim",
			        version[0] ? version : "?", impl[0] ? " by " : "", impl,
			        os_name[0] ? os_name : "?", os_arch, bits, machine,
			        compat_self_arch());
			fix(c, "environment", NULL, "JAVA_HOME", "%s", jre);
		} else {
			c = add(d, ST_OK, "release",
			        "Java %s%s%s for %s (OS_ARCH \"%s\"): %u-bit %s, as "
			        "the shim",
			        version[0] ? version : "?", impl[0] ? " by " : "", impl,
			        os_name[0] ? os_name : "?", os_arch, bits, machine);
		}
		kv(c, "java_version", "%s", version);
		kv(c, "implementor", "%s", impl);
		kv(c, "os_name", "%s", os_name);
		kv(c, "os_arch", "%s", os_arch);
	}

	/* The executable itself: the header cannot be wrong about its word size. */
	snprintf(path, sizeof(path), "%s/bin/java", home);
	if (!file_exists(path))
		snprintf(path, sizeof(path), "%s/bin/java.exe", home);
	if (!file_exists(path)) {
		c = add(d, ST_FAIL, "java",
		        "%s/bin/java not found: JAVA_HOME does not point to a JRE", home);
		fix(c, "environment", NULL, "JAVA_HOME", "%s", jre);
		return;
	}
	if (compat_exe_header(path, &x, err, sizeof(err)) != 0) {
		c = add(d, ST_FAIL, "java", "%s: %s", path, err);
		fix(c, "environment", NULL, "JAVA_HOME", "%s", jre);
		return;
	}
	if (strcmp(x.format, COMPAT_EXE_FORMAT) == 0 && x.bits == self_bits &&
	    strcmp(x.machine, self_machine) == 0) {
		c = add(d, ST_OK, "java", "%s: %s %u-bit %s, as the shim", path, x.format, x.bits,
		        x.machine);
	} else {
		c = add(d, ST_FAIL, "java", "%s: %s %u-bit %s: it cannot load the %s shim", path,
		        x.format, x.bits, x.machine, compat_self_arch());
		fix(c, "environment", NULL, "JAVA_HOME", "%s", jre);
	}
	kv(c, "path", "%s", path);
	kv(c, "format", "%s", x.format);
	kv(c, "bits", "%u", x.bits);
	kv(c, "machine", "%s", x.machine);
}

/* ---- slots ---- */

/* A SkipReader pattern for a reader name: "Microsoft Virtual Smart Card 0" -> "... .*". */
static void pattern_for(const char *reader, char *out, size_t cap)
{
	size_t n = strlen(reader);

	while (n > 0 && reader[n - 1] >= '0' && reader[n - 1] <= '9')
		n--;
	if (n < strlen(reader))
		snprintf(out, cap, "%.*s.*", (int)n, reader);
	else
		snprintf(out, cap, "%s", reader);
}

/* Case-insensitive: does s contain needle? (strcasestr is not everywhere.) */
static bool icontains(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s != '\0'; s++)
		if (strncasecmp(s, needle, n) == 0)
			return true;
	return false;
}

static bool looks_virtual(const char *reader)
{
	return icontains(reader, "virtual") || icontains(reader, "windows hello");
}

static void check_slots(doctor *d)
{
	char err[1024], file[4200], reader[80], label[40], model[24], serial[24], pat[96];
	const char *rest, *ptext, *porigin;
	CK_SLOT_ID *ids = NULL;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i;
	p11_skip *skip;
	size_t np;
	int m;
	check *c;
	CK_RV rv;

	group(d, "slots");
	skip = p11_skip_new(d->cfg, err, sizeof(err));
	if (skip == NULL) {
		/* The readers layer would fail C_Initialize with this message. */
		split_located(err, conf_target(d, P11_KEY_SKIP_READER), file, sizeof(file), &rest);
		c = add(d, ST_FAIL, "SkipReader", "%s", err);
		fix(c, file, NULL, "SkipReader", "%s", "a valid PCRE2 pattern");
		return;
	}
	np = p11_skip_count(skip);
	add(d, ST_OK, "SkipReader", "%zu pattern%s hide%s readers (full match on the reader name)",
	    np, np == 1 ? "" : "s", np == 1 ? "s" : "");
	if (d->fl == NULL || !d->initialized) {
		add(d, ST_SKIP, "slots", "not listed: the backend did not initialise");
		goto out;
	}
	rv = d->fl->C_GetSlotList(CK_FALSE, NULL, &n);
	if (rv == CKR_OK && n > 0) {
		ids = calloc(n, sizeof(*ids));
		if (ids == NULL)
			oom();
		rv = d->fl->C_GetSlotList(CK_FALSE, ids, &n);
	}
	if (rv != CKR_OK) {
		c = add(d, ST_FAIL, "C_GetSlotList", "returned %s", p11_rv_str(rv));
		fix(c, conf_target(d, P11_KEY_LIBRARY), "backend", "PKCS11Library",
		    "a working PKCS#11 module");
		goto out;
	}
	if (n == 0)
		add(d, ST_WARN, "slots", "the backend reports no slot: is a reader connected?");
	for (i = 0; i < n; i++) {
		char name[48];
		snprintf(name, sizeof(name), "slot %lu", (unsigned long)ids[i]);
		rv = d->fl->C_GetSlotInfo(ids[i], &si);
		if (rv != CKR_OK) {
			c = add(d, ST_WARN, name, "C_GetSlotInfo returned %s", p11_rv_str(rv));
			kv(c, "id", "%lu", (unsigned long)ids[i]);
			continue;
		}
		padded(reader, sizeof(reader), si.slotDescription, sizeof(si.slotDescription));
		m = p11_skip_match(skip, (const char *)si.slotDescription,
		                   sizeof(si.slotDescription));
		if (m >= 0) {
			/* Never asked for its token: that is what confuses the middleware. */
			ptext = p11_skip_pattern(skip, (size_t)m, &porigin);
			c = add(d, ST_OK, name, "'%s': hidden by SkipReader '%s' (%s)", reader,
			        ptext, porigin);
			kv(c, "id", "%lu", (unsigned long)ids[i]);
			kv(c, "reader", "%s", reader);
			kv(c, "shown", "false");
			kv(c, "pattern", "%s", ptext);
			kv(c, "pattern_origin", "%s", porigin);
			continue;
		}
		if (!(si.flags & CKF_TOKEN_PRESENT)) {
			c = add(d, looks_virtual(reader) ? ST_WARN : ST_OK, name,
			        "'%s': shown, no card%s", reader,
			        looks_virtual(reader) ?
			                "; a virtual reader can make the middleware fail" :
			                "");
			if (c->st == ST_WARN) {
				pattern_for(reader, pat, sizeof(pat));
				fix(c, conf_target(d, P11_KEY_SKIP_READER), "readers", "SkipReader",
				    "%s", pat);
			}
		} else if ((rv = d->fl->C_GetTokenInfo(ids[i], &ti)) != CKR_OK) {
			c = add(d,
			        rv == CKR_GENERAL_ERROR || looks_virtual(reader) ? ST_FAIL : ST_WARN,
			        name, "'%s': shown, but C_GetTokenInfo returned %s%s", reader,
			        p11_rv_str(rv),
			        rv == CKR_GENERAL_ERROR ?
			                ": a virtual smart card confuses the middleware "
			                "(Nexus's Personal integration guide)" :
			                "");
			if (c->st == ST_FAIL) {
				pattern_for(reader, pat, sizeof(pat));
				fix(c, conf_target(d, P11_KEY_SKIP_READER), "readers", "SkipReader",
				    "%s", pat);
			}
			kv(c, "rv", "%s", p11_rv_str(rv));
		} else {
			padded(label, sizeof(label), ti.label, sizeof(ti.label));
			padded(model, sizeof(model), ti.model, sizeof(ti.model));
			padded(serial, sizeof(serial), ti.serialNumber, sizeof(ti.serialNumber));
			c = add(d, looks_virtual(reader) ? ST_WARN : ST_OK, name,
			        "'%s': shown; token '%s', "
			        "model '%s', serial '%s'%s",
			        reader, label, model, serial,
			        looks_virtual(reader) ?
			                "; a virtual reader can make the middleware fail" :
			                "");
			if (c->st == ST_WARN) {
				pattern_for(reader, pat, sizeof(pat));
				fix(c, conf_target(d, P11_KEY_SKIP_READER), "readers", "SkipReader",
				    "%s", pat);
			}
			kv(c, "label", "%s", label);
			kv(c, "model", "%s", model);
			kv(c, "serial", "%s", serial);
		}
		kv(c, "id", "%lu", (unsigned long)ids[i]);
		kv(c, "reader", "%s", reader);
		kv(c, "shown", "true");
		kv(c, "token", "%s", si.flags & CKF_TOKEN_PRESENT ? "true" : "false");
	}
out:
	free(ids);
	p11_skip_free(skip);
}

/* ---- trace ---- */

static void human_size(unsigned long long v, char *out, size_t cap)
{
	if (v >= (1ULL << 30))
		snprintf(out, cap, "%.1f GiB", (double)v / (double)(1ULL << 30));
	else
		snprintf(out, cap, "%.1f MiB", (double)v / (double)(1ULL << 20));
}

static void check_trace(doctor *d)
{
	char err[1024], dir[4200], probe[4200], size[32], need_s[32];
	const char *file, *slash;
	struct stat st;
	uint64_t max_size = 0;
	unsigned long long avail, need;
	bool enable = false, created = false;
	check *c;
	char *p;

	group(d, "trace");
	file = p11_config_get(d->cfg, P11_KEY_TRACE_FILE, err, sizeof(err));
	if (file == NULL) {
		c = add(d, ST_WARN, "destination", "%s", err);
		return;
	}
	if (!p11_config_bool(d->cfg, P11_KEY_TRACE_ENABLE, &enable, err, sizeof(err)) ||
	    !p11_config_size(d->cfg, P11_KEY_TRACE_MAXSIZE, &max_size, err, sizeof(err))) {
		add(d, ST_WARN, "settings", "%s", err);
		return;
	}
	if (file[0] == '\0' && !enable) {
		c = add(d, ST_OK, "trace", "off: no call is recorded for `p11shim trace diagnose`");
		fix(c, conf_target(d, P11_KEY_TRACE_ENABLE), "trace", "Enable",
		    "true (to record calls)");
		kv(c, "enabled", "false");
		return;
	}
	if (file[0] == '\0') {
		if (!compat_state_dir(dir, sizeof(dir))) {
			c = add(d, ST_FAIL, "destination",
			        "no HOME or XDG_STATE_HOME for the default trace folder");
			fix(c, conf_target(d, P11_KEY_TRACE_FILE), "trace", "File",
			    "a writable path");
			return;
		}
		created = true; /* the trace layer makes the state folder */
		c = add(d, ST_OK, "destination",
		        "%s/p11shim-%%p.%s (the default: [trace] File is empty)", dir,
		        strcasecmp(p11_config_raw(d->cfg, P11_KEY_TRACE_FORMAT, NULL, NULL, NULL),
		                   "text") == 0 ?
		                "log" :
		                "jsonl");
	} else {
		slash = NULL;
		for (const char *q = file; *q != '\0'; q++)
			if (strchr(COMPAT_DIR_SEPS, *q) != NULL)
				slash = q;
		if (slash == NULL)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == file)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - file), file);
		c = add(d, slash == NULL ? ST_WARN : ST_OK, "destination", "%s%s", file,
		        slash == NULL ? ": a relative path, relative to the client's working folder" :
		                        "");
		if (slash == NULL)
			fix(c, conf_target(d, P11_KEY_TRACE_FILE), "trace", "File",
			    "an absolute path");
	}
	kv(c, "file", "%s", file);
	kv(c, "folder", "%s", dir);
	/* The folder, or where it will be made: its nearest existing parent. */
	snprintf(probe, sizeof(probe), "%s", dir);
	while (stat(probe, &st) != 0 && created && (p = strrchr(probe, '/')) != NULL && p != probe)
		*p = '\0';
	if (stat(probe, &st) != 0 || !S_ISDIR(st.st_mode)) {
		c = add(d, ST_FAIL, "folder", "%s: %s", dir,
		        stat(probe, &st) != 0 ? strerror(errno) : "not a folder");
		fix(c, conf_target(d, P11_KEY_TRACE_FILE), "trace", "File",
		    "a path in an existing, "
		    "writable folder");
		return;
	}
	if (access(probe, DIR_WRITABLE) != 0) {
		c = add(d, ST_FAIL, "folder", "%s is not writable: %s", probe, strerror(errno));
		fix(c, conf_target(d, P11_KEY_TRACE_FILE), "trace", "File",
		    "a path in a folder the client "
		    "can write to");
		return;
	}
	if (strcmp(probe, dir) != 0)
		add(d, ST_OK, "folder", "%s will be made in %s (writable)", dir, probe);
	else
		add(d, ST_OK, "folder", "%s is writable", dir);
	if (file[0] != '\0' && strstr(file, "%p") == NULL && strstr(file, "%t") == NULL &&
	    stat(file, &st) == 0) {
		if (!S_ISREG(st.st_mode) || access(file, W_OK) != 0) {
			c = add(d, ST_FAIL, "file", "%s exists and cannot be written", file);
			fix(c, conf_target(d, P11_KEY_TRACE_FILE), "trace", "File",
			    "a writable file");
			return;
		}
		add(d, ST_OK, "file", "%s exists and is writable", file);
	}
	if (!compat_free_bytes(probe, &avail)) {
		add(d, ST_WARN, "free space", "%s: %s", probe, strerror(errno));
		return;
	}
	need = max_size ? 2 * (unsigned long long)max_size : TRACE_MIN_FREE;
	human_size(avail, size, sizeof(size));
	human_size(need, need_s, sizeof(need_s));
	if (avail < need) {
		c = add(d, ST_WARN, "free space",
		        "%s free in %s; the trace may need %s (FILE and FILE.1 "
		        "at [trace] MaxSize)",
		        size, probe, need_s);
		fix(c, conf_target(d, P11_KEY_TRACE_FILE), "trace", "File",
		    "a path on a file system with more room");
	} else {
		c = add(d, ST_OK, "free space", "%s free in %s", size, probe);
	}
	kv(c, "free_bytes", "%llu", avail);
	kv(c, "needed_bytes", "%llu", need);
}

/* ---- output ---- */

static void count(const doctor *d, size_t *n)
{
	size_t i;

	memset(n, 0, ST_COUNT * sizeof(*n));
	for (i = 0; i < d->n; i++)
		n[d->c[i].st]++;
}

/*
 * A check's text holds what doctor read: configuration values, paths, the
 * environment, reader names and labels from the middleware. Escaped for
 * the terminal here, where every text line is printed;
 * --json writes them JSON-quoted.
 */
static void put_safe(const char *s)
{
	p11_text_fput(stdout, s, strlen(s));
}

static void print_fix(const check *c)
{
	char file[4096], section[256], key[256];

	/* On a line that is fine, the same is how to change it. */
	printf("        %s: %s: %s%s%s%s%s", c->st == ST_OK ? "hint" : "fix",
	       p11_text_safe(file, sizeof(file), c->fix_file), c->fix_section ? "[" : "",
	       c->fix_section ? p11_text_safe(section, sizeof(section), c->fix_section) : "",
	       c->fix_section ? "] " : "",
	       c->fix_key ? p11_text_safe(key, sizeof(key), c->fix_key) : "",
	       c->fix_key ? " = " : "");
	put_safe(c->fix_value);
	printf("\n");
}

static void print_text(const doctor *d)
{
	const char *g = NULL;
	size_t n[ST_COUNT], i;

	printf("p11shim doctor %s: the shim is %s\n", PACKAGE_VERSION, compat_self_arch());
	for (i = 0; i < d->n; i++) {
		const check *c = &d->c[i];
		if (g == NULL || strcmp(g, c->group) != 0) {
			g = c->group;
			printf("\n%s\n", g);
		}
		/* "[trace] File = x (default)": a key's line reads as the file would. */
		printf("  %-5s ", st_text[c->st]);
		put_safe(c->name);
		printf("%s", c->text[0] == '=' ? " " : ": ");
		put_safe(c->text);
		printf("\n");
		if (c->fix_file != NULL)
			print_fix(c);
	}
	count(d, n);
	printf("\n%zu ok, %zu warn, %zu FAIL, %zu skipped\n", n[ST_OK], n[ST_WARN], n[ST_FAIL],
	       n[ST_SKIP]);
}

static void jstr(const char *s)
{
	json_write_str(stdout, s, strlen(s));
}

static void jnullable(const char *s)
{
	if (s)
		jstr(s);
	else
		printf("null");
}

static void print_json(const doctor *d, int rc)
{
	const char *g = NULL;
	size_t n[ST_COUNT], i, j;

	count(d, n);
	printf("{\"version\":");
	jstr(PACKAGE_VERSION);
	printf(",\"shim\":");
	jstr(compat_self_arch());
	printf(",\"exit\":%d,\"counts\":{\"ok\":%zu,\"warn\":%zu,\"fail\":%zu,\"skip\":%zu},\"groups\":[",
	       rc, n[ST_OK], n[ST_WARN], n[ST_FAIL], n[ST_SKIP]);
	for (i = 0; i < d->n; i++) {
		const check *c = &d->c[i];
		if (g == NULL || strcmp(g, c->group) != 0) {
			printf("%s{\"name\":", g ? "]}," : "");
			g = c->group;
			jstr(g);
			printf(",\"checks\":[");
		} else {
			printf(",");
		}
		printf("{\"check\":");
		jstr(c->name);
		printf(",\"status\":");
		jstr(st_json[c->st]);
		printf(",\"text\":");
		jstr(c->text);
		printf(",\"fix\":");
		if (c->fix_file) {
			printf("{\"file\":");
			jstr(c->fix_file);
			printf(",\"section\":");
			jnullable(c->fix_section);
			printf(",\"key\":");
			jnullable(c->fix_key);
			printf(",\"value\":");
			jstr(c->fix_value);
			printf("}");
		} else {
			printf("null");
		}
		printf(",\"data\":{");
		for (j = 0; j < c->n_kv; j++) {
			printf("%s", j ? "," : "");
			jstr(c->k[j]);
			printf(":");
			jstr(c->v[j]);
		}
		printf("}}");
	}
	printf("%s]}\n", g ? "]}" : "");
}

static void doctor_usage(FILE *f)
{
	fprintf(f, "Usage: p11shim doctor [--config FILE] [--json]\n"
	           "\n"
	           "Checks this machine against the middleware vendor's troubleshooting list, one\n"
	           "line per check (ok, warn, FAIL, skip), each problem followed by its fix: the\n"
	           "file, the [section], the key and the value to write. Groups: configuration\n"
	           "(each key's value and where it came from), backend (file, word size, loading,\n"
	           "C_GetInfo, middleware version), Personal.cfg (caching, SkipReader), the\n"
	           "PIN-encryption certificate (readable X.509, expiry), Java (JAVA_HOME's word\n"
	           "size), slots (shown or hidden, and by which pattern), trace (writable, free\n"
	           "space). The backend is loaded and initialised to ask it.\n"
	           "\n"
	           "  --config FILE  read FILE as the shim reads P11SHIM_CONF (instead of the\n"
	           "                 system and user files)\n"
	           "  --json         one JSON document instead of text\n"
	           "\n"
	           "Exit status: 0 nothing failed, 1 a check failed, 2 doctor could not run.\n");
}

int tool_cmd_doctor(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	doctor d;
	bool json = false;
	size_t n[ST_COUNT];
	FILE *f;
	int c, rc;

	memset(&d, 0, sizeof(d));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': d.config_opt = optarg; break;
		case 'j': json = true; break;
		case 'h': doctor_usage(stdout); return TOOL_EXIT_OK;
		case ':':
			fprintf(stderr,
			        "p11shim doctor: %s needs an argument\nTry 'p11shim doctor --help'.\n",
			        argv[optind - 1]);
			return TOOL_EXIT_USAGE;
		default:
			fprintf(stderr,
			        "p11shim doctor: unknown option '%s'\nTry 'p11shim doctor --help'.\n",
			        argv[optind - 1]);
			return TOOL_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr,
		        "p11shim doctor: unexpected argument '%s'\nTry 'p11shim doctor --help'.\n",
		        argv[optind]);
		return TOOL_EXIT_USAGE;
	}
	p11_config_default_sources(&d.src, d.userbuf, sizeof(d.userbuf));
	if (d.config_opt != NULL) {
		/* Doctor cannot run on a file it cannot read; a bad file it can is a finding. */
		f = fopen(d.config_opt, "r");
		if (f == NULL) {
			fprintf(stderr, "p11shim doctor: cannot read --config %s: %s\n",
			        d.config_opt, strerror(errno));
			return TOOL_EXIT_USAGE;
		}
		fclose(f);
		d.src.conf_env_file = d.config_opt;
	}

	if (check_config(&d)) {
		check_backend(&d);
		check_personal_cfg(&d);
		check_pin_cert(&d);
		check_java(&d);
		check_slots(&d);
		check_trace(&d);
	} else {
		group(&d, "backend");
		add(&d, ST_SKIP, "backend", "not checked: the configuration does not load");
		check_java(&d);
	}
	if (d.initialized && d.fl->C_Finalize != NULL)
		d.fl->C_Finalize(NULL);
	/* The backend stays loaded until exit: unloading gains nothing here. */

	count(&d, n);
	rc = n[ST_FAIL] ? TOOL_EXIT_FOUND : TOOL_EXIT_OK;
	if (json)
		print_json(&d, rc);
	else
		print_text(&d);
	if (fflush(stdout) != 0)
		rc = TOOL_EXIT_USAGE;
	free_checks(&d);
	p11_config_free(d.cfg);
	return rc;
}
