/*
 * A small INI reader shared by the shim's own configuration and the
 * middleware's files (Personal.cfg, iD2ppa.cfg): "[section]" lines,
 * "Key = Value" lines, comments on lines starting with '#' or ';', values
 * trimmed and one pair of surrounding double quotes removed, a UTF-8 BOM
 * skipped. The callback judges what it reads.
 */
#ifndef P11_INI_H
#define P11_INI_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Called for each section header (key == NULL) and each key/value pair.
 * Return false with err set (without file and line: the reader adds them)
 * to stop.
 */
typedef bool (*p11_ini_cb)(void *ctx, const char *section, const char *key, const char *value,
                           unsigned line, char *err, size_t errlen);

typedef enum {
	P11_INI_OK,
	P11_INI_MISSING, /* the file does not exist */
	P11_INI_ERROR,   /* unreadable, malformed, or the callback said stop: err set */
} p11_ini_result;

/* err reads "PATH:LINE: what; the fix" (or "PATH: why" for the file itself). */
p11_ini_result p11_ini_parse(const char *path, p11_ini_cb cb, void *ctx, char *err, size_t errlen);

#endif /* P11_INI_H */
