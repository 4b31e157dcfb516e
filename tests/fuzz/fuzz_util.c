/* The shared part of the fuzz targets (fuzz.h). */
#include "config.h"

#include "fuzz.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char names[8][64];

/* The scratch folder goes when the process ends normally. */
static void cleanup(void)
{
	char path[512];
	size_t i;

	for (i = 0; i < 8 && names[i][0] != '\0'; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	static char path[512];
	size_t done = 0, i;
	ssize_t w;
	int fd;

	if (dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/p11shim-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (mkdtemp(dir) == NULL)
			fuzz_fail("mkdtemp");
		atexit(cleanup);
	}
	for (i = 0; i < 8 && names[i][0] != '\0' && strcmp(names[i], name) != 0; i++)
		;
	if (i < 8 && names[i][0] == '\0')
		snprintf(names[i], sizeof(names[i]), "%s", name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fuzz_fail("cannot write the scratch file");
	while (done < size && (w = write(fd, data + done, size - done)) > 0)
		done += (size_t)w;
	close(fd);
	if (done != size)
		fuzz_fail("short write of the scratch file");
	return path;
}

void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz target oracle failed: %s\n", what);
	abort();
}
