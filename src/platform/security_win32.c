/*
 * File trust on Windows (include/p11-security.h, include/p11-win32-acl.h):
 * who can change the configuration and the backend DLL, read from the
 * owner and the DACL of the file and of every folder up its path
 * (src/platform/security.c is the POSIX twin, with modes and owners).
 *
 * The decision over one security descriptor is a pure function, so that
 * tests/win32/test_acl.c can feed it SDDL; only p11_file_trusted() and
 * the name lookups touch the system.
 */
#include "config.h"

#include "p11-compat.h"
#include "p11-security.h"
#include "p11-win32-acl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

/* A SID with room for six sub-authorities, laid out as SID is. */
typedef struct {
	BYTE revision, count;
	SID_IDENTIFIER_AUTHORITY auth;
	DWORD sub[6];
} known_sid;

#define NT_AUTH                          \
	{                                \
		{                        \
			0, 0, 0, 0, 0, 5 \
		}                        \
	}
static const known_sid EVERYONE = { 1, 1, { { 0, 0, 0, 0, 0, 1 } }, { 0 } };
static const known_sid CREATOR_OWNER = { 1, 1, { { 0, 0, 0, 0, 0, 3 } }, { 0 } };
static const known_sid CREATOR_GROUP = { 1, 1, { { 0, 0, 0, 0, 0, 3 } }, { 1 } };
static const known_sid OWNER_RIGHTS = { 1, 1, { { 0, 0, 0, 0, 0, 3 } }, { 4 } };
static const known_sid INTERACTIVE = { 1, 1, NT_AUTH, { 4 } };
static const known_sid AUTH_USERS = { 1, 1, NT_AUTH, { 11 } };
static const known_sid SYSTEM_SID = { 1, 1, NT_AUTH, { 18 } };
static const known_sid ADMINS = { 1, 2, NT_AUTH, { 32, 544 } };
static const known_sid USERS = { 1, 2, NT_AUTH, { 32, 545 } };
static const known_sid TRUSTED_INSTALLER = {
	1, 6, NT_AUTH, { 80, 956008885, 3418522649u, 1831038044, 1853292631, 2271478464u }
};

#define KSID(k) ((PSID)(uintptr_t) & (k))

/* What could change the object, by role (include/p11-win32-acl.h). */
#define CHANGE_ANY (DELETE | WRITE_DAC | WRITE_OWNER)
#define CHANGE_FILE \
	(CHANGE_ANY | FILE_WRITE_DATA | FILE_APPEND_DATA | FILE_WRITE_EA | FILE_WRITE_ATTRIBUTES)
#define CHANGE_PARENT                                                                             \
	(CHANGE_ANY | FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | FILE_DELETE_CHILD | FILE_WRITE_EA | \
	 FILE_WRITE_ATTRIBUTES)
#define CHANGE_ANCESTOR (CHANGE_ANY | FILE_DELETE_CHILD)

static ACCESS_MASK change_mask(p11_acl_role role)
{
	switch (role) {
	case P11_ACL_FILE: return CHANGE_FILE;
	case P11_ACL_PARENT: return CHANGE_PARENT;
	case P11_ACL_ANCESTOR: break;
	}
	return CHANGE_ANCESTOR;
}

/* Generic rights as the file system maps them (FILE_GENERIC_*). */
static ACCESS_MASK map_generic(ACCESS_MASK m)
{
	if (m & GENERIC_ALL)
		m |= FILE_ALL_ACCESS;
	if (m & GENERIC_WRITE)
		m |= FILE_GENERIC_WRITE;
	if (m & GENERIC_READ)
		m |= FILE_GENERIC_READ;
	if (m & GENERIC_EXECUTE)
		m |= FILE_GENERIC_EXECUTE;
	return m & ~(ACCESS_MASK)(GENERIC_ALL | GENERIC_WRITE | GENERIC_READ | GENERIC_EXECUTE);
}

static bool same_sid(PSID a, PSID b)
{
	return a != NULL && b != NULL && IsValidSid(a) && IsValidSid(b) && EqualSid(a, b);
}

static bool trusted_sid(PSID sid, PSID user)
{
	return same_sid(sid, KSID(SYSTEM_SID)) || same_sid(sid, KSID(ADMINS)) ||
	       same_sid(sid, KSID(TRUSTED_INSTALLER)) || same_sid(sid, user);
}

static PSID sd_owner(PSECURITY_DESCRIPTOR sd)
{
	PSID owner = NULL;
	BOOL defaulted;

	if (!GetSecurityDescriptorOwner(sd, &owner, &defaulted))
		return NULL;
	return owner;
}

/* NULL for a NULL or absent DACL: nothing restricts anyone. */
static PACL sd_dacl(PSECURITY_DESCRIPTOR sd)
{
	PACL dacl = NULL;
	BOOL present = FALSE, defaulted;

	if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) || !present)
		return NULL;
	return dacl;
}

/* One ACE that takes part in an access check on the object itself. */
typedef struct {
	bool allow;
	ACCESS_MASK mask;
	PSID sid;
	bool inherited;
} ace_view;

static bool ace_at(PACL dacl, DWORD i, PSID owner, ace_view *v)
{
	ACCESS_ALLOWED_ACE *a;

	if (!GetAce(dacl, i, (void **)&a))
		return false;
	/* Inherit-only ACEs (CREATOR OWNER's) are for what is created inside. */
	if (a->Header.AceFlags & INHERIT_ONLY_ACE)
		return false;
	switch (a->Header.AceType) {
	case ACCESS_ALLOWED_ACE_TYPE:
	case ACCESS_ALLOWED_CALLBACK_ACE_TYPE: /* a condition may hold: taken as granted */
		v->allow = true;
		break;
	case ACCESS_DENIED_ACE_TYPE: v->allow = false; break;
	default: /* a conditional deny may not hold: not taken as a deny */ return false;
	}
	v->mask = map_generic(a->Mask);
	v->sid = (PSID)&a->SidStart;
	v->inherited = (a->Header.AceFlags & INHERITED_ACE) != 0;
	/* OWNER RIGHTS stands for the owner; CREATOR OWNER/GROUP match nobody here. */
	if (same_sid(v->sid, KSID(OWNER_RIGHTS)))
		v->sid = owner;
	else if (same_sid(v->sid, KSID(CREATOR_OWNER)) || same_sid(v->sid, KSID(CREATOR_GROUP)))
		v->sid = NULL;
	return v->sid != NULL;
}

/*
 * The groups every user named `who` has besides itself: a member of Users is
 * an authenticated user, and everyone is Everyone. Fewer groups than a real
 * token may have: a deny for a group the principal might not be in must not
 * clear it.
 */
static size_t token_of(PSID who, PSID token[4])
{
	size_t n = 0;

	token[n++] = who;
	if (!same_sid(who, KSID(EVERYONE))) {
		token[n++] = KSID(EVERYONE);
		if (!same_sid(who, KSID(AUTH_USERS)))
			token[n++] = KSID(AUTH_USERS);
	}
	return n;
}

/* The rights Windows would give a token of who and its groups (DACL order). */
static ACCESS_MASK rights_of(PACL dacl, PSID owner, PSID who, bool *inherited, bool *direct)
{
	ACCESS_MASK allowed = 0, denied = 0;
	PSID token[4];
	size_t n = token_of(who, token), k;
	DWORD i;

	*inherited = *direct = false;
	for (i = 0; i < dacl->AceCount; i++) {
		ace_view v;
		bool member = false;

		if (!ace_at(dacl, i, owner, &v))
			continue;
		for (k = 0; k < n && !member; k++)
			member = same_sid(v.sid, token[k]);
		if (!member)
			continue;
		if (v.allow) {
			ACCESS_MASK add = v.mask & ~denied & ~allowed;
			if (add != 0) {
				*inherited |= v.inherited;
				*direct |= !v.inherited;
			}
			allowed |= add;
		} else {
			denied |= v.mask & ~allowed;
		}
	}
	return allowed;
}

/*
 * Calls fn for each principal worth evaluating: the well-known groups
 * every local user belongs to, then each one an allow ACE names, once.
 * Stops when fn returns true.
 */
typedef bool (*principal_fn)(PSID who, void *ctx);

static bool each_principal(PACL dacl, PSID owner, principal_fn fn, void *ctx)
{
	static const known_sid *const groups[] = { &EVERYONE, &AUTH_USERS, &INTERACTIVE, &USERS };
	DWORD i, j;
	size_t g;

	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
		if (fn(KSID(*groups[g]), ctx))
			return true;
	for (i = 0; i < dacl->AceCount; i++) {
		ace_view v, w;
		bool seen = false;

		if (!ace_at(dacl, i, owner, &v) || !v.allow)
			continue;
		for (g = 0; g < sizeof(groups) / sizeof(groups[0]) && !seen; g++)
			seen = same_sid(v.sid, KSID(*groups[g]));
		for (j = 0; j < i && !seen; j++)
			seen = ace_at(dacl, j, owner, &w) && w.allow && same_sid(v.sid, w.sid);
		if (!seen && fn(v.sid, ctx))
			return true;
	}
	return false;
}

typedef struct {
	PACL dacl;
	PSID owner, user;
	ACCESS_MASK mask;
	p11_acl_finding *f;
} decide_ctx;

static bool untrusted_writer(PSID who, void *p)
{
	decide_ctx *c = p;
	bool inherited, direct;
	ACCESS_MASK m;

	if (trusted_sid(who, c->user))
		return false;
	m = rights_of(c->dacl, c->owner, who, &inherited, &direct) & c->mask;
	if (m == 0)
		return false;
	c->f->verdict = P11_ACL_WRITER;
	c->f->who = who;
	c->f->rights = m;
	c->f->inherited = inherited;
	c->f->direct = direct;
	return true;
}

p11_acl_verdict p11_acl_decide(PSECURITY_DESCRIPTOR sd, p11_acl_role role, PSID user,
                               p11_acl_finding *f)
{
	decide_ctx c;

	memset(f, 0, sizeof(*f));
	c.owner = sd_owner(sd);
	c.dacl = sd_dacl(sd);
	c.user = user;
	c.mask = change_mask(role);
	c.f = f;
	/* An owner may always rewrite the DACL (WRITE_DAC is implied). */
	if (c.owner != NULL && !trusted_sid(c.owner, user)) {
		f->verdict = P11_ACL_OWNER;
		f->who = c.owner;
		return f->verdict;
	}
	if (c.dacl == NULL) {
		f->verdict = P11_ACL_NO_DACL;
		f->who = KSID(EVERYONE);
		f->rights = c.mask;
		return f->verdict;
	}
	if (!each_principal(c.dacl, c.owner, untrusted_writer, &c))
		f->verdict = P11_ACL_OK;
	return f->verdict;
}

/* ---- words ---- */

void p11_acl_sid_text(PSID sid, char *buf, size_t len)
{
	wchar_t name[256], domain[256];
	DWORD nn = 256, dn = 256;
	SID_NAME_USE use;
	char *s = NULL;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (sid == NULL || !IsValidSid(sid)) {
		snprintf(buf, len, "(no SID)");
		return;
	}
	if (LookupAccountSidW(NULL, sid, name, &nn, domain, &dn, &use)) {
		char n8[768], d8[768];

		WideCharToMultiByte(CP_UTF8, 0, name, -1, n8, sizeof(n8), NULL, NULL);
		WideCharToMultiByte(CP_UTF8, 0, domain, -1, d8, sizeof(d8), NULL, NULL);
		if (d8[0] != '\0')
			snprintf(buf, len, "%s\\%s", d8, n8);
		else
			snprintf(buf, len, "%s", n8);
		return;
	}
	if (ConvertSidToStringSidA(sid, &s)) {
		snprintf(buf, len, "%s", s);
		LocalFree(s);
	}
}

static void sid_string(PSID sid, char *buf, size_t len)
{
	char *s = NULL;

	buf[0] = '\0';
	if (sid != NULL && ConvertSidToStringSidA(sid, &s)) {
		snprintf(buf, len, "%s", s);
		LocalFree(s);
	}
}

/* "write data (WD), delete (D) and take ownership (WO)": icacls's letters. */
static void rights_text(ACCESS_MASK m, bool folder, char *buf, size_t len)
{
	static const struct {
		ACCESS_MASK bit;
		const char *file, *folder;
	} names[] = {
		{ FILE_WRITE_DATA, "write data (WD)", "add files (WD)" },
		{ FILE_APPEND_DATA, "append data (AD)", "add subfolders (AD)" },
		{ FILE_DELETE_CHILD, "delete entries (DC)", "delete entries (DC)" },
		{ FILE_WRITE_EA, "write extended attributes (WEA)",
		  "write extended attributes (WEA)" },
		{ FILE_WRITE_ATTRIBUTES, "write attributes (WA)", "write attributes (WA)" },
		{ DELETE, "delete (D)", "delete (D)" },
		{ WRITE_DAC, "change permissions (WDAC)", "change permissions (WDAC)" },
		{ WRITE_OWNER, "take ownership (WO)", "take ownership (WO)" },
	};
	size_t i, o = 0, left = 0;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		left += (m & names[i].bit) != 0;
	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && o < len; i++) {
		if (!(m & names[i].bit))
			continue;
		left--;
		o += snprintf(buf + o, len - o, "%s%s", folder ? names[i].folder : names[i].file,
		              left == 0 ? "" :
		              left == 1 ? " and " :
		                          ", ");
	}
}

/* The command that leaves only SYSTEM and Administrators in charge, Users reading. */
static void lockdown(const char *obj, bool folder, char *buf, size_t len)
{
	const char *inh = folder ? "(OI)(CI)" : "";

	snprintf(buf, len,
	         "icacls \"%s\" /inheritance:r /grant:r *S-1-5-18:%sF *S-1-5-32-544:%sF "
	         "*S-1-5-32-545:%sRX",
	         obj, inh, inh, inh);
}

void p11_acl_explain(const char *path, const char *what, const char *obj, p11_acl_role role,
                     PSID user, const p11_acl_finding *f, char *err, size_t errlen)
{
	char who[600], me[600], sid[200], rights[400], fix[2 * 4096 + 400], trusted[700];
	bool folder = role != P11_ACL_FILE;
	const char *how = role == P11_ACL_PARENT ? "in" : "reached through";

	if (errlen == 0)
		return;
	p11_acl_sid_text(f->who, who, sizeof(who));
	sid_string(f->who, sid, sizeof(sid));
	if (user != NULL) {
		p11_acl_sid_text(user, me, sizeof(me));
		snprintf(trusted, sizeof(trusted), "SYSTEM, Administrators, TrustedInstaller or %s",
		         me);
	} else {
		snprintf(trusted, sizeof(trusted), "SYSTEM, Administrators or TrustedInstaller");
	}
	switch (f->verdict) {
	case P11_ACL_OK: err[0] = '\0'; return;
	case P11_ACL_NO_DACL:
		lockdown(obj, folder, fix, sizeof(fix));
		if (!folder)
			snprintf(err, errlen,
			         "%s: the %s has no access control list (a NULL DACL): every "
			         "user can change it, so the shim refuses it; fix: %s",
			         path, what, fix);
		else
			snprintf(err, errlen,
			         "%s: the %s is %s the folder %s, which has no access control "
			         "list (a NULL DACL): any user could replace the %s, so the shim refuses it; "
			         "fix: %s",
			         path, what, how, obj, what, fix);
		return;
	case P11_ACL_OWNER:
		snprintf(fix, sizeof(fix), "icacls \"%s\" /setowner *S-1-5-32-544", obj);
		if (!folder)
			snprintf(err, errlen,
			         "%s: the %s belongs to %s, not to %s, so the shim refuses it; "
			         "fix: %s",
			         path, what, who, trusted, fix);
		else
			snprintf(err, errlen,
			         "%s: the %s is %s the folder %s, which belongs to %s, not to "
			         "%s: that user could replace the %s, so the shim refuses it; fix: %s",
			         path, what, how, obj, who, trusted, what, fix);
		return;
	case P11_ACL_WRITER: break;
	}
	rights_text(f->rights, folder, rights, sizeof(rights));
	/* What is inherited goes with inheritance; what is set here, with /grant:r. */
	if (f->inherited) {
		size_t o;

		lockdown(obj, folder, fix, sizeof(fix));
		o = strlen(fix);
		if (f->direct)
			snprintf(fix + o, sizeof(fix) - o, " && icacls \"%s\" /grant:r *%s:RX", obj,
			         sid);
	} else {
		snprintf(fix, sizeof(fix), "icacls \"%s\" /grant:r *%s:RX", obj, sid);
	}
	if (!folder)
		snprintf(err, errlen,
		         "%s: %s can change the %s (%s%s), so the shim refuses it; fix: %s", path,
		         who, what, rights, f->inherited && !f->direct ? ", inherited" : "", fix);
	else
		snprintf(err, errlen,
		         "%s: the %s is %s the folder %s, where %s can %s%s: another user "
		         "could replace the %s, so the shim refuses it; fix: %s",
		         path, what, how, obj, who, rights,
		         f->inherited && !f->direct ? " (inherited)" : "", what, fix);
}

typedef struct {
	PACL dacl;
	PSID owner;
	ACCESS_MASK mask;
	char *buf;
	size_t len, o;
} describe_ctx;

static bool list_writer(PSID who, void *p)
{
	describe_ctx *c = p;
	bool inherited, direct;
	char name[600];

	if ((rights_of(c->dacl, c->owner, who, &inherited, &direct) & c->mask) == 0 || c->o >= c->len)
		return false;
	p11_acl_sid_text(who, name, sizeof(name));
	c->o += snprintf(c->buf + c->o, c->len - c->o, "%s%s", c->o == 0 ? "" : ", ", name);
	return false;
}

void p11_acl_describe(PSECURITY_DESCRIPTOR sd, p11_acl_role role, PSID user, char *buf, size_t len)
{
	char owner[600], writers[1500];
	describe_ctx c = { sd_dacl(sd), sd_owner(sd), change_mask(role), writers, sizeof(writers), 0 };

	(void)user;
	if (len == 0)
		return;
	writers[0] = '\0';
	if (c.owner != NULL)
		p11_acl_sid_text(c.owner, owner, sizeof(owner));
	else
		snprintf(owner, sizeof(owner), "nobody");
	if (c.dacl == NULL)
		snprintf(writers, sizeof(writers), "everyone (no DACL)");
	else
		each_principal(c.dacl, c.owner, list_writer, &c);
	snprintf(buf, len, "owner %s; can change it: %s", owner,
	         writers[0] != '\0' ? writers : "nobody but its owner");
}

void *p11_acl_process_user(PSID *sid)
{
	HANDLE tok = NULL;
	DWORD n = 0;
	TOKEN_USER *tu = NULL;

	*sid = NULL;
	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &tok))
		return NULL;
	GetTokenInformation(tok, TokenUser, NULL, 0, &n);
	if (n == 0 || (tu = LocalAlloc(LPTR, n)) == NULL ||
	    !GetTokenInformation(tok, TokenUser, tu, n, &n)) {
		LocalFree(tu);
		tu = NULL;
	} else {
		*sid = tu->User.Sid;
	}
	CloseHandle(tok);
	return tu;
}

PSECURITY_DESCRIPTOR p11_acl_private_sd(bool folder)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	PSID user;
	void *tu = p11_acl_process_user(&user);
	char *me = NULL, sddl[400];
	const char *inh = folder ? "OICI" : "";

	if (tu == NULL || !ConvertSidToStringSidA(user, &me))
		goto out;
	/* P: nothing inherited from the parent (a %PROGRAMDATA% folder lets Users read). */
	snprintf(sddl, sizeof(sddl), "D:P(A;%s;FA;;;SY)(A;%s;FA;;;BA)(A;%s;FA;;;%s)", inh, inh, inh,
	         me);
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(sddl, SDDL_REVISION_1, &sd, NULL))
		sd = NULL;
out:
	if (me != NULL)
		LocalFree(me);
	LocalFree(tu);
	return sd;
}

/* ---- the path ---- */

#define IS_SEP(c) ((c) == L'\\' || (c) == L'/')

/* Where the first folder below the root starts: past C:\ or \\server\share\. */
static size_t root_len(const wchar_t *p)
{
	size_t i = 0;

	if (wcsncmp(p, L"\\\\?\\", 4) == 0) {
		i = 4;
		if (_wcsnicmp(p + i, L"UNC\\", 4) != 0)
			return i + (p[i] != 0 && p[i + 1] == L':' ? 3 : 0);
		i += 4;
	} else if (IS_SEP(p[0]) && IS_SEP(p[1])) {
		i = 2;
	} else {
		return p[0] != 0 && p[1] == L':' && IS_SEP(p[2]) ? 3 : 0;
	}
	/* server\share\ */
	for (int seps = 0; p[i] != 0 && seps < 2; i++)
		if (IS_SEP(p[i]))
			seps++;
	return i;
}

/* The next separator from i on, or past last when there is none. */
static size_t next_sep(const wchar_t *p, size_t i, size_t last)
{
	while (i <= last && !IS_SEP(p[i]))
		i++;
	return i;
}

static void utf8(const wchar_t *w, char *buf, size_t len)
{
	if (WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, (int)len, NULL, NULL) == 0 && len > 0)
		buf[0] = '\0';
}

/* One object on the way: its owner and DACL against the rule for its role. */
static p11_trust check_object(const char *path, const char *what, const wchar_t *obj,
                              p11_acl_role role, PSID user, char *err, size_t errlen, char *desc,
                              size_t desclen)
{
	PSECURITY_DESCRIPTOR sd = NULL;
	p11_acl_finding f;
	char o8[3 * 4096];
	DWORD e;

	utf8(obj, o8, sizeof(o8));
	e = GetNamedSecurityInfoW(obj, SE_FILE_OBJECT,
	                          OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION, NULL,
	                          NULL, NULL, NULL, &sd);
	if (e != ERROR_SUCCESS) {
		snprintf(err, errlen,
		         "%s: cannot read the owner and permissions of %s to check the %s: "
		         "Windows error %lu; run as a user who may read them",
		         path, o8, what, (unsigned long)e);
		return P11_TRUST_REFUSED;
	}
	if (p11_acl_decide(sd, role, user, &f) != P11_ACL_OK) {
		p11_acl_explain(path, what, o8, role, user, &f, err, errlen);
		LocalFree(sd);
		return P11_TRUST_REFUSED;
	}
	if (desc != NULL)
		p11_acl_describe(sd, role, user, desc, desclen);
	LocalFree(sd);
	return P11_TRUST_OK;
}

p11_trust p11_file_trusted(const char *path, const char *what, char *err, size_t errlen)
{
	wchar_t *w = NULL, *full = NULL;
	void *tu = NULL;
	char desc[2048];
	size_t root, i, last = 0, folders = 0;
	p11_trust t = P11_TRUST_REFUSED;
	DWORD n, attrs, e;
	PSID user;

	if (errlen > 0)
		err[0] = '\0';
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "no path given for the %s", what);
		return P11_TRUST_MISSING;
	}
	if ((w = compat_wide_path(path)) == NULL || (n = GetFullPathNameW(w, 0, NULL, NULL)) == 0 ||
	    (full = calloc((size_t)n + 1, sizeof(wchar_t))) == NULL ||
	    GetFullPathNameW(w, n + 1, full, NULL) == 0) {
		snprintf(err, errlen,
		         "%s: cannot make a full path of it to check the %s; write the full "
		         "path",
		         path, what);
		goto out;
	}
	attrs = GetFileAttributesW(full);
	if (attrs == INVALID_FILE_ATTRIBUTES) {
		e = GetLastError();
		if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ||
		    e == ERROR_INVALID_NAME || e == ERROR_INVALID_DRIVE || e == ERROR_BAD_NETPATH ||
		    e == ERROR_BAD_NET_NAME) {
			snprintf(err, errlen, "%s: not found", path);
			t = P11_TRUST_MISSING;
		} else {
			snprintf(err, errlen, "%s: cannot check the %s: Windows error %lu", path,
			         what, (unsigned long)e);
		}
		goto out;
	}
	if (attrs & FILE_ATTRIBUTE_DIRECTORY) {
		snprintf(err, errlen,
		         "%s: the %s is a folder, not a file, so the shim refuses it; name "
		         "the file itself",
		         path, what);
		goto out;
	}
	if ((tu = p11_acl_process_user(&user)) == NULL) {
		snprintf(err, errlen,
		         "%s: cannot tell which user the process runs as (Windows error "
		         "%lu) to check the %s",
		         path, (unsigned long)GetLastError(), what);
		goto out;
	}
	/* From the root down, as on Linux: the root (C:\ with its separator), then
	 * each folder below; the last separator ends the file's own folder. */
	if ((root = root_len(full)) == 0) {
		snprintf(err, errlen,
		         "%s: cannot tell the drive or share of the %s; write the full "
		         "path",
		         path, what);
		goto out;
	}
	for (i = root; full[i] != 0; i++)
		if (IS_SEP(full[i]))
			last = i;
	for (i = root - 1; i <= last || i == root - 1; i = next_sep(full, i + 1, last)) {
		size_t end = i == root - 1 ? root : i; /* the root keeps its separator */
		wchar_t keep = full[end];

		full[end] = 0;
		t = check_object(path, what, full,
		                 i == last || (last == 0 && i == root - 1) ? P11_ACL_PARENT :
		                                                             P11_ACL_ANCESTOR,
		                 user, err, errlen, NULL, 0);
		full[end] = keep;
		folders++;
		if (t != P11_TRUST_OK || last == 0)
			break;
	}
	if (t != P11_TRUST_OK)
		goto out;
	t = check_object(path, what, full, P11_ACL_FILE, user, err, errlen, desc, sizeof(desc));
	if (t == P11_TRUST_OK)
		snprintf(err, errlen, "%s; no one else can change it or the %zu folder%s on its path",
		         desc, folders, folders == 1 ? "" : "s");
out:
	LocalFree(tu);
	free(full);
	free(w);
	return t;
}
