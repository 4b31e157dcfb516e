/*
 * File trust on Windows: the decision over one security descriptor
 * (src/platform/security_win32.c), kept apart from the file system so that
 * tests feed it descriptors written as SDDL (tests/win32/test_acl.c).
 * Included by Windows code only (src/platform/, the Windows tests).
 *
 * Trusted: SYSTEM, Administrators, TrustedInstaller and the process's own
 * user. Anyone else granted, on the object, a right that could change what
 * the shim reads makes it refuse; which rights count depends on the role:
 * - the file: write data, append data, write attributes or extended
 *   attributes, delete, change permissions (WRITE_DAC), take ownership;
 * - the folder the file is in: add files, add subfolders, delete entries,
 *   write attributes or extended attributes, delete, WRITE_DAC, WRITE_OWNER
 *   (a user who may add files there may create the file before it exists,
 *   the default of a new %PROGRAMDATA% subfolder);
 * - folders further up: delete entries, delete, WRITE_DAC, WRITE_OWNER,
 *   what lets someone rename or replace the folder below. Adding new
 *   entries there does not change an existing path (C:\ lets every
 *   authenticated user create folders).
 * GENERIC_WRITE and GENERIC_ALL count as what they map to for files.
 *
 * ACEs are evaluated as Windows does, in DACL order (explicit before
 * inherited, deny before allow as Windows orders them): for a token, a deny
 * ACE removes the rights not granted yet, an allow ACE grants those not
 * denied yet. Inherit-only ACEs (CREATOR OWNER's among them) do not apply to
 * the object; OWNER RIGHTS applies to the owner. Each principal named in an
 * allow ACE, and Everyone, Authenticated Users, INTERACTIVE and Users, is
 * evaluated with the groups every such user has (Everyone, Authenticated
 * Users; Users has both): a deny for Everyone stops them all. A NULL DACL
 * grants everyone everything. An owner that is not trusted is refused (an
 * owner can always change the permissions).
 */
#ifndef P11_WIN32_ACL_H
#define P11_WIN32_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include <windows.h>

typedef enum {
	P11_ACL_FILE,     /* the file itself */
	P11_ACL_PARENT,   /* the folder the file is in */
	P11_ACL_ANCESTOR, /* a folder further up the path */
} p11_acl_role;

typedef enum {
	P11_ACL_OK,
	P11_ACL_NO_DACL, /* a NULL DACL: everyone may change it */
	P11_ACL_OWNER,   /* owned by someone not trusted */
	P11_ACL_WRITER,  /* someone not trusted may change it */
} p11_acl_verdict;

typedef struct {
	p11_acl_verdict verdict;
	PSID who;           /* the owner or the principal: inside sd, or a static well-known SID */
	ACCESS_MASK rights; /* what who may do that counts (P11_ACL_WRITER) */
	bool inherited;     /* an inherited ACE grants some of it */
	bool direct;        /* an ACE set on the object itself grants some of it */
} p11_acl_finding;

/*
 * The decision, pure: sd holds the owner and the DACL; user is the
 * process's user (NULL: only the built-in principals are trusted).
 */
p11_acl_verdict p11_acl_decide(PSECURITY_DESCRIPTOR sd, p11_acl_role role, PSID user,
                               p11_acl_finding *f);

/*
 * The one-line refusal, as on Linux: "PATH: why; fix: icacls ...".
 * path: as the caller named it; obj: the object of the finding (the file or
 * a folder on its way), written into the icacls command.
 */
void p11_acl_explain(const char *path, const char *what, const char *obj, p11_acl_role role,
                     PSID user, const p11_acl_finding *f, char *err, size_t errlen);

/* What was checked, for doctor: "owner X; can change it: A, B". */
void p11_acl_describe(PSECURITY_DESCRIPTOR sd, p11_acl_role role, PSID user, char *buf, size_t len);

/* "DOMAIN\name" when Windows knows the SID, else its string (S-1-...). */
void p11_acl_sid_text(PSID sid, char *buf, size_t len);

/* The process's user (TOKEN_USER, LocalFree it); NULL on failure. */
void *p11_acl_process_user(PSID *sid);

/*
 * An owner-only descriptor for what the shim creates (the trace folder and
 * file): the process's user, SYSTEM and Administrators, inheritance from
 * the parent blocked; folder: inherited by what is created in it.
 * LocalFree it. NULL on failure (then the caller's default applies).
 */
PSECURITY_DESCRIPTOR p11_acl_private_sd(bool folder);

#endif /* P11_WIN32_ACL_H */
