/*
 * Fuzz target: the configuration parser (src/core/config.c over src/core/ini.c, and
 * the file checks of src/platform/security.c), through p11_config_load on a file
 * holding the input; then every key is read back as the layers read it
 * (mapped fields from the environment, booleans, sizes, number ranges).
 * Oracles: no crash, no leak, no out-of-bounds access (the sanitizers); a
 * failure always says why, in one line.
 */
#include "config.h"

#include "fuzz.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "p11-config.h"
#include "p11-numrange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool env_set;
	p11_config_sources src;
	p11_config *cfg;
	char err[1024], err2[1024];
	const char *v;
	uint64_t sz;
	size_t i, n;
	bool b;
	int k;

	if (!env_set) {
		/* Mapped fields the seeds use, so that their values are checked too. */
		setenv("FUZZ_BOOL", "true", 1);
		setenv("FUZZ_SIZE", "64M", 1);
		setenv("FUZZ_TEXT", "Cosmo 7, Cosmo 8.2", 1);
		setenv("FUZZ_BAD", "maybe\x1b[2J", 1);
		env_set = true;
	}
	memset(&src, 0, sizeof(src));
	src.conf_env_file = fuzz_file("p11shim.conf", data, size);
	/* The quick-use variables, from the first bytes when they look like text. */
	if (size > 0 && data[0] == 'L')
		src.env_library = "/nonexistent/from-env.so";
	if (size > 1 && data[1] == 'T')
		src.env_trace = "/nonexistent/trace-%p.jsonl";
	err[0] = '\0';
	cfg = p11_config_load(&src, err, sizeof(err));
	if (cfg == NULL) {
		if (err[0] == '\0' || memchr(err, '\n', strlen(err)) != NULL)
			fuzz_fail("a configuration error without a one-line message");
		return 0;
	}
	for (k = 0; k < P11_KEY_COUNT; k++) {
		p11_origin origin;
		const char *file;
		unsigned line;

		(void)p11_config_raw(cfg, (p11_key)k, &origin, &file, &line);
		(void)p11_origin_name(origin);
		err2[0] = '\0';
		v = p11_config_get(cfg, (p11_key)k, err2, sizeof(err2));
		if (v == NULL && err2[0] == '\0')
			fuzz_fail("a mapped field that fails without a message");
		n = p11_config_count(cfg, (p11_key)k);
		for (i = 0; i < n; i++)
			if (p11_config_item(cfg, (p11_key)k, i, NULL, NULL, NULL) == NULL)
				fuzz_fail("a repeatable key's item is missing");
	}
	(void)p11_config_bool(cfg, P11_KEY_TRACE_ENABLE, &b, err2, sizeof(err2));
	(void)p11_config_bool(cfg, P11_KEY_OPERATOR_PIN_IS_SO, &b, err2, sizeof(err2));
	(void)p11_config_size(cfg, P11_KEY_TRACE_MAXSIZE, &sz, err2, sizeof(err2));
	v = p11_config_get(cfg, P11_KEY_NUMBER_RANGE, err2, sizeof(err2));
	if (v != NULL) {
		p11_range r;
		(void)p11_range_parse(v, &r, err2, sizeof(err2));
	}
	p11_config_free(cfg);
	return 0;
}
