#!/usr/bin/env python3
# term-check.py NAME FILE...: exit 1, naming the byte, when FILE holds
# anything a terminal would obey rather than show (issue 14, item 5): a C0
# control other than newline and tab, DEL, invalid UTF-8, a C1 control
# (U+0080..U+009F: 0x9b is CSI on many terminals), or a Unicode control that
# reorders or breaks lines (U+2028/2029, the bidi overrides and isolates).
import sys

BAD_CP = set(range(0x80, 0xa0)) | {0x200e, 0x200f, 0x2028, 0x2029} | \
	set(range(0x202a, 0x202f)) | set(range(0x2066, 0x206a))

name, files = sys.argv[1], sys.argv[2:]
bad = 0
for path in files:
	data = open(path, 'rb').read()
	for i, c in enumerate(data):
		if (c < 0x20 and c not in (0x09, 0x0a)) or c == 0x7f:
			print('%s: %s: raw control byte 0x%02x at offset %d: %r' %
			      (name, path, c, i, data[max(0, i - 20):i + 20]))
			bad = 1
			break
	try:
		text = data.decode('utf-8')
	except UnicodeDecodeError as e:
		print('%s: %s: invalid UTF-8 at offset %d: %r' %
		      (name, path, e.start, data[max(0, e.start - 20):e.start + 20]))
		bad = 1
		continue
	for i, ch in enumerate(text):
		if ord(ch) in BAD_CP:
			print('%s: %s: control character U+%04X: %r' %
			      (name, path, ord(ch), text[max(0, i - 20):i + 20]))
			bad = 1
			break
sys.exit(bad)
