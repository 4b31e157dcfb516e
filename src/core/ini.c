/*
 * The INI reader (include/p11-ini.h).
 */
#include "config.h"

#include "p11-ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

p11_ini_result p11_ini_parse(const char *path, p11_ini_cb cb, void *ctx, char *err, size_t errlen)
{
	char section[128] = "";
	char line[4096], why[768];
	p11_ini_result result = P11_INI_ERROR;
	unsigned lineno = 0;
	FILE *f;

	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT)
			return P11_INI_MISSING;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return P11_INI_ERROR;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strlen(line);
		char *s, *eq, *key, *value;

		lineno++;
		why[0] = '\0';
		if (n == sizeof(line) - 1 && line[n - 1] != '\n' && !feof(f)) {
			snprintf(err, errlen, "%s:%u: line longer than %zu bytes; shorten it", path,
			         lineno, sizeof(line) - 2);
			goto out;
		}
		if (lineno == 1 && (unsigned char)line[0] == 0xEF &&
		    (unsigned char)line[1] == 0xBB && (unsigned char)line[2] == 0xBF)
			memmove(line, line + 3, n - 2); /* UTF-8 BOM, as Windows editors write */
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (close == NULL || close[1] != '\0') {
				snprintf(err, errlen,
				         "%s:%u: malformed section header '%.60s'; write [section]",
				         path, lineno, s);
				goto out;
			}
			*close = '\0';
			snprintf(section, sizeof(section), "%s", trim(s + 1));
			if (!cb(ctx, section, NULL, NULL, lineno, why, sizeof(why)))
				goto stop;
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err, errlen,
			         "%s:%u: expected 'Key = Value' or '[section]', found '%.40s'",
			         path, lineno, s);
			goto out;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		n = strlen(value);
		if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
			value[n - 1] = '\0';
			value++;
		}
		if (!cb(ctx, section, key, value, lineno, why, sizeof(why)))
			goto stop;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	result = P11_INI_OK;
	goto out;
stop:
	snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
out:
	fclose(f);
	return result;
}
