# Tests (STYLE.md section 8). Included by the top Makefile.am.
