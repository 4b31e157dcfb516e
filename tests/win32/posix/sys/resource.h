/*
 * Empty on purpose: the Windows build of the unit tests (tests/win32/local.mk)
 * includes <sys/resource.h> only so that the file compiles; the tests that need
 * it skip on Windows, saying why.
 */
