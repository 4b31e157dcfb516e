; p11shim's Windows installer (NSIS 3, Debian's nsis). Built by
; scripts/make-installer.sh (called by scripts/release), which passes:
;
;   -DVERSION=1.2.3      the release
;   -DARCH=win32|win64   32-bit (x86-unicode, %ProgramFiles(x86)%) or x64
;                        (amd64-unicode, %ProgramFiles%)
;   -DSTAGE=DIR          p11shim.dll, p11shim.exe, p11shim.conf (the sample,
;                        CRLF), README.txt, LICENSE.txt, doc\*.txt
;   -DOUTFILE=FILE       the setup program
;
; What it does (README.md, "Security model", Windows):
; - the program files into $INSTDIR (/D= chooses it);
; - %PROGRAMDATA%\p11shim with inheritance removed: SYSTEM and
;   Administrators full control, Users read, owner Administrators (what
;   `icacls DIR /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F
;   *S-1-5-32-544:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX` and `/setowner
;   *S-1-5-32-544` would do; set through advapi32 so that it also holds where
;   icacls is missing), the shim's tamper check accepts exactly that;
; - the sample configuration as %PROGRAMDATA%\p11shim\p11shim.conf unless
;   one exists (an upgrade keeps it);
; - Add/Remove Programs entry, and the Event Log source p11shim;
; - /S: silent. The uninstaller removes the program files and the registry
;   entries, never the configuration.

Unicode true
!macro NEED NAME
	!ifndef ${NAME}
		!error "-D${NAME}= missing: makensis -DVERSION=... -DARCH=win32|win64 -DSTAGE=... -DOUTFILE=... installer.nsi"
	!endif
!macroend
!insertmacro NEED VERSION
!insertmacro NEED ARCH
!insertmacro NEED STAGE
!insertmacro NEED OUTFILE
!if "${ARCH}" == "win64"
Target amd64-unicode
!define PROGFILES "$PROGRAMFILES64"
!else
!define PROGFILES "$PROGRAMFILES32"
!endif

!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\p11shim"
!define EVENT_KEY "SYSTEM\CurrentControlSet\Services\EventLog\Application\p11shim"
; O:BA owner Administrators; D:PAI protected (nothing inherited), inherited
; by what is created inside: SY, BA full, BU read and execute (0x1200a9).
!define CONF_SDDL "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)"
!define SE_FILE_OBJECT 1
; OWNER | DACL | PROTECTED_DACL
!define SECINFO 0x80000005

Name "p11shim ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "${PROGFILES}\p11shim"
RequestExecutionLevel admin
SetCompressor /SOLID lzma
ShowInstDetails show
ShowUninstDetails show
VIProductVersion "${VERSION}.0"
VIAddVersionKey "ProductName" "p11shim"
VIAddVersionKey "FileDescription" "p11shim ${VERSION} setup (${ARCH})"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "LegalCopyright" "p11shim authors"

Page directory
Page instfiles
UninstPage uninstConfirm
UninstPage instfiles

!include LogicLib.nsh

Function .onInit
!if "${ARCH}" == "win64"
	SetRegView 64
!endif
	SetShellVarContext all
FunctionEnd

Function un.onInit
!if "${ARCH}" == "win64"
	SetRegView 64
!endif
	SetShellVarContext all
FunctionEnd

; Locks DIR down to CONF_SDDL; $0 is 0 on success, else the Windows error.
Function LockDown
	Exch $R0 ; DIR
	Push $1
	Push $2
	Push $3
	Push $4
	StrCpy $0 -1
	System::Call 'advapi32::ConvertStringSecurityDescriptorToSecurityDescriptorW(w "${CONF_SDDL}", i 1, *p .r1, p 0) i .r2'
	${If} $2 == 0
		System::Call 'kernel32::GetLastError() i .r0'
		Goto done
	${EndIf}
	System::Call 'advapi32::GetSecurityDescriptorOwner(p r1, *p .r3, *i .r4) i .r2'
	System::Call 'advapi32::GetSecurityDescriptorDacl(p r1, *i .r4, *p .r2, *i .r4) i .r4'
	System::Call 'advapi32::SetNamedSecurityInfoW(w R0, i ${SE_FILE_OBJECT}, i ${SECINFO}, p r3, p 0, p r2, p 0) i .r0'
	System::Call 'kernel32::LocalFree(p r1)'
done:
	Pop $4
	Pop $3
	Pop $2
	Pop $1
	Pop $R0
FunctionEnd

Section "p11shim"
	SetOutPath "$INSTDIR"
	File "${STAGE}\p11shim.dll"
	File "${STAGE}\p11shim.exe"
	File "${STAGE}\README.txt"
	File "${STAGE}\LICENSE.txt"
	File "/oname=p11shim.conf.sample" "${STAGE}\p11shim.conf"
	SetOutPath "$INSTDIR\doc"
	File "${STAGE}\doc\*.txt"

	; %PROGRAMDATA%\p11shim ($APPDATA of all users), locked down before
	; anything is written into it, and again on every install: a folder
	; made by another user before the administrator came is taken back.
	CreateDirectory "$APPDATA\p11shim"
	Push "$APPDATA\p11shim"
	Call LockDown
	${If} $0 != 0
		DetailPrint "cannot set the permissions of $APPDATA\p11shim (Windows error $0)"
		SetErrorLevel 2
		Abort "cannot set the permissions of $APPDATA\p11shim (Windows error $0)"
	${EndIf}
	DetailPrint "$APPDATA\p11shim: inheritance removed; SYSTEM and Administrators full control, Users read"
	${IfNot} ${FileExists} "$APPDATA\p11shim\p11shim.conf"
		SetOutPath "$APPDATA\p11shim"
		File "${STAGE}\p11shim.conf"
	${Else}
		DetailPrint "keeping $APPDATA\p11shim\p11shim.conf"
	${EndIf}

	WriteUninstaller "$INSTDIR\uninstall.exe"
	WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "p11shim ${VERSION} (${ARCH})"
	WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
	WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "p11shim"
	WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
	WriteRegStr HKLM "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\p11shim.exe"
	WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
	WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
	WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
	WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1
	; The shim's Event Log source: its messages come from the DLL.
	WriteRegExpandStr HKLM "${EVENT_KEY}" "EventMessageFile" "$INSTDIR\p11shim.dll"
	WriteRegDWORD HKLM "${EVENT_KEY}" "TypesSupported" 7
SectionEnd

Section "Uninstall"
	Delete "$INSTDIR\p11shim.dll"
	Delete "$INSTDIR\p11shim.exe"
	Delete "$INSTDIR\README.txt"
	Delete "$INSTDIR\LICENSE.txt"
	Delete "$INSTDIR\p11shim.conf.sample"
	Delete "$INSTDIR\doc\*.txt"
	RMDir "$INSTDIR\doc"
	Delete "$INSTDIR\uninstall.exe"
	RMDir "$INSTDIR"
	DeleteRegKey HKLM "${UNINST_KEY}"
	DeleteRegKey HKLM "${EVENT_KEY}"
	; %PROGRAMDATA%\p11shim stays: it is the administrator's configuration.
	DetailPrint "kept $APPDATA\p11shim (the configuration)"
SectionEnd
