/*
 * p11shim public header: constants a client may use through the shim.
 */
#ifndef P11SHIM_H
#define P11SHIM_H

/*
 * Vendor-defined user types for clients that hold both admin secrets of a
 * Personal card: C_Login with these names the secret itself, and the shim
 * maps it to what the card's profile makes of it (CKU_SO or the middleware's
 * other admin type). 0x80000000 is CKU_VENDOR_DEFINED (PKCS#11 v3.0), absent
 * from older headers.
 */
#ifndef CKU_P11SHIM_PUK
#define CKU_P11SHIM_PUK (0x80000000UL + 0x5031UL)
#endif
#ifndef CKU_P11SHIM_OPERATOR_PIN
#define CKU_P11SHIM_OPERATOR_PIN (0x80000000UL + 0x5032UL)
#endif

/*
 * The card serial object (with [serial] InitToken = true): a public token
 * data object the shim writes after C_InitToken and reads for
 * CK_TOKEN_INFO.serialNumber. CKA_VALUE holds the serial as text (1 to 16
 * characters, no terminating NUL).
 *   CKA_CLASS        CKO_DATA
 *   CKA_TOKEN        CK_TRUE
 *   CKA_PRIVATE      CK_FALSE
 *   CKA_LABEL        P11SHIM_SERIAL_LABEL
 *   CKA_APPLICATION  P11SHIM_SERIAL_APPLICATION
 *   CKA_VALUE        the card serial
 */
#define P11SHIM_SERIAL_LABEL "p11shim card serial"
#define P11SHIM_SERIAL_APPLICATION "p11shim"

/*
 * The Card Eraser (with [eraser] CardEraser = true; Nexus's Personal
 * integration guide: "Card Eraser"): every token shows an object of this
 * label, and destroying it erases the token. Where the card has its own
 * (Personal on CardOS cards), that one is shown, as the middleware shows
 * it; otherwise the shim shows a virtual one, public and read-only, whose
 * destruction destroys every token object the session sees:
 *   CKA_CLASS        CKO_DATA
 *   CKA_TOKEN        CK_TRUE
 *   CKA_PRIVATE      CK_FALSE
 *   CKA_MODIFIABLE   CK_FALSE  (C_SetAttributeValue: CKR_ACTION_PROHIBITED)
 *   CKA_COPYABLE     CK_FALSE  (C_CopyObject: CKR_ACTION_PROHIBITED)
 *   CKA_DESTROYABLE  CK_TRUE
 *   CKA_LABEL        P11SHIM_CARD_ERASER_LABEL
 *   CKA_APPLICATION  P11SHIM_CARD_ERASER_APPLICATION (a native one has its own)
 *   CKA_OBJECT_ID    empty
 *   CKA_VALUE        empty
 * Find it with CKA_CLASS CKO_DATA and CKA_LABEL P11SHIM_CARD_ERASER_LABEL;
 * its handle is not fixed.
 */
#define P11SHIM_CARD_ERASER_LABEL "Card Eraser"
#define P11SHIM_CARD_ERASER_APPLICATION "p11shim"

#endif /* P11SHIM_H */
