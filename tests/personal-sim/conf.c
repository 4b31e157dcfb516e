/*
 * personal-sim: the simulator's INI configuration and Personal.cfg's cache
 * switch. Keys are those of issue 3; README.md documents each of them.
 *
 * A bad configuration fails C_Initialize with one line on stderr naming
 * file, line and key. Secret values (PIN, PUK, OperatorPIN) are never echoed.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "sim.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_LEN 4096

enum section_kind { SECTION_NONE, SECTION_MIDDLEWARE, SECTION_READER, SECTION_CARD };

/* Which keys were seen in the current section, for "repeated" and "missing". */
enum {
	SEEN_VERSION = 1 << 0,
	SEEN_PERSONALCONFIG = 1 << 1,
	SEEN_NAME = 1 << 2,
	SEEN_CARD = 1 << 3,
	SEEN_VIRTUAL = 1 << 4,
	SEEN_MODEL = 1 << 5,
	SEEN_LABEL = 1 << 6,
	SEEN_SERIAL = 1 << 7,
	SEEN_PIN = 1 << 8,
	SEEN_PUK = 1 << 9,
	SEEN_OPIN = 1 << 10,
	SEEN_SOCRED = 1 << 11,
	SEEN_ERASE = 1 << 12
};

struct parser {
	const char *path;
	int line;
	struct sim_conf *conf;
	enum section_kind kind;
	size_t index; /* reader or card being filled */
	unsigned int seen;
	unsigned int middleware_seen;
	char **reader_card; /* Card = NAME per reader, resolved at the end */
	int *reader_card_line;
};

static void conf_error(const char *path, int line, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list va;

	va_start(va, fmt);
	vsnprintf(msg, sizeof(msg), fmt, va);
	va_end(va);
	/* One line, as DESIGN.md asks of every config error. */
	if (line > 0 && key)
		fprintf(stderr, "personal-sim: %s:%d: %s: %s\n", path, line, key, msg);
	else if (line > 0)
		fprintf(stderr, "personal-sim: %s:%d: %s\n", path, line, msg);
	else
		fprintf(stderr, "personal-sim: %s: %s\n", path, msg);
}

/* Case-insensitive compare without strcasecmp, which mingw spells otherwise. */
static int ieq(const char *a, const char *b)
{
	while (*a && *b) {
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return 0;
		a++;
		b++;
	}
	return *a == *b;
}

static int iprefix(const char *s, const char *prefix)
{
	while (*prefix) {
		if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix))
			return 0;
		s++;
		prefix++;
	}
	return 1;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	return s;
}

/*
 * Inline comments: ';' or '#' after white space (issue 3 writes
 * "Version = 5.7.2   ; reported in ..."). A ';' inside a value, such as
 * "a;b", is kept.
 */
static void strip_inline_comment(char *s)
{
	char *p;

	for (p = s; *p; p++) {
		if ((*p == ';' || *p == '#') && p > s && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static int parse_bool(const char *v, int *out)
{
	if (ieq(v, "true") || ieq(v, "yes") || strcmp(v, "1") == 0)
		*out = 1;
	else if (ieq(v, "false") || ieq(v, "no") || strcmp(v, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* "5.7.2" -> 5, 7, 2; two to four numeric parts, each 0..255 (CK_VERSION is bytes). */
static int parse_version(const char *v, unsigned int *maj, unsigned int *min, unsigned int *patch)
{
	unsigned long part[4] = { 0, 0, 0, 0 };
	int n = 0;
	const char *p = v;
	char *end;

	for (;;) {
		if (!isdigit((unsigned char)*p) || n == 4)
			return -1;
		errno = 0;
		part[n++] = strtoul(p, &end, 10);
		if (errno || part[n - 1] > 255)
			return -1;
		p = end;
		if (*p == '\0')
			break;
		if (*p != '.')
			return -1;
		p++;
	}
	if (n < 2)
		return -1;
	*maj = (unsigned int)part[0];
	*min = (unsigned int)part[1];
	*patch = (unsigned int)part[2];
	return 0;
}

static int is_absolute(const char *p)
{
#ifdef _WIN32
	if (p[0] && p[1] == ':')
		return 1;
	if (p[0] == '\\')
		return 1;
#endif
	return p[0] == '/';
}

/* PersonalConfig may be relative: to the directory of the INI file. */
static char *resolve_path(const char *ini, const char *value)
{
	const char *slash = NULL, *p;
	size_t dirlen;
	char *out;

	if (is_absolute(value))
		return strdup(value);
	for (p = ini; *p; p++) {
		if (*p == '/' || *p == '\\')
			slash = p;
	}
	dirlen = slash ? (size_t)(slash - ini) + 1 : 0;
	out = malloc(dirlen + strlen(value) + 1);
	if (!out)
		return NULL;
	memcpy(out, ini, dirlen);
	strcpy(out + dirlen, value);
	return out;
}

static int section_start(struct parser *ps, char *name)
{
	struct sim_conf *conf = ps->conf;
	size_t i;
	void *mem;

	if (ieq(name, "middleware")) {
		if (ps->middleware_seen) {
			conf_error(ps->path, ps->line, NULL, "section [%s] repeated", name);
			return -1;
		}
		ps->middleware_seen = 1;
		ps->kind = SECTION_MIDDLEWARE;
		ps->seen = 0;
		return 0;
	}

	if (iprefix(name, "reader.")) {
		const char *num = name + 7;
		unsigned long n;
		char *end;

		errno = 0;
		n = strtoul(num, &end, 10);
		if (!isdigit((unsigned char)*num) || *end != '\0' || errno || n > 0x3fffffffUL) {
			conf_error(ps->path, ps->line, NULL,
			           "section [%s]: N of [reader.N] must be a number 0, 1, ...", name);
			return -1;
		}
		for (i = 0; i < conf->nreaders; i++) {
			if (conf->readers[i].number == n) {
				conf_error(ps->path, ps->line, NULL, "section [%s] repeated", name);
				return -1;
			}
		}
		mem = realloc(conf->readers, (conf->nreaders + 1) * sizeof(*conf->readers));
		if (!mem)
			return -1;
		conf->readers = mem;
		mem = realloc(ps->reader_card, (conf->nreaders + 1) * sizeof(*ps->reader_card));
		if (!mem)
			return -1;
		ps->reader_card = mem;
		mem = realloc(ps->reader_card_line, (conf->nreaders + 1) * sizeof(int));
		if (!mem)
			return -1;
		ps->reader_card_line = mem;
		ps->index = conf->nreaders++;
		memset(&conf->readers[ps->index], 0, sizeof(conf->readers[0]));
		conf->readers[ps->index].number = n;
		conf->readers[ps->index].line = ps->line;
		conf->readers[ps->index].card = -1;
		ps->reader_card[ps->index] = NULL;
		ps->reader_card_line[ps->index] = 0;
		ps->kind = SECTION_READER;
		ps->seen = 0;
		return 0;
	}

	if (iprefix(name, "card.")) {
		const char *cname = name + 5;
		struct sim_card_conf *card;

		if (*cname == '\0') {
			conf_error(ps->path, ps->line, NULL,
			           "section [card.]: the card needs a name");
			return -1;
		}
		for (i = 0; i < conf->ncards; i++) {
			if (strcmp(conf->cards[i].name, cname) == 0) {
				conf_error(ps->path, ps->line, NULL, "section [%s] repeated", name);
				return -1;
			}
		}
		mem = realloc(conf->cards, (conf->ncards + 1) * sizeof(*conf->cards));
		if (!mem)
			return -1;
		conf->cards = mem;
		ps->index = conf->ncards++;
		card = &conf->cards[ps->index];
		memset(card, 0, sizeof(*card));
		card->name = strdup(cname);
		if (!card->name)
			return -1;
		card->line = ps->line;
		card->so = SECRET_PUK;
		/* Default: the guide's first two CPF cases both erase anonymously. */
		card->erase = ERASE_ANONYMOUS;
		ps->kind = SECTION_CARD;
		ps->seen = 0;
		return 0;
	}

	conf_error(ps->path, ps->line, NULL,
	           "unknown section [%s] (expected [middleware], [reader.N] or [card.NAME])", name);
	return -1;
}

static int set_string(struct parser *ps, const char *key, const char *value, char *dst, size_t size,
                      int empty_ok)
{
	if (!empty_ok && *value == '\0') {
		conf_error(ps->path, ps->line, key, "must not be empty");
		return -1;
	}
	if (strlen(value) >= size) {
		conf_error(ps->path, ps->line, key, "'%s' is longer than %zu bytes", value, size - 1);
		return -1;
	}
	strcpy(dst, value);
	return 0;
}

static int set_secret(struct parser *ps, const char *key, const char *value,
                      struct sim_card_conf *card, enum sim_secret_id id)
{
	size_t len = strlen(value);

	/* Never echo the value: it is a PIN or PUK. */
	if (len < SIM_MIN_PIN || len > SIM_MAX_PIN) {
		conf_error(ps->path, ps->line, key,
		           "length must be %d..%d characters (value not shown)", SIM_MIN_PIN,
		           SIM_MAX_PIN);
		return -1;
	}
	memcpy(card->secret[id], value, len);
	card->secret_len[id] = len;
	return 0;
}

static int seen_once(struct parser *ps, unsigned int bit, const char *key)
{
	if (ps->seen & bit) {
		conf_error(ps->path, ps->line, key, "key repeated in this section");
		return -1;
	}
	ps->seen |= bit;
	return 0;
}

static int key_value(struct parser *ps, const char *key, const char *value)
{
	struct sim_conf *conf = ps->conf;

	switch (ps->kind) {
	case SECTION_NONE:
		conf_error(ps->path, ps->line, key, "key outside of any section");
		return -1;

	case SECTION_MIDDLEWARE:
		if (ieq(key, "Version")) {
			if (seen_once(ps, SEEN_VERSION, key) < 0)
				return -1;
			if (parse_version(value, &conf->vmajor, &conf->vminor, &conf->vpatch) < 0 ||
			    strlen(value) >= sizeof(conf->version)) {
				conf_error(ps->path, ps->line, key,
				           "'%s' is not a version such as 5.7.2", value);
				return -1;
			}
			strcpy(conf->version, value);
			return 0;
		}
		if (ieq(key, "PersonalConfig")) {
			if (seen_once(ps, SEEN_PERSONALCONFIG, key) < 0)
				return -1;
			free(conf->personal_cfg);
			conf->personal_cfg = NULL;
			/* Empty: no Personal.cfg, so the cache stays on (its default). */
			if (*value == '\0')
				return 0;
			conf->personal_cfg = resolve_path(ps->path, value);
			return conf->personal_cfg ? 0 : -1;
		}
		break;

	case SECTION_READER: {
		struct sim_reader_conf *r = &conf->readers[ps->index];

		if (ieq(key, "Name")) {
			if (seen_once(ps, SEEN_NAME, key) < 0)
				return -1;
			return set_string(ps, key, value, r->name, sizeof(r->name), 0);
		}
		if (ieq(key, "Card")) {
			if (seen_once(ps, SEEN_CARD, key) < 0)
				return -1;
			if (*value == '\0')
				return 0;
			ps->reader_card[ps->index] = strdup(value);
			ps->reader_card_line[ps->index] = ps->line;
			return ps->reader_card[ps->index] ? 0 : -1;
		}
		if (ieq(key, "Virtual")) {
			if (seen_once(ps, SEEN_VIRTUAL, key) < 0)
				return -1;
			if (parse_bool(value, &r->is_virtual) < 0) {
				conf_error(ps->path, ps->line, key, "'%s' is not true or false",
				           value);
				return -1;
			}
			return 0;
		}
		break;
	}

	case SECTION_CARD: {
		struct sim_card_conf *c = &conf->cards[ps->index];

		if (ieq(key, "Model")) {
			if (seen_once(ps, SEEN_MODEL, key) < 0)
				return -1;
			return set_string(ps, key, value, c->model, sizeof(c->model), 0);
		}
		if (ieq(key, "Label")) {
			if (seen_once(ps, SEEN_LABEL, key) < 0)
				return -1;
			return set_string(ps, key, value, c->label, sizeof(c->label), 1);
		}
		if (ieq(key, "SerialNumber")) {
			if (seen_once(ps, SEEN_SERIAL, key) < 0)
				return -1;
			return set_string(ps, key, value, c->serial, sizeof(c->serial), 0);
		}
		if (ieq(key, "PIN")) {
			if (seen_once(ps, SEEN_PIN, key) < 0)
				return -1;
			return set_secret(ps, key, value, c, SECRET_PIN);
		}
		if (ieq(key, "PUK")) {
			if (seen_once(ps, SEEN_PUK, key) < 0)
				return -1;
			return set_secret(ps, key, value, c, SECRET_PUK);
		}
		if (ieq(key, "OperatorPIN")) {
			if (seen_once(ps, SEEN_OPIN, key) < 0)
				return -1;
			return set_secret(ps, key, value, c, SECRET_OPIN);
		}
		if (ieq(key, "SOCredential")) {
			if (seen_once(ps, SEEN_SOCRED, key) < 0)
				return -1;
			if (ieq(value, "puk")) {
				c->so = SECRET_PUK;
			} else if (ieq(value, "operator-pin")) {
				c->so = SECRET_OPIN;
			} else {
				conf_error(ps->path, ps->line, key,
				           "'%s' is not puk or operator-pin", value);
				return -1;
			}
			return 0;
		}
		if (ieq(key, "Erase")) {
			if (seen_once(ps, SEEN_ERASE, key) < 0)
				return -1;
			if (ieq(value, "anonymous")) {
				c->erase = ERASE_ANONYMOUS;
			} else if (ieq(value, "credential")) {
				c->erase = ERASE_CREDENTIAL;
			} else if (ieq(value, "never")) {
				c->erase = ERASE_NEVER;
			} else {
				conf_error(ps->path, ps->line, key,
				           "'%s' is not anonymous, credential or never", value);
				return -1;
			}
			return 0;
		}
		break;
	}
	}

	conf_error(ps->path, ps->line, key, "unknown key in this section");
	return -1;
}

/* Called at the end of a section and of the file: required keys present? */
static int section_end(struct parser *ps)
{
	struct sim_conf *conf = ps->conf;
	static const struct {
		unsigned int bit;
		const char *key;
	} card_keys[] = {
		{ SEEN_MODEL, "Model" }, { SEEN_SERIAL, "SerialNumber" }, { SEEN_PIN, "PIN" },
		{ SEEN_PUK, "PUK" },     { SEEN_OPIN, "OperatorPIN" },
	};
	size_t i;

	if (ps->kind == SECTION_READER && !(ps->seen & SEEN_NAME)) {
		conf_error(ps->path, conf->readers[ps->index].line, "Name",
		           "missing in [reader.%lu]", conf->readers[ps->index].number);
		return -1;
	}
	if (ps->kind == SECTION_CARD) {
		struct sim_card_conf *c = &conf->cards[ps->index];

		for (i = 0; i < sizeof(card_keys) / sizeof(card_keys[0]); i++) {
			if (!(ps->seen & card_keys[i].bit)) {
				conf_error(ps->path, c->line, card_keys[i].key,
				           "missing in [card.%s]", c->name);
				return -1;
			}
		}
		if (!(ps->seen & SEEN_LABEL)) {
			if (strlen(c->name) >= sizeof(c->label)) {
				conf_error(ps->path, c->line, "Label",
				           "missing, and the card name is too long to serve as label");
				return -1;
			}
			strcpy(c->label, c->name);
		}
	}
	return 0;
}

static int compare_readers(const void *a, const void *b)
{
	const struct sim_reader_conf *ra = a, *rb = b;

	return ra->number < rb->number ? -1 : ra->number > rb->number;
}

void conf_free(struct sim_conf *conf)
{
	size_t i;

	if (!conf)
		return;
	for (i = 0; i < conf->ncards; i++) {
		memset(conf->cards[i].secret, 0, sizeof(conf->cards[i].secret));
		free(conf->cards[i].name);
	}
	free(conf->cards);
	free(conf->readers);
	free(conf->personal_cfg);
	free(conf->path);
	free(conf);
}

int conf_load(const char *path, struct sim_conf **out)
{
	struct parser ps;
	struct sim_conf *conf;
	char buf[LINE_MAX_LEN];
	FILE *f;
	size_t i, j;
	int ret = -1;

	memset(&ps, 0, sizeof(ps));
	conf = calloc(1, sizeof(*conf));
	if (!conf)
		return -1;
	conf->path = strdup(path);
	/* Issue 3's example version; README.md documents the default. */
	strcpy(conf->version, "5.7.2");
	conf->vmajor = 5;
	conf->vminor = 7;
	conf->vpatch = 2;
	ps.path = path;
	ps.conf = conf;

	f = fopen(path, "r");
	if (!f) {
		conf_error(path, 0, NULL, "cannot read the configuration: %s", strerror(errno));
		goto out;
	}

	while (fgets(buf, sizeof(buf), f)) {
		char *line, *eq, *key, *value;

		ps.line++;
		if (!strchr(buf, '\n') && !feof(f)) {
			conf_error(path, ps.line, NULL, "line longer than %d bytes",
			           LINE_MAX_LEN - 2);
			goto out;
		}
		line = trim(buf);
		if (*line == '\0' || *line == '#' || *line == ';')
			continue;

		if (*line == '[') {
			char *close = strchr(line, ']');

			if (!close || trim(close + 1)[0] != '\0') {
				conf_error(path, ps.line, NULL, "a section header must be [name]");
				goto out;
			}
			*close = '\0';
			if (section_end(&ps) < 0 || section_start(&ps, trim(line + 1)) < 0)
				goto out;
			continue;
		}

		eq = strchr(line, '=');
		if (!eq) {
			conf_error(path, ps.line, NULL, "expected 'Key = Value'");
			goto out;
		}
		*eq = '\0';
		key = trim(line);
		value = eq + 1;
		strip_inline_comment(value);
		value = trim(value);
		if (*key == '\0') {
			conf_error(path, ps.line, NULL, "a key is missing before '='");
			goto out;
		}
		if (key_value(&ps, key, value) < 0)
			goto out;
	}
	if (ferror(f)) {
		conf_error(path, ps.line, NULL, "read error: %s", strerror(errno));
		goto out;
	}
	if (section_end(&ps) < 0)
		goto out;

	/* Resolve Card = NAME now: [card.NAME] may come after the reader. */
	for (i = 0; i < conf->nreaders; i++) {
		if (!ps.reader_card[i])
			continue;
		for (j = 0; j < conf->ncards; j++) {
			if (strcmp(conf->cards[j].name, ps.reader_card[i]) == 0)
				break;
		}
		if (j == conf->ncards) {
			conf_error(path, ps.reader_card_line[i], "Card",
			           "no section [card.%s] in this file", ps.reader_card[i]);
			goto out;
		}
		conf->readers[i].card = (int)j;
	}
	if (conf->nreaders == 0) {
		conf_error(path, 0, NULL,
		           "no [reader.N] section: the simulator needs at least one reader");
		goto out;
	}
	qsort(conf->readers, conf->nreaders, sizeof(*conf->readers), compare_readers);

	*out = conf;
	conf = NULL;
	ret = 0;

out:
	if (f)
		fclose(f);
	for (i = 0; i < ps.conf->nreaders && ps.reader_card; i++)
		free(ps.reader_card[i]);
	free(ps.reader_card);
	free(ps.reader_card_line);
	memset(buf, 0, sizeof(buf));
	conf_free(conf);
	return ret;
}

/*
 * Personal.cfg [Cache] CacheValidity: 0 switches the card-content cache
 * off, which the guide makes mandatory ("Caching can cause problems during
 * encoding due to outdated data, so you have to disable it"). A missing
 * file, a missing key or any other value leaves the cache on, as in the
 * middleware, whose default is to cache. The file is never an error.
 */
int conf_personal_cache_on(const char *path)
{
	char buf[LINE_MAX_LEN];
	int in_cache = 0, on = 1;
	FILE *f;

	if (!path)
		return 1;
	f = fopen(path, "r");
	if (!f)
		return 1;
	while (fgets(buf, sizeof(buf), f)) {
		char *line = trim(buf), *eq;

		if (*line == '[') {
			char *close = strchr(line, ']');

			if (close)
				*close = '\0';
			in_cache = ieq(trim(line + 1), "Cache");
			continue;
		}
		if (!in_cache || *line == '#' || *line == ';')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (ieq(trim(line), "CacheValidity")) {
			char *value = eq + 1;

			strip_inline_comment(value);
			on = strcmp(trim(value), "0") != 0;
		}
	}
	fclose(f);
	return on;
}

const struct sim_card_conf *conf_card(const struct sim_conf *conf, size_t reader)
{
	if (reader >= conf->nreaders || conf->readers[reader].card < 0)
		return NULL;
	return &conf->cards[conf->readers[reader].card];
}

enum sim_secret_id conf_other_admin(const struct sim_card_conf *card)
{
	return card->so == SECRET_PUK ? SECRET_OPIN : SECRET_PUK;
}

/* Seed: the Card Eraser exists "on certain cards (for example, CardOS 4.4, 5.x, ...)". */
int conf_is_cardos(const struct sim_card_conf *card)
{
	return strncmp(card->model, "CardOS", 6) == 0;
}
