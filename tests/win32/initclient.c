/*
 * The smallest encoder: loads a p11shim.dll by its full path, as an
 * application does, and runs C_Initialize, C_GetSlotList, C_Finalize. For
 * tests/win32/test-acl.sh (the tamper checks through the DLL) and
 * tests/win32/test-installer.sh (the installed DLL works).
 *
 *   initclient.exe C:\path\p11shim.dll
 *
 * Prints "C_Initialize: 0x..." and "slots: N"; exits 0 only when every
 * call returned CKR_OK. The shim's own error line goes to stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <windows.h>

#include "p11-pkcs11.h"

int main(int argc, char **argv)
{
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_ULONG n = 0;
	HMODULE dll;
	CK_RV rv;

	if (argc != 2) {
		fprintf(stderr, "usage: initclient.exe C:\\path\\p11shim.dll\n");
		return 2;
	}
	dll = LoadLibraryExA(argv[1], NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
	if (dll == NULL) {
		fprintf(stderr, "initclient: cannot load %s: Windows error %lu\n", argv[1],
		        (unsigned long)GetLastError());
		return 1;
	}
	get_list = (CK_C_GetFunctionList)(void (*)(void))GetProcAddress(dll, "C_GetFunctionList");
	if (get_list == NULL || get_list(&f) != CKR_OK || f == NULL) {
		fprintf(stderr, "initclient: %s has no usable C_GetFunctionList\n", argv[1]);
		return 1;
	}
	rv = f->C_Initialize(NULL);
	printf("C_Initialize: 0x%lx\n", (unsigned long)rv);
	fflush(stdout);
	if (rv != CKR_OK)
		return 1;
	rv = f->C_GetSlotList(CK_FALSE, NULL, &n);
	printf("slots: %lu (0x%lx)\n", (unsigned long)n, (unsigned long)rv);
	if (f->C_Finalize(NULL) != CKR_OK || rv != CKR_OK)
		return 1;
	return 0;
}
