#!/bin/sh
# Calls that never return (a reader or a middleware dialog waiting): the
# backend is tests/integration/hangmod (crashmod built to block for ever in
# C_Sign and C_Login), the client p11call, killed with SIGKILL.
# - FILE.inflight names the call after the kill: `trace diagnose` gives the
#   hung-call finding naming C_Sign, its slot and how long it had been in
#   the backend; `summary` and `show` list it;
# - [trace] SlowCall = 1s: a live trace gets a note record while C_Login is
#   still in the backend (polled; the delay is printed, not asserted);
# - a client that forbids threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS) gets
#   no watchdog, so no note; the call is still named in FILE.inflight.
. "$top_srcdir/tests/integration/lib.sh"
need python3
: "${P11SHIM_TOOL:?run through make check}"
HANGMOD=$top_builddir/tests/integration/.libs/hangmod.so
export P11SHIM_CONF="$WORK/p11shim.conf"
# hangmod looks at no PIN; p11call sends this one to C_Login.
export P11CALL_PIN=13572468
CLIENT_PID=

kill_client() {
	if [ -n "$CLIENT_PID" ]; then
		kill -KILL "$CLIENT_PID" 2>/dev/null || true
		wait "$CLIENT_PID" 2>/dev/null || true
	fi
	CLIENT_PID=
}
trap 'kill_client; cleanup' EXIT

# start_client ARGS...: p11call through the shim in the background.
start_client() {
	"$P11CALL" "$SHIM_MODULE" "$@" >"$WORK/client.out" 2>&1 &
	CLIENT_PID=$!
}

# poll_for WHAT CMD...: runs CMD every 0.1 s until it succeeds, at most 30 s.
poll_for() {
	what=$1
	shift
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 300 ] || { cat "$WORK/client.out"; fail "no $what after 30 s"; }
		sleep 0.1
	done
}
inflight_names() { "$P11SHIM_TOOL" trace summary --json "$1" | grep -q "\"fn\":\"$2\""; }
# hung_detail TRACE: the hung-call finding's detail ("Still in the backend: ..."); diagnose must exit 1.
hung_detail() {
	rc=0
	"$P11SHIM_TOOL" trace diagnose --json "$1" >"$WORK/hd.json" || rc=$?
	[ $rc = 1 ] || fail "diagnose exits $rc on a hung call"
	python3 -c 'import json,sys; print([f["detail"] for f in json.load(open(sys.argv[1]))["findings"] if f["id"] == "hung-call"][0])' "$WORK/hd.json"
}

# ---- C_Sign hangs; the client is killed ----
T="$WORK/sign.jsonl"
shim_conf "$P11SHIM_CONF" "$HANGMOD" "$T"
start_client init , open 1 , sign 7
poll_for "C_Sign in flight" inflight_names "$T" C_Sign
[ -s "$T.inflight" ] || fail "no $T.inflight beside the trace"
# Long enough for the watchdog (SlowCall's default, 10 s: a look every second) to stamp it.
sleep 2.5
kill_client
"$P11SHIM_TOOL" trace diagnose --json "$T" >"$WORK/d.json" && fail "diagnose exits 0 on a hung call"
"$P11SHIM_TOOL" trace diagnose "$T" >"$WORK/d.txt" || true
python3 - "$WORK/d.json" <<'PY' || { cat "$WORK/d.txt"; fail "diagnose does not name the hung C_Sign"; }
import json, sys
d = json.load(open(sys.argv[1]))
f = [f for f in d["findings"] if f["id"] == "hung-call"]
assert f, d["findings"]
f = f[0]
assert f["severity"] == "error", f
assert f["failed"] == [{"fn": "C_Sign", "rv": "no return", "count": 1}], f["failed"]
assert "C_Sign (slot 1, session 1)" in f["detail"], f["detail"]
assert "the process is gone" in f["detail"], f["detail"]
# The guide's advice: a dialog, the virtual readers, the PIN-encryption certificate.
fixes = {(x["section"], x["key"]) for x in f["fix"]}
assert ("readers", "SkipReader") in fixes and ("PIN Encryption", "File") in fixes, fixes
assert any("dialog" in x["value"] for x in f["fix"]), f["fix"]
assert "C_SignInit" in f["evidence"]["before"][-1]["call"], f["evidence"]
PY
detail=$(hung_detail "$T")
printf '%s\n' "$detail" | grep -q "^Still in the backend: C_Sign (slot 1, session 1), pid [0-9]* tid [0-9]* seq 4, in the backend since [0-9T:.-]*Z: [0-9.]*s when its watchdog last saw it; the process is gone" ||
	{ echo "$detail"; fail "the diagnosis does not say how long"; }
grep -q "^    Still in the backend: C_Sign (slot 1, session 1)" "$WORK/d.txt" || { cat "$WORK/d.txt"; fail "the text diagnosis"; }
"$P11SHIM_TOOL" trace summary "$T" >"$WORK/s.txt"
grep -q "^in flight  1 call still in the backend at the end of the trace:" "$WORK/s.txt" || { cat "$WORK/s.txt"; fail "summary"; }
grep -q "^  C_Sign (session 1), pid" "$WORK/s.txt" || { cat "$WORK/s.txt"; fail "summary does not name C_Sign"; }
"$P11SHIM_TOOL" trace show "$T" >"$WORK/show.txt"
grep -q "^  C_Sign (slot 1, session 1), pid" "$WORK/show.txt" || { cat "$WORK/show.txt"; fail "show does not list C_Sign"; }
held=$(printf '%s\n' "$detail" | sed -n 's/.*Z: \([0-9.]*\)s when.*/\1/p')
echo "# C_Sign held for ${held}s when its watchdog last saw it (killed about 2.5 s after it was seen in flight)"
ok "kill -9 during a hung C_Sign: diagnose names C_Sign, slot 1, how long; summary and show list it"

# ---- SlowCall = 1s: a note while C_Login is still in the backend ----
T="$WORK/login.jsonl"
shim_conf "$P11SHIM_CONF" "$HANGMOD" "$T" "SlowCall = 1s"
start_client init , open 1 , login user
poll_for "C_Login in flight" inflight_names "$T" C_Login
poll_for "SlowCall note" grep -q '"fn":"C_Login".*"rv":null,"pending_us":' "$T"
python3 - "$T" <<'PY' || fail "the SlowCall note"
import datetime, json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().strip("\0\n").split("\n") if l.strip("\0")]
note = [r for r in recs if r.get("pending_us") is not None]
assert len(note) == 1, note
n = note[0]
assert n["fn"] == "C_Login" and n["rv"] is None and n["args"] == {"hSession": 1}, n
assert n["pending_us"] >= 1000000, n
assert "C_Login has been in the backend for" in n["notes"][0] and "SlowCall = 1s" in n["notes"][0], n
login = [r for r in recs if r["fn"] == "C_Login" and r.get("pending_us") is None]
assert login == [], login   # no record of its own: it has not returned
ts = lambda r: datetime.datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
before = [r for r in recs if r["fn"] == "C_OpenSession"][0]
print("# the note came %.2f s after the C_OpenSession before C_Login (SlowCall = 1s)" %
      (ts(n) - ts(before)).total_seconds())
PY
"$P11SHIM_TOOL" trace show "$T" | grep -q "C_Login(hSession=1) = still in the backend after 1\.[0-9] s" ||
	fail "show does not render the note"
kill_client
hung_detail "$T" | grep -q "^Still in the backend: C_Login (slot 1, session 1)" || fail "diagnose: C_Login"
# The trace without FILE.inflight (copied alone): the note still names the call.
cp "$T" "$WORK/alone.jsonl"
hung_detail "$WORK/alone.jsonl" | grep -q "^Still in the backend: C_Login (slot 1, session 1), .* at its SlowCall note" ||
	fail "diagnose from the note alone"
ok "SlowCall = 1s: a live note record while C_Login hangs; diagnose with and without FILE.inflight"

# ---- a client that forbids threads: no watchdog, the table still names the call ----
T="$WORK/nothreads.jsonl"
shim_conf "$P11SHIM_CONF" "$HANGMOD" "$T" "SlowCall = 1s"
start_client init-nothreads , open 1 , login user
poll_for "C_Login in flight" inflight_names "$T" C_Login
sleep 2.5
grep -q '"pending_us"' "$T" && fail "a note was written without a watchdog thread"
dead=$CLIENT_PID
kill_client
hung_detail "$T" | grep -q "^Still in the backend: C_Login (slot 1, session 1), .*: ? how long is not known (no watchdog: .*a client that forbids threads); the process is gone" ||
	fail "diagnose without a watchdog"
ok "CKF_LIBRARY_CANT_CREATE_OS_THREADS: no watchdog, no note; FILE.inflight still names C_Login"

# Its records before the hang were still staged in FILE.tail when it was
# killed (no watchdog to flush them, a buffer far from full): `trace show`
# reads them from there, and the next process to trace to the file writes
# them into it, whole, before its own.
grep -q '"fn":"C_OpenSession"' "$T" && fail "C_OpenSession already in the file: this case needs it staged"
"$P11SHIM_TOOL" trace show "$T" | grep -q 'C_OpenSession(slotID=1' ||
	fail "show does not read the killed client's staged records"
"$P11CALL" "$SHIM_MODULE" init , fin >"$WORK/next.out" 2>&1 || { cat "$WORK/next.out"; fail "the next client"; }
python3 - "$T" "$dead" <<'PY' || fail "the killed client's records, written by the next process"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]).read().split("\n") if l.strip("\0")]
fns = [r["fn"] for r in recs]
dead = [r["fn"] for r in recs if r["pid"] == int(sys.argv[2])]
assert "C_OpenSession" in dead and dead[0] == "C_Initialize", dead
assert fns.index("C_OpenSession") < len(fns) - 2 and fns[-2:] == ["C_Initialize", "C_Finalize"], fns
PY
ok "kill -9 with records staged: show reads them from FILE.tail; the next process writes them to the file"

# ---- the trace kept from one C_Initialize to the next ----
# Its watchdog and table go on serving after C_Finalize + C_Initialize...
T="$WORK/again.jsonl"
shim_conf "$P11SHIM_CONF" "$HANGMOD" "$T" "SlowCall = 1s"
start_client init , fin , init , open 1 , login user
poll_for "C_Login in flight" inflight_names "$T" C_Login
poll_for "SlowCall note after a second C_Initialize" grep -q '"fn":"C_Login".*"rv":null,"pending_us":' "$T"
kill_client
ok "the trace kept across C_Finalize + C_Initialize: its watchdog notes a hang, its table names it"
# ... but not for a C_Initialize that forbids threads: the watchdog is let go.
T="$WORK/again-nothreads.jsonl"
shim_conf "$P11SHIM_CONF" "$HANGMOD" "$T" "SlowCall = 1s"
start_client init , fin , init-nothreads , open 1 , login user
poll_for "C_Login in flight" inflight_names "$T" C_Login
sleep 2.5
grep -q '"pending_us"' "$T" && fail "a watchdog kept from before wrote a note for a client that forbids threads"
kill_client
ok "a second C_Initialize that forbids threads: the watchdog kept from the first is stopped"

# ---- calls that return leave nothing in flight ----
T="$WORK/clean.jsonl"
shim_conf "$P11SHIM_CONF" "$HANGMOD" "$T"
out=$(p11call_shim init , open 1 , close , fin)
expect "$out" "close: CKR_OK"
"$P11SHIM_TOOL" trace summary --json "$T" | grep -q '"in_flight":\[\]' || fail "a call left in flight"
ok "calls that return leave nothing in flight"

