/*
 * The one place that includes the PKCS#11 header.
 *
 * Types come from p11-kit's pkcs11.h (PKCS#11 v2.40). On Windows the module
 * must use the Cryptoki conventions: cdecl, and structures packed to 1 byte,
 * which p11-kit's header does when _WIN32 is defined.
 *
 * p11-kit 0.24 lacks the PKCS#11 3.0 types: CK_INTERFACE for
 * C_GetInterfaceList and C_GetInterface, CK_FUNCTION_LIST_3_0 and its
 * function types, and the message-based encryption parameters. They are
 * defined here, once, as PKCS#11 3.0 (pkcs11t.h, pkcs11f.h) spells them;
 * a newer p11-kit that has them wins.
 */
#ifndef P11_PKCS11_H
#define P11_PKCS11_H

#ifdef _WIN32
#ifndef CRYPTOKI_EXPORTS
#define CRYPTOKI_EXPORTS
#endif
#endif

#include <p11-kit/pkcs11.h>

/* The 3.0 types below follow the same Cryptoki packing as the header's own
 * (1 byte on Windows): a function list copied from a module must line up. */
#ifdef _WIN32
#pragma pack(push, p11shim_v3, 1)
#endif

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

#ifndef CKF_END_OF_MESSAGE
/* PKCS#11 3.0 section 5.1 (function list), 5.13 and 5.14-5.20 (message
 * functions), 2.1.7 (CK_GCM_MESSAGE_PARAMS, CK_CCM_MESSAGE_PARAMS). */
typedef CK_ULONG CK_GENERATOR_FUNCTION;
#define CKG_NO_GENERATE (0x00000000UL)
#define CKG_GENERATE (0x00000001UL)
#define CKG_GENERATE_COUNTER (0x00000002UL)
#define CKG_GENERATE_RANDOM (0x00000003UL)

typedef struct CK_GCM_MESSAGE_PARAMS {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_ULONG ulIvFixedBits;
	CK_GENERATOR_FUNCTION ivGenerator;
	CK_BYTE_PTR pTag;
	CK_ULONG ulTagBits;
} CK_GCM_MESSAGE_PARAMS;

typedef struct CK_CCM_MESSAGE_PARAMS {
	CK_ULONG ulDataLen;
	CK_BYTE_PTR pNonce;
	CK_ULONG ulNonceLen;
	CK_ULONG ulNonceFixedBits;
	CK_GENERATOR_FUNCTION nonceGenerator;
	CK_BYTE_PTR pMAC;
	CK_ULONG ulMACLen;
} CK_CCM_MESSAGE_PARAMS;

#define CKF_END_OF_MESSAGE (0x00000001UL)
#define CKF_MESSAGE_ENCRYPT (0x00000002UL)
#define CKF_MESSAGE_DECRYPT (0x00000004UL)
#define CKF_MESSAGE_SIGN (0x00000008UL)
#define CKF_MESSAGE_VERIFY (0x00000010UL)
#define CKF_MULTI_MESSAGE (0x00000020UL)
#define CKF_FIND_OBJECTS (0x00000040UL)
#define CKR_OPERATION_CANCEL_FAILED (0x00000202UL)

typedef CK_RV (*CK_C_GetInterfaceList)(CK_INTERFACE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_GetInterface)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);
typedef CK_RV (*CK_C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG,
                                CK_UTF8CHAR_PTR, CK_ULONG);
typedef CK_RV (*CK_C_SessionCancel)(CK_SESSION_HANDLE, CK_FLAGS);
typedef CK_RV (*CK_C_MessageEncryptInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*CK_C_EncryptMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                     CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_EncryptMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                          CK_ULONG);
typedef CK_RV (*CK_C_EncryptMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                         CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR, CK_FLAGS);
typedef CK_RV (*CK_C_MessageEncryptFinal)(CK_SESSION_HANDLE);
typedef CK_RV (*CK_C_MessageDecryptInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*CK_C_DecryptMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                     CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_DecryptMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                          CK_ULONG);
typedef CK_RV (*CK_C_DecryptMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                         CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR, CK_FLAGS);
typedef CK_RV (*CK_C_MessageDecryptFinal)(CK_SESSION_HANDLE);
typedef CK_RV (*CK_C_MessageSignInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*CK_C_SignMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                                  CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_SignMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG);
typedef CK_RV (*CK_C_SignMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                      CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
typedef CK_RV (*CK_C_MessageSignFinal)(CK_SESSION_HANDLE);
typedef CK_RV (*CK_C_MessageVerifyInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
typedef CK_RV (*CK_C_VerifyMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                                    CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*CK_C_VerifyMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG);
typedef CK_RV (*CK_C_VerifyMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                                        CK_ULONG, CK_BYTE_PTR, CK_ULONG);
typedef CK_RV (*CK_C_MessageVerifyFinal)(CK_SESSION_HANDLE);

/* The v2.40 list followed by the 3.0 functions, in p11fn.def order. */
typedef struct CK_FUNCTION_LIST_3_0 {
	CK_VERSION version;
#define P11FN(name, ...) CK_C_##name C_##name;
#define P11FN_SPECIAL(name, ...) CK_C_##name C_##name;
#define P11FN_V3(name, ...) CK_C_##name C_##name;
#define P11FN_SPECIAL_V3(name, ...) CK_C_##name C_##name;
#include "p11fn.def"
#undef P11FN
#undef P11FN_SPECIAL
#undef P11FN_V3
#undef P11FN_SPECIAL_V3
} CK_FUNCTION_LIST_3_0;
typedef CK_FUNCTION_LIST_3_0 *CK_FUNCTION_LIST_3_0_PTR;
#endif

#ifdef _WIN32
#pragma pack(pop, p11shim_v3)
#endif

#endif /* P11_PKCS11_H */
