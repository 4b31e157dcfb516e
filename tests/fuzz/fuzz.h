/*
 * Shared by the fuzz targets (tests/fuzz/README.md): the libFuzzer entry
 * point, and a scratch file the targets write their input to for the parts
 * of the shim that read files.
 */
#ifndef P11_FUZZ_H
#define P11_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Writes data to a file of this process (in a private 0700 folder, mode
 * 0600, so the shim's file checks accept it) and returns its path; the
 * same path every time. Aborts when the file cannot be written.
 */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);

/* Aborts the run with a message: an oracle of the target failed. */
void fuzz_fail(const char *what) __attribute__((noreturn));

#endif
