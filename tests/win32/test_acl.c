/*
 * The Windows tamper check's decision (include/p11-win32-acl.h) over
 * security descriptors written as SDDL, and the error line it makes. TAP on
 * stdout; run under Wine by tests/win32/test-acl.sh. No cmocka: it runs
 * wherever the DLL does.
 *
 * SDDL letters: SY SYSTEM, BA Administrators, BU Users, AU Authenticated
 * Users, WD Everyone, IU INTERACTIVE, CO CREATOR OWNER, OW OWNER RIGHTS;
 * FA full, FR read, FW write (FILE_GENERIC_WRITE), GA/GW generic, SD
 * delete; flags OI/CI inherit to files/folders, IO inherit-only, ID
 * inherited; D:P a protected DACL (inheritance removed).
 */
#include "config.h"

#include "p11-win32-acl.h"

#include <stdio.h>
#include <string.h>

#include <windows.h>
#include <sddl.h>

/* Two users of a domain: "me" runs the process, "other" is anyone else. */
#define ME "S-1-5-21-1-2-3-1001"
#define OTHER "S-1-5-21-1-2-3-1002"
#define TI "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"

static int n, failed;

static void ok(bool cond, const char *name, const char *detail)
{
	n++;
	if (!cond)
		failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", n, name);
	if (!cond && detail != NULL)
		printf("# %s\n", detail);
}

static PSID sid_of(const char *s)
{
	PSID sid = NULL;

	if (!ConvertStringSidToSidA(s, &sid))
		return NULL;
	return sid;
}

/* The decision on sddl; *line receives the error line for path/what. */
static p11_acl_verdict decide(const char *sddl, p11_acl_role role, p11_acl_finding *f, char *line,
                              size_t len)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PSID me = sid_of(ME);
	p11_acl_verdict v;

	line[0] = '\0';
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(sddl, SDDL_REVISION_1, &sd, NULL)) {
		printf("# bad SDDL %s: error %lu\n", sddl, (unsigned long)GetLastError());
		LocalFree(me);
		return (p11_acl_verdict)-1;
	}
	v = p11_acl_decide(sd, role, me, f);
	if (v != P11_ACL_OK)
		p11_acl_explain("C:/ProgramData/p11shim/p11shim.conf", "configuration file",
		                role == P11_ACL_FILE ? "C:\\ProgramData\\p11shim\\p11shim.conf" :
		                                       "C:\\ProgramData\\p11shim",
		                role, me, f, line, len);
	LocalFree(sd);
	LocalFree(me);
	return v;
}

static bool who_is(const p11_acl_finding *f, const char *sid)
{
	PSID s = sid_of(sid);
	bool same = s != NULL && f->who != NULL && EqualSid(s, f->who);

	LocalFree(s);
	return same;
}

/* Refused, naming this principal, with this text in the line. */
static void refused(const char *name, const char *sddl, p11_acl_role role, p11_acl_verdict want,
                    const char *who, const char *const *texts)
{
	p11_acl_finding f;
	char line[4096], detail[5000];
	p11_acl_verdict v = decide(sddl, role, &f, line, sizeof(line));
	bool good = v == want && (who == NULL || who_is(&f, who));

	for (; good && texts != NULL && *texts != NULL; texts++)
		good = strstr(line, *texts) != NULL;
	snprintf(detail, sizeof(detail), "verdict %d (want %d); line: %s", (int)v, (int)want, line);
	ok(good, name, detail);
	if (good)
		printf("#   %s\n", line);
}

static void allowed(const char *name, const char *sddl, p11_acl_role role)
{
	p11_acl_finding f;
	char line[4096], detail[5000];
	p11_acl_verdict v = decide(sddl, role, &f, line, sizeof(line));

	snprintf(detail, sizeof(detail), "verdict %d; line: %s", (int)v, line);
	ok(v == P11_ACL_OK, name, detail);
}

#define TEXTS(...) ((const char *const[]){ __VA_ARGS__, NULL })

int main(void)
{
	/* What the installer sets on %PROGRAMDATA%\p11shim, and what its files inherit. */
	const char *locked_dir = "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)";
	const char *locked_file = "O:BAD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)";
	/* A folder made under %PROGRAMDATA% by default (what it inherits from there). */
	const char *new_programdata_dir =
	        "O:BAD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIIOID;GA;;;CO)"
	        "(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)";

	printf("1..25\n");

	allowed("the installer's locked-down folder is accepted", locked_dir, P11_ACL_PARENT);
	allowed("a file in it (inherited ACEs) is accepted", locked_file, P11_ACL_FILE);
	allowed("the per-user file: only the user, SYSTEM and Administrators write it",
	        "O:" ME "D:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;FA;;;" ME ")", P11_ACL_FILE);
	allowed("owned by TrustedInstaller, Users read and execute",
	        "O:" TI "D:P(A;;FA;;;" TI ")(A;;0x1200a9;;;SY)(A;;0x1200a9;;;BA)(A;;0x1200a9;;;BU)",
	        P11_ACL_FILE);

	refused("Everyone may write the file", "O:BAD:(A;;FA;;;SY)(A;;FA;;;BA)(A;;FW;;;WD)",
	        P11_ACL_FILE, P11_ACL_WRITER, "S-1-1-0",
	        TEXTS("C:/ProgramData/p11shim/p11shim.conf: Everyone can change the configuration file",
	              "write data (WD)",
	              "so the shim refuses it; fix: icacls "
	              "\"C:\\ProgramData\\p11shim\\p11shim.conf\" /grant:r *S-1-1-0:RX"));
	refused("Users may modify the file", "O:BAD:(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x1301bf;;;BU)",
	        P11_ACL_FILE, P11_ACL_WRITER, "S-1-5-32-545",
	        TEXTS("BUILTIN\\Users can change the configuration file", "delete (D)",
	              "/grant:r *S-1-5-32-545:RX"));
	refused("Authenticated Users may append", "O:BAD:(A;;FA;;;SY)(A;;0x4;;;AU)", P11_ACL_FILE,
	        P11_ACL_WRITER, "S-1-5-11", TEXTS("(append data (AD))"));
	refused("INTERACTIVE may change the permissions", "O:BAD:(A;;FA;;;SY)(A;;WD;;;IU)",
	        P11_ACL_FILE, P11_ACL_WRITER, "S-1-5-4", TEXTS("change permissions (WDAC)"));
	refused("generic all for another user", "O:BAD:(A;;FA;;;SY)(A;;GA;;;" OTHER ")",
	        P11_ACL_FILE, P11_ACL_WRITER, OTHER, TEXTS("take ownership (WO)"));
	allowed("read for everyone is fine", "O:BAD:(A;;FA;;;SY)(A;;FA;;;BA)(A;;FR;;;WD)",
	        P11_ACL_FILE);

	allowed("a deny ACE before the allow stops it",
	        "O:BAD:(D;;FW;;;WD)(A;;FA;;;SY)(A;;FA;;;BA)(A;;FW;;;BU)", P11_ACL_FILE);
	refused("a deny ACE after the allow does not",
	        "O:BAD:(A;;FA;;;SY)(A;;FA;;;BA)(A;;FW;;;BU)(D;;FW;;;WD)", P11_ACL_FILE,
	        P11_ACL_WRITER, "S-1-5-32-545", TEXTS("BUILTIN\\Users"));
	refused("a deny for Users does not stop Everyone's allow",
	        "O:BAD:(D;;FW;;;BU)(A;;FA;;;SY)(A;;FW;;;WD)", P11_ACL_FILE, P11_ACL_WRITER,
	        "S-1-1-0", NULL);

	refused("an inherited write for Users",
	        "O:BAD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1301bf;;;BU)", P11_ACL_FILE,
	        P11_ACL_WRITER, "S-1-5-32-545",
	        TEXTS(", inherited)", "/inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F "
	                              "*S-1-5-32-545:RX"));
	allowed("an inherit-only write does not apply to the file itself",
	        "O:BAD:(A;;FA;;;SY)(A;;FA;;;BA)(A;OIIO;FA;;;BU)", P11_ACL_FILE);

	/* No DACL at all (Wine parses D:NO_ACCESS_CONTROL into an empty one). */
	refused("a NULL DACL", "O:BA", P11_ACL_FILE, P11_ACL_NO_DACL, NULL,
	        TEXTS("no access control list (a NULL DACL): every user can change it",
	              "/inheritance:r"));
	allowed("an empty DACL: nobody but the owner", "O:BAD:", P11_ACL_FILE);
	refused("owned by another user", "O:" OTHER "D:(A;;FA;;;SY)(A;;FA;;;BA)", P11_ACL_FILE,
	        P11_ACL_OWNER, OTHER,
	        TEXTS("the configuration file belongs to",
	              "not to SYSTEM, "
	              "Administrators, TrustedInstaller or",
	              "/setowner *S-1-5-32-544"));
	refused("OWNER RIGHTS stands for the owner, another user",
	        "O:" OTHER "D:(A;;FA;;;SY)(A;;FA;;;OW)", P11_ACL_FILE, P11_ACL_OWNER, OTHER, NULL);

	refused("the default ACL of a new %PROGRAMDATA% subfolder (Users add files)",
	        new_programdata_dir, P11_ACL_PARENT, P11_ACL_WRITER, "S-1-5-32-545",
	        TEXTS("the configuration file is in the folder C:\\ProgramData\\p11shim, where "
	              "BUILTIN\\Users can add files (WD)",
	              "another user could replace the "
	              "configuration file",
	              "/inheritance:r /grant:r *S-1-5-18:(OI)(CI)F"));
	refused("a folder up the path that Everyone may delete entries of",
	        "O:BAD:(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;;0x1301ff;;;WD)", P11_ACL_ANCESTOR,
	        P11_ACL_WRITER, "S-1-1-0",
	        TEXTS("is reached through the folder C:\\ProgramData\\p11shim, where Everyone can",
	              "delete entries (DC)"));
	allowed("C:\\ as Windows ships it: authenticated users add folders, nothing more",
	        "O:S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
	        "D:PAI(A;OICI;FA;;;BA)(A;OICI;FA;;;SY)(A;OICI;0x1200a9;;;BU)"
	        "(A;OICIIO;SDGXGWGR;;;AU)(A;;LC;;;AU)",
	        P11_ACL_ANCESTOR);
	allowed("%PROGRAMDATA% as Windows ships it, further up the path",
	        "O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICIIO;GA;;;CO)(A;OICI;0x1200a9;;;BU)"
	        "(A;CI;DCLCRPCR;;;BU)",
	        P11_ACL_ANCESTOR);
	refused("...but not as the file's own folder",
	        "O:SYD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	        "(A;OICIIO;GA;;;CO)(A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)",
	        P11_ACL_PARENT, P11_ACL_WRITER, "S-1-5-32-545", TEXTS("add files (WD)"));
	refused("a folder owned by another user", "O:" OTHER "D:(A;OICI;FA;;;SY)", P11_ACL_ANCESTOR,
	        P11_ACL_OWNER, OTHER,
	        TEXTS("is reached through the folder C:\\ProgramData\\p11shim, "
	              "which belongs to",
	              "that user could replace the configuration file"));

	if (n != 25)
		printf("# planned 25, ran %d\n", n);
	return failed == 0 && n == 25 ? 0 : 1;
}
