#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/).

    python3 tests/fuzz/seeds.py [TRACE.jsonl...]

Run from the top of the source tree. The seeds are in the tree; this script
says how they were made, and makes them again after a change of an input
format. Real traces given as arguments become traceread seeds too (their
first 40 lines).
"""
import gzip
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- config ----
top = os.path.dirname(os.path.dirname(HERE))
with open(os.path.join(top, "conf", "p11shim.conf"), "rb") as f:
    put("config", "sample.conf", f.read())
put("config", "every-key.conf", """[backend]
PKCS11Library = /usr/lib/softhsm/libsofthsm2.so
PKCS11LibraryWindows32 = C:/Program Files (x86)/Personal/bin/personal.dll
PKCS11LibraryWindows64 = C:\\Program Files\\Personal\\bin\\personal64.dll
Middleware = personal
MiddlewareVersion = 5.7.2
[readers]
SkipReader = Microsoft Virtual Smart Card .*
SkipReader =
SkipReader = (?i)windows hello.*
ReadPersonalSkipReader = no
[login]
OperatorPinIsSOCredential = ${FUZZ_BOOL}
OtherAdminUserType = 0x80000001
[puk]
PukChange = auto
PukChangeModels = ${FUZZ_TEXT}
[serial]
InitToken = true
CMSCardSerialNumber = ${PRIME_CARD_SERIAL}
NumberRange = 000100-000199
NumberRangeState = /var/lib/p11shim/range.state
CertificateSerialCheck = warn
[eraser]
CardEraser = on
[middleware]
PersonalConfig = C:/Program Files (x86)/Personal/config/Personal.cfg
PersonalUserConfig = %APPDATA%/Personal/config/Personal.cfg
PinEncryptionConfig = /etc/iD2ppa.cfg
Enforce = warn
[trace]
Enable = 1
File = /tmp/p11shim-%p-%t.jsonl
Format = text
Data = hex
MaxSize = ${FUZZ_SIZE}
""")
put("config", "mapped-bad.conf", "[trace]\nEnable = ${FUZZ_BAD}\nMaxSize = ${UNSET_FIELD}\n")
put("config", "mapped-path.conf", "[backend]\nPKCS11Library = ${FUZZ_TEXT}\n")
put("config", "bom-quotes.conf", "\xef\xbb\xbf; comment\n[ trace ]\n  file = \"/tmp/a b.jsonl\"  \nMAXSIZE=1KiB\n")
put("config", "unknown-key.conf", "[backend]\nPKCS11Libary = x\n")
put("config", "unknown-section.conf", "[backnd]\nPKCS11Library = x\n")
put("config", "no-section.conf", "PKCS11Library = x\n")
put("config", "bad-header.conf", "[backend\nx=y\n")
put("config", "no-equals.conf", "[trace]\nFile\n")
put("config", "bad-values.conf", "[trace]\nFormat = xml\n")
put("config", "bad-size.conf", "[trace]\nMaxSize = 99999999999999999999G\n")
put("config", "long-line.conf", "[trace]\nFile = " + "x" * 5000 + "\n")
put("config", "empty.conf", "")
put("config", "crlf.conf", "[trace]\r\nFile = /tmp/t.jsonl\r\nData = none\r\n")
put("config", "range.conf", "[serial]\nNumberRange = 18446744073709551615-5\n")
put("config", "env-vars.conf", "LT[trace]\n")

# ---- attrs: byte 0 format/data/rv, byte 1 count, then attributes ----
KNOWN = ["CLASS", "TOKEN", "PRIVATE", "LABEL", "APPLICATION", "VALUE", "OBJECT_ID", "CERTIFICATE_TYPE",
         "ISSUER", "SERIAL_NUMBER", "KEY_TYPE", "SUBJECT", "ID", "SENSITIVE", "ENCRYPT", "SIGN",
         "START_DATE", "END_DATE", "MODULUS", "MODULUS_BITS", "PUBLIC_EXPONENT", "PRIVATE_EXPONENT",
         "PRIME_1", "COEFFICIENT", "VALUE_LEN", "EXTRACTABLE", "EC_PARAMS", "EC_POINT", "WRAP_TEMPLATE",
         "UNWRAP_TEMPLATE", "DERIVE_TEMPLATE", "ALLOWED_MECHANISMS", "KEY_GEN_MECHANISM",
         "HW_FEATURE_TYPE", "MECHANISM_TYPE", "VENDOR_DEFINED"]
ULONG = 8  # the seeds are for 64-bit builds; others read them differently, which is fine


def k(name):
    return bytes([0x80 | KNOWN.index(name)])


def attr(name, value=b"", null=None, unavailable=False):
    if unavailable:
        return k(name) + b"\xff"
    if null is not None:
        return k(name) + b"\xfe" + bytes([null])
    return k(name) + bytes([len(value)]) + value


def ul(v):
    return struct.pack("<Q", v)


def tmpl(*attrs):
    return bytes([len(attrs)]) + b"".join(attrs)


secret_key = tmpl(attr("CLASS", ul(4)), attr("KEY_TYPE", ul(0x1f)), attr("VALUE", b"K3y-Vq8R-mZ2-wL5"),
                  attr("LABEL", b"aes key"), attr("TOKEN", b"\x01"), attr("SENSITIVE", b"\x00"))
cert = tmpl(attr("CLASS", ul(1)), attr("CERTIFICATE_TYPE", ul(0)), attr("VALUE", bytes(range(48))),
            attr("SUBJECT", b"\x30\x0b\x31\x09\x30\x07\x06\x03\x55\x04\x03\x0c\x00"), attr("ID", b"\x42"))
rsa = tmpl(attr("CLASS", ul(3)), attr("MODULUS", b"\xc3" * 64), attr("PRIVATE_EXPONENT", b"\x11" * 64),
           attr("PRIME_1", b"\x22" * 32), attr("COEFFICIENT", b"\x33" * 32), attr("PUBLIC_EXPONENT", b"\x01\x00\x01"))
nested = tmpl(attr("CLASS", ul(4)),
              k("UNWRAP_TEMPLATE") + b"\x01" + tmpl(attr("CLASS", ul(4)), attr("VALUE", b"nested secret!!"),
                                                    k("WRAP_TEMPLATE") + b"\x01" + tmpl(attr("TOKEN", b"\x01"))),
              attr("ALLOWED_MECHANISMS", ul(0x1040) + ul(0x1041)), attr("START_DATE", b"20261127"))
lengths = tmpl(attr("LABEL", null=32), attr("VALUE", unavailable=True), attr("CLASS", b"\x04"),
               attr("TOKEN", b"\x01\x00"), attr("MODULUS_BITS", ul(2048)), b"\x7f\xff\xff\xff\x04abcd")
# CKA_CLASS twice, first public then CKO_SECRET_KEY, and a public template
# nested in a secret key's: the value must be redacted. After the template,
# the backend's answer: how many bytes longer each returned value claims to be.
two_class = tmpl(attr("CLASS", ul(0)), attr("CLASS", ul(4)), attr("VALUE", b"K3y-Vq8R-mZ2-wL5"))
cert_then_secret = tmpl(attr("CLASS", ul(1)), attr("VALUE", b"K3y-Vq8R-mZ2-wL5"), attr("CLASS", ul(4)))
public_in_secret = tmpl(attr("CLASS", ul(4)),
                        k("UNWRAP_TEMPLATE") + b"\x01" + tmpl(attr("CLASS", ul(0)), attr("VALUE", b"nested secret!!")))
lied = tmpl(attr("CLASS", ul(0)), attr("LABEL", b"label"), attr("VALUE", b"data")) + b"\x00\x30\xff"
for i, (name, t) in enumerate([("secret-key", secret_key), ("certificate", cert), ("rsa-private", rsa),
                               ("nested", nested), ("lengths", lengths), ("two-class", two_class),
                               ("cert-then-secret", cert_then_secret), ("public-in-secret", public_in_secret),
                               ("backend-lies", lied)]):
    for b0 in (0x00, 0x05, 0x08, 0x13, 0x1a):
        put("attrs", "%s-%02x" % (name, b0), bytes([b0]) + t)

# ---- skipreader: patterns, NUL, 64-byte slot descriptions ----
def desc(s):
    return s.encode().ljust(64, b" ")[:64]


readers = [desc("Microsoft Virtual Smart Card 0"), desc("Identiv uTrust 3700 F CL Reader 0"),
           desc("Windows Hello for Business 1"), desc("OMNIKEY CardMan 5x21 0")]
put("skipreader", "defaults", b"Microsoft Virtual Smart Card .*\nWindows Hello for Business .*\0" + b"".join(readers))
put("skipreader", "one", b"Identiv .*\0" + b"".join(readers))
put("skipreader", "unicode", "(?i)ОМНИ.*|\\p{Lu}+ \\d\n.*Virtual.*\0".encode() + desc("ОМНИ ридер") + readers[0])
put("skipreader", "bad-pattern", b"([a-z\n(?<x>a)\\k<y>\0" + readers[1])
put("skipreader", "backtrack", b"(a+)+$\n(?:x*)*y\0" + b"a" * 18 + b"!" + b" " * 45 + b"x" * 20)
put("skipreader", "clear", b"\nMicrosoft.*\n\n\0" + b"".join(readers))
put("skipreader", "utf8-invalid", b"\xff\xfe.*\0" + b"\xc3\x28" * 32)
# A Latin-1 reader name (a Windows legacy code page), and a pattern that
# hits the match limit on a name of forty a's and a "!".
put("skipreader", "latin1", "Lecteur à puce \\d\n.*\0".encode() + b"Lecteur \xe0 puce 0".ljust(64, b" ") + readers[1])
put("skipreader", "match-limit", b"(a|aa)+\n(\\w+\\s?)*\0" + desc("a" * 40 + "!") + desc("Identiv uTrust 3700 F CL Reader 0 Identiv!"))

# ---- traceread ----
REC = [
    '{"ts":"2026-11-27T20:55:16.478080Z","pid":8122,"tid":8122,"seq":1,"fn":"C_Initialize","args":{"pInitArgs":{"flags":["CKF_OS_LOCKING_OK"],"CreateMutex":null,"DestroyMutex":null,"LockMutex":null,"UnlockMutex":null,"pReserved":null}},"rv":"CKR_OK","us":905}',
    '{"ts":"2026-11-27T20:55:16.478100Z","pid":8122,"tid":8122,"seq":2,"fn":"C_GetSlotList","args":{"tokenPresent":false,"pSlotList":{"cap":2}},"out":{"pulCount":2,"pSlotList":[2054663427,1]},"rv":"CKR_OK","us":0}',
    '{"ts":"2026-11-27T20:55:16.478200Z","pid":8122,"tid":8123,"seq":3,"fn":"C_Login","args":{"hSession":1,"userType":"CKU_USER","pPin":"<redacted 6 bytes>"},"rv":"CKR_PIN_INCORRECT","us":12}',
    '{"ts":"2026-11-27T20:55:16.478300Z","pid":8122,"tid":8123,"seq":4,"fn":"C_CreateObject","args":{"hSession":1,"pTemplate":[{"type":"CKA_CLASS","value":"CKO_SECRET_KEY"},{"type":"CKA_VALUE","value":"<redacted 16 bytes>"},{"type":"0x80000001","value":{"len":4}}]},"out":{"phObject":2},"rv":"CKR_OK","us":33,"notes":["readers: slot 3 \\"x\\" hidden","\\u00e9\\ud83d\\ude00"]}',
    '{"ts":"2026-11-27T20:55:16.478400Z","pid":8122,"tid":8122,"seq":5,"fn":"C_Sign","args":{"hSession":1,"pData":{"len":32,"hex":"5a5a"},"pSignature":{"cap":128}},"rv":null,"crash":"SIGSEGV"}',
]
text = "\n".join(REC) + "\n"
put("traceread", "records.jsonl", text)
put("traceread", "records.jsonl.gz", gzip.compress(text.encode()))
put("traceread", "cut-last.jsonl", text + REC[1][:57])
put("traceread", "nul-padding.jsonl", text.encode() + b"\0" * 300 + REC[2].encode() + b"\n" + b"\0" * 64)
put("traceread", "damaged.jsonl", REC[0] + "\n{\"ts\":\n" + REC[1][:40] + "\0\0" + REC[1][40:] + "\nnot json\n[1,2]\n" + REC[2] + "\n")
put("traceread", "deep.json", "[" * 200 + "]" * 200 + "\n")
put("traceread", "numbers.jsonl", '{"ts":"x","pid":-0,"tid":1e999,"seq":18446744073709551616,"fn":"C_X","rv":"","us":-1.5e-3}\n')
put("traceread", "binary", bytes(range(256)))
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")[:40]
    put("traceread", "real-" + os.path.basename(path), b"\n".join(lines) + b"\n")
