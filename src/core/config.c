/*
 * INI configuration (model: p11-kit p11-kit/conf.c).
 *
 * Order, later overriding earlier key by key: built-in defaults, the system
 * file, the per-user file (P11SHIM_CONF replaces both), then the quick-use
 * environment variables. Repeatable keys accumulate and an empty value
 * clears the list so far. Everything is parsed into a new p11_config; an
 * error frees it, so a bad file never leaves half a configuration.
 *
 * Syntax: "[section]", "Key = Value", comments on lines starting with '#'
 * or ';', names case-insensitive, values trimmed, one pair of surrounding
 * double quotes removed. A whole value "${NAME}" is a mapped field read
 * from the client's environment when the value is used.
 */
#include "config.h"

#include "p11-config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "p11-compat.h"
#include "p11-ini.h"
#include "p11-numrange.h"
#include "p11-security.h"
#include "p11-shim.h"
#include "p11-text.h"

typedef struct {
	char *value;
	p11_origin origin;
	const char *file; /* points into cfg->files */
	unsigned line;
} entry;

/* One source as it was when read: its text (a path, a variable's value) and, for a file, what it was. */
typedef struct {
	char *text; /* NULL: not set */
	bool exists;
	compat_file_id id;
} seen_source;

enum { SEEN_SYSTEM, SEEN_USER, SEEN_CONF_ENV, SEEN_LIBRARY, SEEN_TRACE, SEEN_COUNT };

struct p11_config {
	entry *v[P11_KEY_COUNT];      /* non-repeatable keys: one entry, or NULL for the default */
	size_t n[P11_KEY_COUNT];      /* repeatable keys: entries in v[key][0..n) */
	char *files[4];               /* file names referenced by entries */
	seen_source seen[SEEN_COUNT]; /* for p11_config_unchanged */
};

static const struct keyinfo {
	const char *section, *name, *def, *choices, *help;
	p11_conf_type type;
	bool repeat;
} keys[P11_KEY_COUNT] = {
#define X(id, sec, key, ty, d, ch, rep, hl) [P11_KEY_##id] = { sec, key, d, ch, hl, ty, rep },
	P11_CONFIG_KEYS(X)
#undef X
};

const char *p11_config_section(p11_key key)
{
	return keys[key].section;
}
const char *p11_config_name(p11_key key)
{
	return keys[key].name;
}
const char *p11_config_default(p11_key key)
{
	return keys[key].def;
}
const char *p11_config_help(p11_key key)
{
	return keys[key].help;
}
const char *p11_config_choices(p11_key key)
{
	return keys[key].choices;
}

const char *p11_origin_name(p11_origin origin)
{
	switch (origin) {
	case P11_ORIGIN_DEFAULT: return "default";
	case P11_ORIGIN_SYSTEM: return "system file";
	case P11_ORIGIN_USER: return "user file";
	case P11_ORIGIN_CONF_ENV: return "P11SHIM_CONF";
	case P11_ORIGIN_ENV: return "environment";
	}
	return "?";
}

bool p11_parse_bool(const char *t, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(t, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(t, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

bool p11_parse_duration_ms(const char *t, uint64_t *ms)
{
	unsigned long long v;
	char *end;

	if (!isdigit((unsigned char)t[0]))
		return false;
	errno = 0;
	v = strtoull(t, &end, 10);
	if (errno != 0 || v > 86400000ULL)
		return false;
	if (strcasecmp(end, "ms") == 0)
		;
	else if (*end == '\0' || strcasecmp(end, "s") == 0)
		v *= 1000;
	else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "min") == 0)
		v *= 60000;
	else
		return false;
	if (v > 86400000ULL)
		return false;
	*ms = v;
	return true;
}

bool p11_parse_size(const char *t, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!isdigit((unsigned char)t[0]))
		return false;
	errno = 0;
	v = strtoull(t, &end, 10);
	if (errno != 0)
		return false;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	default: return false;
	}
	if (toupper((unsigned char)*end) == 'B' || toupper((unsigned char)*end) == 'I')
		end++;
	if (toupper((unsigned char)*end) == 'B')
		end++;
	/* Checked before the shift, which could overflow. */
	if (*end != '\0' || v > (1ULL << 50) >> shift)
		return false;
	*out = v << shift;
	return true;
}

static bool enum_ok(const char *choices, const char *value)
{
	size_t n = strlen(value);
	const char *p = choices;

	while (p != NULL && *p != '\0') {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && strncasecmp(p, value, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static bool is_mapped(const char *v)
{
	size_t n = strlen(v);

	return n > 3 && v[0] == '$' && v[1] == '{' && v[n - 1] == '}';
}

/* Checks a concrete value against its key's type; writes "what; the fix". */
static bool check_value(p11_key key, const char *value, char *why, size_t len)
{
	const struct keyinfo *k = &keys[key];
	uint64_t size;
	bool b;

	switch (k->type) {
	case P11_CT_STRING:
		if (key == P11_KEY_CMS_CARD_SERIAL) {
			/*
			 * Written to the card as it is and shown in
			 * CK_TOKEN_INFO.serialNumber: a newline or an escape
			 * sequence (a mapped field holds whatever the encoder
			 * got) must never reach a card.
			 */
			char rule[96];

			if (p11_text_token_field(value, P11_SERIAL_MAX, rule, sizeof(rule)))
				return true;
			snprintf(why, len,
			         "'%s' cannot be a card serial: it %s; a card serial is 1 to %d "
			         "printable ASCII characters (space to '~'), as CK_TOKEN_INFO.serialNumber "
			         "holds",
			         value, rule, P11_SERIAL_MAX);
			return false;
		}
		return true;
	case P11_CT_PATH: return true;
	case P11_CT_BOOL:
		if (p11_parse_bool(value, &b))
			return true;
		snprintf(why, len, "'%s' is not a boolean; use true or false", value);
		return false;
	case P11_CT_ENUM:
		if (enum_ok(k->choices, value))
			return true;
		snprintf(why, len, "'%s' is not valid; use one of: %s", value, k->choices);
		return false;
	case P11_CT_SIZE:
		if (p11_parse_size(value, &size))
			return true;
		snprintf(why, len,
		         "'%s' is not a size; use bytes with an optional K, M or G suffix, e.g. 64M",
		         value);
		return false;
	case P11_CT_DURATION:
		if (p11_parse_duration_ms(value, &size))
			return true;
		snprintf(why, len,
		         "'%s' is not a time; use a number with ms, s or m, e.g. 10s (0: off)",
		         value);
		return false;
	}
	return false;
}

static int find_key(const char *section, const char *name)
{
	int i;

	for (i = 0; i < P11_KEY_COUNT; i++)
		if (strcasecmp(keys[i].section, section) == 0 && strcasecmp(keys[i].name, name) == 0)
			return i;
	return -1;
}

static bool known_section(const char *section)
{
	int i;

	for (i = 0; i < P11_KEY_COUNT; i++)
		if (strcasecmp(keys[i].section, section) == 0)
			return true;
	return false;
}

static void list_keys(const char *section, char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < P11_KEY_COUNT && used < len; i++) {
		if (strcasecmp(keys[i].section, section) != 0)
			continue;
		used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
		                         keys[i].name);
	}
}

static void list_sections(char *buf, size_t len)
{
	size_t used = 0;
	int i, j;

	buf[0] = '\0';
	for (i = 0; i < P11_KEY_COUNT && used < len; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(keys[j].section, keys[i].section) == 0)
				break;
		if (j == i)
			used += (size_t)snprintf(buf + used, len - used, "%s[%s]", used ? ", " : "",
			                         keys[i].section);
	}
}

static bool set_value(p11_config *cfg, p11_key key, const char *value, p11_origin origin,
                      const char *file, unsigned line)
{
	entry *e;
	size_t i;

	if (keys[key].repeat) {
		if (value[0] == '\0') {
			/* An empty value clears the list so far, defaults included. */
			for (i = 0; i < cfg->n[key]; i++)
				free(cfg->v[key][i].value);
			cfg->n[key] = 0;
			return true;
		}
		e = realloc(cfg->v[key], (cfg->n[key] + 1) * sizeof(*e));
		if (e == NULL)
			return false;
		cfg->v[key] = e;
		e = &e[cfg->n[key]++];
	} else {
		if (cfg->v[key] == NULL) {
			cfg->v[key] = calloc(1, sizeof(*e));
			if (cfg->v[key] == NULL)
				return false;
		} else {
			free(cfg->v[key]->value);
		}
		e = cfg->v[key];
	}
	e->value = strdup(value);
	e->origin = origin;
	e->file = file;
	e->line = line;
	return e->value != NULL;
}

typedef struct {
	p11_config *cfg;
	p11_origin origin;
	const char *fname;
	char section[64];
} parse_ctx;

/* Judges one line of a configuration file (p11_ini_cb). */
static bool parse_line(void *vctx, const char *section, const char *key, const char *value,
                       unsigned line, char *err, size_t errlen)
{
	parse_ctx *ctx = vctx;
	char list[256], why[512];
	int k;

	if (key == NULL) {
		if (!known_section(section)) {
			list_sections(list, sizeof(list));
			snprintf(err, errlen, "unknown section [%s]; known sections: %s", section,
			         list);
			return false;
		}
		snprintf(ctx->section, sizeof(ctx->section), "%s", section);
		return true;
	}
	if (ctx->section[0] == '\0') {
		snprintf(err, errlen, "key '%s' outside any section; put it under its [section]",
		         key);
		return false;
	}
	k = find_key(ctx->section, key);
	if (k < 0) {
		list_keys(ctx->section, list, sizeof(list));
		snprintf(err, errlen, "unknown key '%s' in section [%s]; known keys: %s", key,
		         ctx->section, list);
		return false;
	}
	if (is_mapped(value)) {
		if (keys[k].type == P11_CT_PATH) {
			/* Never let the client's environment choose which code or file is used. */
			snprintf(err, errlen,
			         "[%s] %s cannot be a mapped field; write the path itself",
			         keys[k].section, keys[k].name);
			return false;
		}
	} else if (value[0] != '\0' || keys[k].type == P11_CT_BOOL || keys[k].type == P11_CT_ENUM ||
	           keys[k].type == P11_CT_SIZE || keys[k].type == P11_CT_DURATION) {
		/* An empty value is fine for text and paths (unset) and clears a list. */
		if (!(value[0] == '\0' && keys[k].repeat) &&
		    !check_value((p11_key)k, value, why, sizeof(why))) {
			snprintf(err, errlen, "[%s] %s = %s", keys[k].section, keys[k].name, why);
			return false;
		}
	}
	if (!set_value(ctx->cfg, (p11_key)k, value, ctx->origin, ctx->fname, line)) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	return true;
}

/* Parses one file into cfg; returns false with err set. A missing optional file is fine. */
static bool parse_file(p11_config *cfg, const char *path, p11_origin origin, bool must_exist,
                       char *err, size_t errlen)
{
	parse_ctx ctx = { cfg, origin, NULL, "" };
	size_t fi;

	for (fi = 0; fi < 4 && cfg->files[fi] != NULL; fi++)
		;
	if (fi == 4 || (cfg->files[fi] = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return false;
	}
	ctx.fname = cfg->files[fi];
	/* A file another user can change is that user's policy: refused. */
	if (p11_file_trusted(path, "configuration file", err, errlen) == P11_TRUST_REFUSED)
		return false;
	err[0] = '\0';
	switch (p11_ini_parse(path, parse_line, &ctx, err, errlen)) {
	case P11_INI_OK: return true;
	case P11_INI_MISSING:
		if (!must_exist)
			return true;
		snprintf(err, errlen, "%s: cannot read the configuration: %s%s", path,
		         strerror(ENOENT),
		         origin == P11_ORIGIN_CONF_ENV ? "; fix P11SHIM_CONF or the file" : "");
		return false;
	case P11_INI_ERROR: break;
	}
	return false;
}

void p11_config_free(p11_config *cfg)
{
	size_t i, j;

	if (cfg == NULL)
		return;
	for (i = 0; i < P11_KEY_COUNT; i++) {
		if (keys[i].repeat) {
			for (j = 0; j < cfg->n[i]; j++)
				free(cfg->v[i][j].value);
		} else if (cfg->v[i] != NULL) {
			free(cfg->v[i]->value);
		}
		free(cfg->v[i]);
	}
	for (i = 0; i < 4; i++)
		free(cfg->files[i]);
	for (i = 0; i < SEEN_COUNT; i++)
		free(cfg->seen[i].text);
	free(cfg);
}

static void sources_as_array(const p11_config_sources *src, const char *out[SEEN_COUNT])
{
	out[SEEN_SYSTEM] = src->system_file;
	out[SEEN_USER] = src->user_file;
	out[SEEN_CONF_ENV] = src->conf_env_file;
	out[SEEN_LIBRARY] = src->env_library;
	out[SEEN_TRACE] = src->env_trace;
}

/* Before the files are read: a file changed while it is read is read again next time. */
static bool remember_sources(p11_config *cfg, const p11_config_sources *src)
{
	const char *text[SEEN_COUNT];
	size_t i;

	sources_as_array(src, text);
	for (i = 0; i < SEEN_COUNT; i++) {
		if (text[i] == NULL)
			continue;
		if ((cfg->seen[i].text = strdup(text[i])) == NULL)
			return false;
		if (i <= SEEN_CONF_ENV)
			cfg->seen[i].exists = compat_file_id_of(text[i], &cfg->seen[i].id);
	}
	return true;
}

bool p11_config_unchanged(const p11_config *cfg, const p11_config_sources *src)
{
	const char *text[SEEN_COUNT];
	compat_file_id now;
	size_t i;

	if (cfg == NULL)
		return false;
	sources_as_array(src, text);
	for (i = 0; i < SEEN_COUNT; i++) {
		const seen_source *s = &cfg->seen[i];
		if ((text[i] == NULL) != (s->text == NULL) ||
		    (text[i] != NULL && strcmp(text[i], s->text) != 0))
			return false;
		if (text[i] == NULL || i > SEEN_CONF_ENV)
			continue;
		if (compat_file_id_of(text[i], &now) != s->exists ||
		    (s->exists && !compat_file_same(&now, &s->id)))
			return false;
	}
	return true;
}

void p11_config_default_sources(p11_config_sources *src, char *userbuf, size_t userlen)
{
	memset(src, 0, sizeof(*src));
	src->system_file = compat_system_conf_path();
	if (compat_user_conf_path(userbuf, userlen))
		src->user_file = userbuf;
	src->conf_env_file = getenv("P11SHIM_CONF");
	if (src->conf_env_file != NULL && src->conf_env_file[0] == '\0')
		src->conf_env_file = NULL;
	src->env_library = getenv("P11SHIM_LIBRARY");
	src->env_trace = getenv("P11SHIM_TRACE");
}

/*
 * What a value means, beyond its type: the checks C_Initialize needs, run
 * here so that everything that loads a configuration (C_Initialize,
 * `p11shim doctor`, the other commands) applies the same ones and can
 * never disagree. Each error names file:line [section] key = value. A
 * mapped field is checked when it is read, in the client's environment.
 */
static bool validate(const p11_config *cfg, char *err, size_t errlen)
{
	char why[512];
	const char *v, *file;
	unsigned line;
	CK_USER_TYPE t;
	p11_range range;
	p11_skip *skip;

	v = p11_config_raw(cfg, P11_KEY_NUMBER_RANGE, NULL, &file, &line);
	if (v[0] != '\0' && !is_mapped(v) && !p11_range_parse(v, &range, why, sizeof(why))) {
		snprintf(err, errlen, "%s:%u: [serial] NumberRange = %s: %s", file ? file : "?",
		         line, v, why);
		return false;
	}
	v = p11_config_raw(cfg, P11_KEY_OTHER_ADMIN_USER_TYPE, NULL, &file, &line);
	if (!is_mapped(v) && !p11_parse_user_type(v, &t)) {
		snprintf(err, errlen,
		         "%s:%u: [login] OtherAdminUserType = %s is not a user type; write a "
		         "number (0x80000001) or a CKU_ name",
		         file ? file : "default", line, v);
		return false;
	}
	/* The patterns, compiled as the readers layer compiles them. */
	skip = p11_skip_new(cfg, err, errlen);
	if (skip == NULL)
		return false;
	p11_skip_free(skip);
	return true;
}

p11_config *p11_config_load(const p11_config_sources *src, char *err, size_t errlen)
{
	p11_config *cfg;
	int i;

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Defaults of repeatable keys are real entries, so an empty value can clear them. */
	for (i = 0; i < P11_KEY_COUNT; i++) {
		const char *d = keys[i].def, *p;
		char item[256];
		if (!keys[i].repeat || d == NULL)
			continue;
		/* Several defaults are separated by '\n'. */
		for (p = d; *p != '\0';) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			snprintf(item, sizeof(item), "%.*s", (int)len, p);
			if (!set_value(cfg, (p11_key)i, item, P11_ORIGIN_DEFAULT, NULL, 0))
				goto oom;
			p += len + (nl != NULL);
		}
	}
	if (!remember_sources(cfg, src))
		goto oom;
	if (src->conf_env_file != NULL) {
		if (!parse_file(cfg, src->conf_env_file, P11_ORIGIN_CONF_ENV, true, err, errlen))
			goto fail;
	} else {
		if (src->system_file != NULL &&
		    !parse_file(cfg, src->system_file, P11_ORIGIN_SYSTEM, false, err, errlen))
			goto fail;
		if (src->user_file != NULL &&
		    !parse_file(cfg, src->user_file, P11_ORIGIN_USER, false, err, errlen))
			goto fail;
	}
	if (src->env_library != NULL && src->env_library[0] != '\0' &&
	    !set_value(cfg, P11_KEY_LIBRARY, src->env_library, P11_ORIGIN_ENV, "P11SHIM_LIBRARY", 0))
		goto oom;
	if (src->env_trace != NULL && src->env_trace[0] != '\0' &&
	    !set_value(cfg, P11_KEY_TRACE_FILE, src->env_trace, P11_ORIGIN_ENV, "P11SHIM_TRACE", 0))
		goto oom;
	if (!validate(cfg, err, errlen))
		goto fail;
	return cfg;
oom:
	snprintf(err, errlen, "out of memory reading the configuration");
fail:
	p11_config_free(cfg);
	return NULL;
}

const char *p11_config_raw(const p11_config *cfg, p11_key key, p11_origin *origin,
                           const char **file, unsigned *line)
{
	const entry *e = keys[key].repeat ? NULL : cfg->v[key];

	if (origin)
		*origin = e ? e->origin : P11_ORIGIN_DEFAULT;
	if (file)
		*file = e ? e->file : NULL;
	if (line)
		*line = e ? e->line : 0;
	return e ? e->value : keys[key].def;
}

const char *p11_config_get(const p11_config *cfg, p11_key key, char *err, size_t errlen)
{
	static __thread char name[128];
	const char *file, *v;
	unsigned line;
	char why[512];
	size_t n;

	v = p11_config_raw(cfg, key, NULL, &file, &line);
	if (!is_mapped(v))
		return v;
	n = strlen(v);
	snprintf(name, sizeof(name), "%.*s", (int)(n - 3), v + 2);
	v = getenv(name);
	if (v == NULL) {
		snprintf(err, errlen,
		         "%s:%u: [%s] %s is the mapped field ${%s}, which is not set in the "
		         "client's environment; set %s or write the value itself",
		         file ? file : "?", line, keys[key].section, keys[key].name, name, name);
		return NULL;
	}
	if (!check_value(key, v, why, sizeof(why))) {
		snprintf(err, errlen, "%s:%u: [%s] %s: mapped field ${%s} = %s", file ? file : "?",
		         line, keys[key].section, keys[key].name, name, why);
		return NULL;
	}
	return v;
}

bool p11_config_bool(const p11_config *cfg, p11_key key, bool *out, char *err, size_t errlen)
{
	const char *v = p11_config_get(cfg, key, err, errlen);

	return v != NULL && p11_parse_bool(v, out);
}

bool p11_config_size(const p11_config *cfg, p11_key key, uint64_t *out, char *err, size_t errlen)
{
	const char *v = p11_config_get(cfg, key, err, errlen);

	return v != NULL && p11_parse_size(v, out);
}

bool p11_config_duration_ms(const p11_config *cfg, p11_key key, uint64_t *ms, char *err, size_t errlen)
{
	const char *v = p11_config_get(cfg, key, err, errlen);

	return v != NULL && p11_parse_duration_ms(v, ms);
}

size_t p11_config_count(const p11_config *cfg, p11_key key)
{
	return keys[key].repeat ? cfg->n[key] : 0;
}

const char *p11_config_item(const p11_config *cfg, p11_key key, size_t i, p11_origin *origin,
                            const char **file, unsigned *line)
{
	const entry *e;

	if (!keys[key].repeat || i >= cfg->n[key])
		return NULL;
	e = &cfg->v[key][i];
	if (origin)
		*origin = e->origin;
	if (file)
		*file = e->file;
	if (line)
		*line = e->line;
	return e->value;
}
