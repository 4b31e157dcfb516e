/*
 * File trust (README.md, "Security model").
 *
 * The shim reads its configuration and loads its backend into someone
 * else's process, next to card secrets. A file that another user can
 * change is code or policy that other user controls, so the shim refuses:
 * - a file not owned by root or by the effective user of the process;
 * - a file that its group or other users can write;
 * - a file in a folder, at any level of its path, that is not owned by
 *   root or the effective user, or that its group or other users can
 *   write (they could replace the file), unless the folder has the sticky
 *   bit (like /tmp: others cannot rename or remove what is not theirs);
 * - a symbolic link on the way that is not owned by root or the user.
 * Symbolic links are followed, and the folders of their targets checked
 * too. The error names the file (or folder), its mode and owner, and the
 * command that fixes it.
 *
 * On Windows the owner and the DACL of the file and of every folder up its
 * path decide (src/platform/security_win32.c, include/p11-win32-acl.h):
 * only SYSTEM, Administrators, TrustedInstaller and the process's user may
 * be able to change them.
 */
#ifndef P11_SECURITY_H
#define P11_SECURITY_H

#include <stddef.h>

typedef enum {
	P11_TRUST_OK,      /* the file exists and only trusted users can change it */
	P11_TRUST_MISSING, /* the file (or a folder on its path) does not exist */
	P11_TRUST_REFUSED, /* err says why and how to fix it */
} p11_trust;

/*
 * Checks path (absolute, or relative to the current folder). `what` names
 * the file in the message: "configuration file", "backend library".
 * err receives one line, "PATH: why; fix: command", for P11_TRUST_REFUSED
 * (and a short reason for P11_TRUST_MISSING); for P11_TRUST_OK, what was
 * checked ("owner root (uid 0), mode 0644; ...", on Windows the owner and
 * who can change it), which doctor shows.
 */
p11_trust p11_file_trusted(const char *path, const char *what, char *err, size_t errlen);

#endif /* P11_SECURITY_H */
