/* dlopen for the Windows build of the unit tests (tests/win32/local.mk). */
#ifndef P11_TEST_DLFCN_H
#define P11_TEST_DLFCN_H

#define RTLD_NOW 2
#define RTLD_LAZY 1
#define RTLD_LOCAL 0
#define RTLD_GLOBAL 0x100

/* kernel32, declared here rather than through windows.h and its macros. */
__declspec(dllimport) void *__stdcall LoadLibraryA(const char *name);
__declspec(dllimport) void *__stdcall GetProcAddress(void *module, const char *name);
__declspec(dllimport) int __stdcall FreeLibrary(void *module);

static inline void *dlopen(const char *path, int flags)
{
	(void)flags;
	return LoadLibraryA(path);
}

static inline void *dlsym(void *handle, const char *name)
{
	return GetProcAddress(handle, name);
}

static inline int dlclose(void *handle)
{
	return FreeLibrary(handle) ? 0 : -1;
}

static inline char *dlerror(void)
{
	return (char *)"LoadLibrary failed";
}

#endif
