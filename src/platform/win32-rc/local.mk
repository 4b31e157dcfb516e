# Windows-only build parts. Included by the top Makefile.am after
# src/tool/local.mk: non-recursive, paths relative to the top directory.
#
# Version resources, compiled by windres ($(RC), found by LT_LANG): the DLL's
# through libtool (a .lo for p11shim.la), the CLI's as a plain object.

RC_FLAGS = -I$(top_builddir) -I$(top_srcdir)/include -I$(top_builddir)/src/platform/win32-rc \
	-DP11_VERSION_RC=$(P11_VERSION_RC)
EXTRA_DIST += src/platform/win32-rc/p11shim.rc src/platform/win32-rc/p11shim-events.mc

if WINDOWS
# The Event Log message table (windmc): p11shim-events.rc and MSG00409.bin,
# which the DLL's resource script includes.
src/platform/win32-rc/p11shim-events.rc: src/platform/win32-rc/p11shim-events.mc
	@$(MKDIR_P) src/platform/win32-rc
	$(AM_V_GEN)$(WINDMC) -h src/platform/win32-rc -r src/platform/win32-rc \
		$(top_srcdir)/src/platform/win32-rc/p11shim-events.mc

src/platform/win32-rc/p11shim-dll.lo: src/platform/win32-rc/p11shim.rc src/platform/win32-rc/p11shim-events.rc config.h
	@$(MKDIR_P) src/platform/win32-rc
	$(AM_V_GEN)$(LIBTOOL) $(AM_V_lt) --tag=RC --mode=compile $(RC) $(RC_FLAGS) \
		-i $(top_srcdir)/src/platform/win32-rc/p11shim.rc -o $@

src/platform/win32-rc/p11shim-exe.$(OBJEXT): src/platform/win32-rc/p11shim.rc config.h
	@$(MKDIR_P) src/platform/win32-rc
	$(AM_V_GEN)$(RC) $(RC_FLAGS) -DP11_RC_EXE -i $(top_srcdir)/src/platform/win32-rc/p11shim.rc -o $@

src_tool_p11shim_LDADD += src/platform/win32-rc/p11shim-exe.$(OBJEXT)
CLEANFILES += src/platform/win32-rc/p11shim-events.rc src/platform/win32-rc/p11shim-events.h \
	src/platform/win32-rc/MSG00409.bin
CLEANFILES += src/platform/win32-rc/p11shim-dll.lo src/platform/win32-rc/p11shim-dll.o src/platform/win32-rc/p11shim-exe.$(OBJEXT)
endif
