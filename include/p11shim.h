/*
 * p11shim public header: constants a client may use through the shim.
 */
#ifndef P11SHIM_H
#define P11SHIM_H

/*
 * Vendor-defined user types for clients that hold both admin secrets of a
 * Personal card (DESIGN.md, "Public constants"): C_Login with these names
 * the secret itself, and the shim maps it to what the card's profile makes
 * of it (CKU_SO or the middleware's other admin type).
 * 0x80000000 is CKU_VENDOR_DEFINED (PKCS#11 v3.0), absent from older headers.
 */
#ifndef CKU_P11SHIM_PUK
#define CKU_P11SHIM_PUK (0x80000000UL + 0x5031UL)
#endif
#ifndef CKU_P11SHIM_OPERATOR_PIN
#define CKU_P11SHIM_OPERATOR_PIN (0x80000000UL + 0x5032UL)
#endif

#endif /* P11SHIM_H */
