/*
 * The one place that includes the PKCS#11 header (STYLE.md section 1).
 *
 * Types come from p11-kit's pkcs11.h (PKCS#11 v2.40). On Windows the module
 * must use the Cryptoki conventions: cdecl, and structures packed to 1 byte,
 * which p11-kit's header does when _WIN32 is defined.
 *
 * p11-kit 0.24 lacks the few PKCS#11 3.0 types that C_GetInterfaceList and
 * C_GetInterface need; they are defined here, once.
 */
#ifndef P11_PKCS11_H
#define P11_PKCS11_H

#ifdef _WIN32
#ifndef CRYPTOKI_EXPORTS
#define CRYPTOKI_EXPORTS
#endif
#endif

#include <p11-kit/pkcs11.h>

#ifndef CKF_INTERFACE_FORK_SAFE
/* PKCS#11 3.0 section 3.6 (CK_INTERFACE) and 5.4 (C_GetInterface*). */
typedef struct CK_INTERFACE {
	CK_UTF8CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;
#define CKF_INTERFACE_FORK_SAFE (0x00000001UL)
#endif

#endif /* P11_PKCS11_H */
