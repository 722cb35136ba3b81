#!/usr/bin/env bash
# tests/run/qmp.sh — kvmm's QMP server and `kvmm ctl` end to end through a real unix socket,
# without /dev/kvm: the server runs in front of a fake VM (build/tools/qmp-fake-vm, the same
# vmm/qmp_server.c and command table as `kvmm run --qmp`). Scripted raw sessions with socat
# (malformed JSON, wrong types, unknown commands, a 600 KB message, a client that leaves in the
# middle of a message), kvmm ctl in its three modes, and — when qemu-system-x86_64 is installed
# — the same requests sent to QEMU's own QMP server: error classes and messages must match, and
# kvmm ctl must work as a client of QEMU.
#
#   KVMM=build/kvmm QMP_FAKE_VM=build/tools/qmp-fake-vm tests/run/qmp.sh      (make check-qmp)
set -u
KVMM=${KVMM:-build/kvmm}
QMP_FAKE_VM=${QMP_FAKE_VM:-build/tools/qmp-fake-vm}
tmp=$(mktemp -d /tmp/kvmm-qmp-test.XXXXXX)
sock=$tmp/qmp.sock
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0

ok() {
	echo "ok - $1"
	pass=$((pass + 1))
}
not_ok() {
	echo "not ok - $1"
	fail=$((fail + 1))
}
# check NAME CONDITION-STATUS DETAIL
check() {
	if [ "$2" -eq 0 ]; then ok "$1"; else not_ok "$1: $3"; fi
}

if ! command -v socat >/dev/null; then
	echo "# socat missing (apt-get install socat): raw-protocol cases skipped"
fi

start_fake() {
	rm -f "$sock"
	"$QMP_FAKE_VM" "$sock" 2>"$tmp/fake.err" &
	pid=$!
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		sleep 0.05
	done
	return 1
}

# raw SOCKET FILE: send FILE's lines after the greeting and negotiation; print every reply
# line (the greeting and negotiation reply included). socat waits for replies up to 2 s.
raw() {
	{
		printf '{"execute": "qmp_capabilities"}\n'
		cat "$2"
	} | socat -t 2 - "UNIX-CONNECT:$1" | tr -d '\r'
}

start_fake || {
	not_ok "qmp-fake-vm did not create $sock"
	exit 1
}

# ---- socket mode ----
mode=$(stat -c %a "$sock")
check "socket mode 0600" "$([ "$mode" = 600 ] && echo 0 || echo 1)" "mode $mode"

# ---- kvmm ctl ----
out=$("$KVMM" ctl "$sock" query-status 2>&1)
check "ctl query-status (text)" "$(grep -qx 'status: running' <<<"$out"; echo $?)" "$out"
out=$("$KVMM" ctl --json "unix:$sock" query-kvm 2>&1)
check "ctl --json query-kvm" \
	"$([ "$out" = '{"return": {"enabled": true, "present": true}}' ]; echo $?)" "$out"
"$KVMM" ctl "$sock" frobnicate >"$tmp/o" 2>"$tmp/e"
st=$?
check "ctl unknown command: status 1 and the error" \
	"$([ $st -eq 1 ] && grep -q 'The command frobnicate has not been found (CommandNotFound)' "$tmp/e"; echo $?)" \
	"status $st: $(cat "$tmp/e")"
"$KVMM" ctl "$sock" stop bogus=1 >"$tmp/o" 2>"$tmp/e"
check "ctl argument checking" \
	"$(grep -q "Parameter 'bogus' is unexpected" "$tmp/e"; echo $?)" "$(cat "$tmp/e")"
t0=$(date +%s%N)
out=$("$KVMM" ctl "$sock" stop --events --timeout 1 2>&1)
ms=$((($(date +%s%N) - t0) / 1000000))
check "ctl stop prints STOP" "$(grep -qx 'event STOP' <<<"$out"; echo $?)" "$out"
# --timeout after the command counts (it was ignored: --events then waited the default 30 s).
check "ctl: --timeout 1 after the command ends --events within 5 s" \
	"$([ "$ms" -lt 5000 ]; echo $?)" "took $ms ms"
# --wait-event for an event that comes before the reply (STOP does): seen, status 0 at once.
"$KVMM" ctl "$sock" cont >/dev/null
t0=$(date +%s%N)
out=$("$KVMM" ctl --json "$sock" stop --wait-event STOP --timeout 10 2>&1)
st=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "ctl: --wait-event STOP sent before the reply counts (status 0, under 5 s)" \
	"$([ "$st" -eq 0 ] && [ "$ms" -lt 5000 ] && grep -q '"event": "STOP"' <<<"$out"; echo $?)" \
	"status $st after $ms ms: $out"
out=$("$KVMM" ctl "$sock" query-status 2>&1)
check "query-status after stop: paused" "$(grep -qx 'status: paused' <<<"$out"; echo $?)" "$out"
out=$(printf 'query-name\n{"execute": "cont", "id": 5}\nhelp\n' | "$KVMM" ctl --json "$sock" --shell 2>&1)
check "ctl --shell: words, raw JSON and events" \
	"$(grep -qx '{"return": {"name": "fake"}}' <<<"$out" &&
		grep -q '"event": "RESUME"' <<<"$out" &&
		grep -qx '{"return": {}, "id": 5}' <<<"$out" &&
		grep -q '"name": "query-cpus-fast"' <<<"$out"
	echo $?)" "$out"
# An idle shell prints events caused by another client as they arrive.
{
	sleep 1.5
	echo query-status
} | "$KVMM" ctl "$sock" --shell >"$tmp/shell.out" 2>&1 &
spid=$!
sleep 0.5
"$KVMM" ctl "$sock" stop >/dev/null
wait "$spid"
check "ctl --shell: an asynchronous STOP event, then the reply" \
	"$(grep -n . "$tmp/shell.out" | grep -q '^1:event STOP$' && grep -qx 'status: paused' "$tmp/shell.out"; echo $?)" \
	"$(cat "$tmp/shell.out")"
"$KVMM" ctl "$sock" cont >/dev/null
"$KVMM" ctl "$tmp/nonexistent.sock" query-status >/dev/null 2>"$tmp/e"
st=$?
check "ctl: no socket gives status 2 and one line" \
	"$([ $st -eq 2 ] && [ "$(wc -l <"$tmp/e")" -eq 1 ]; echo $?)" "status $st: $(cat "$tmp/e")"

# ---- raw sessions with socat ----
if command -v socat >/dev/null; then
	cat >"$tmp/in" <<'EOF'
{"execute": "query-status", "id": "a"}
{"execute": }
[1, 2]
{"execute": 1}
{"execute": "query-kvm", "arguments": []}
{"execute": "stop", "arguments": {"x": 1}}
{"exec": "stop"}
{"execute": "nope", "id": {"deep": [1]}}
{"execute": "qmp_capabilities"}
}
{"execute": "query-name"}
EOF
	raw "$sock" "$tmp/in" >"$tmp/out"
	n=0 bad=0
	for want in '^\{"QMP": \{"version": \{"qemu": \{"micro": [0-9]+, "minor": [0-9]+, "major": [0-9]+\}, "package": "kvmm [^"]*"\}, "capabilities": \[\]\}\}$' \
		'^\{"return": \{\}\}$' \
		'^\{"return": \{"running": true, "singlestep": false, "status": "running"\}, "id": "a"\}$' \
		'^\{"error": \{"class": "GenericError", "desc": "JSON parse error, ' \
		'"desc": "QMP input must be a JSON object"' \
		'"desc": "QMP input member .execute. must be a string"' \
		'"desc": "QMP input member .arguments. must be an object"' \
		"\"desc\": \"Parameter 'x' is unexpected\"" \
		"\"desc\": \"QMP input member 'exec' is unexpected\"" \
		'^\{"error": \{"class": "CommandNotFound", "desc": "The command nope has not been found"\}, "id": \{"deep": \[1\]\}\}$' \
		'"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"' \
		'^\{"error": \{"class": "GenericError", "desc": "JSON parse error, ' \
		'^\{"return": \{"name": "fake"\}\}$'; do
		n=$((n + 1))
		line=$(sed -n "${n}p" "$tmp/out")
		if ! [[ $line =~ $want ]]; then
			not_ok "raw session line $n: '$line' does not match /$want/"
			bad=1
		fi
	done
	[ $bad -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq "$n" ]
	check "raw session: greeting, replies and QEMU's error messages ($n lines)" $? \
		"$(wc -l <"$tmp/out") lines"

	# A 600 KB message, then a normal one on the same connection.
	{
		printf '{"execute": "query-kvm", "id": "'
		head -c 600000 /dev/zero | tr '\0' x
		printf '"}\n{"execute": "query-kvm", "id": 2}\n'
	} >"$tmp/big"
	raw "$sock" "$tmp/big" >"$tmp/out"
	check "oversized message: one GenericError, then the connection still works" \
		"$(sed -n 3p "$tmp/out" | grep -q 'JSON parse error, message exceeds the limit' &&
			sed -n 4p "$tmp/out" | grep -qx '{"return": {"enabled": true, "present": true}, "id": 2}'
		echo $?)" "$(head -c 300 "$tmp/out")"

	# Clients that leave in the middle of a message, and binary junk.
	printf '{"execute": "system_res' | socat -t 0.2 - "UNIX-CONNECT:$sock" >/dev/null
	head -c 5000 /dev/urandom | socat -t 0.2 - "UNIX-CONNECT:$sock" >/dev/null
	printf '{"execute": "qmp_capabilities"}{"execute": "sto' | socat -t 0.2 - "UNIX-CONNECT:$sock" >/dev/null
	out=$("$KVMM" ctl "$sock" query-status 2>&1)
	check "clients leaving mid-message change nothing" \
		"$(grep -qx 'status: running' <<<"$out" && kill -0 "$pid"; echo $?)" "$out"
fi

# ---- events, power-down and the end of the VM ----
out=$("$KVMM" ctl --json "$sock" system_powerdown --wait-event SHUTDOWN --timeout 10 2>&1)
st=$?
check "system_powerdown: POWERDOWN, then SHUTDOWN (guest-shutdown), ctl status 0" \
	"$([ $st -eq 0 ] && grep -q '"event": "POWERDOWN"' <<<"$out" &&
		grep -Eq '^\{"timestamp": \{"seconds": [0-9]+, "microseconds": [0-9]+\}, "event": "SHUTDOWN", "data": \{"guest": true, "reason": "guest-shutdown"\}\}$' <<<"$out"
	echo $?)" "status $st: $out"
wait "$pid"
st=$?
pid=
check "server exits 0 and removes its socket" "$([ $st -eq 0 ] && [ ! -e "$sock" ]; echo $?)" \
	"status $st"

start_fake
out=$("$KVMM" ctl --json "$sock" quit --wait-event SHUTDOWN 2>&1)
check "quit: reply, then SHUTDOWN host-qmp-quit" \
	"$(grep -q '"reason": "host-qmp-quit"' <<<"$out"; echo $?)" "$out"
wait "$pid"
pid=

# ---- the same requests to QEMU's QMP server (peer check) ----
QEMU=${QEMU:-qemu-system-x86_64}
if command -v "$QEMU" >/dev/null && command -v socat >/dev/null; then
	qsock=$tmp/qemu.sock
	"$QEMU" -M none -display none -S -nodefaults -qmp "unix:$qsock,server=on,wait=off" \
		2>"$tmp/qemu.err" &
	qpid=$!
	for _ in $(seq 100); do
		[ -S "$qsock" ] && break
		sleep 0.1
	done
	start_fake
	cat >"$tmp/in" <<'EOF'
{"execute": "nope"}
[1, 2]
{"execute": 1}
{"execute": "query-kvm", "arguments": []}
{"exec": "query-kvm"}
{}
{"execute": "query-kvm", "arguments": {"x": 1}}
{"execute": "qmp_capabilities"}
{"execute": "query-kvm", "id": {"a": [1, "b"]}}
EOF
	raw "$sock" "$tmp/in" | tail -n +3 | sed -E 's/"(enabled|present)": (true|false)/"\1": B/g' >"$tmp/kvmm.out"
	raw "$qsock" "$tmp/in" | tail -n +3 | sed -E 's/"(enabled|present)": (true|false)/"\1": B/g' >"$tmp/qemu.out"
	if [ -s "$tmp/qemu.out" ] && cmp -s "$tmp/kvmm.out" "$tmp/qemu.out"; then
		ok "same replies as QEMU $("$QEMU" --version | head -1 | awk '{print $4}') for $(wc -l <"$tmp/in") requests"
	else
		not_ok "replies differ from QEMU's: $(diff "$tmp/qemu.out" "$tmp/kvmm.out" | head -10)"
	fi
	out=$("$KVMM" ctl "$qsock" query-status 2>&1)
	check "kvmm ctl as a QEMU client: query-status" \
		"$(grep -qx 'status: prelaunch' <<<"$out"; echo $?)" "$out"
	out=$("$KVMM" ctl --json "$qsock" quit --wait-event SHUTDOWN 2>&1)
	check "kvmm ctl as a QEMU client: quit and SHUTDOWN" \
		"$(grep -q '"reason": "host-qmp-quit"' <<<"$out"; echo $?)" "$out"
	wait "$qpid"
	"$KVMM" ctl "$sock" quit >/dev/null
	wait "$pid"
	pid=

	# The powerbtn payload under QEMU -M pc, its button pressed with kvmm ctl: checks the
	# payload (used by the kvmm case in tests/guest/qmp.sh) against QEMU's PIIX4 PM device.
	PAYLOAD_DIR=${PAYLOAD_DIR:-}
	if [ -f "$PAYLOAD_DIR/powerbtn.mb.elf" ]; then
		psock=$tmp/pc.sock
		timeout 120 "$QEMU" -M pc -accel tcg -m 128 -display none -nodefaults \
			-serial "file:$tmp/pc.out" -device isa-debug-exit,iobase=0xf4,iosize=4 \
			-kernel "$PAYLOAD_DIR/powerbtn.mb.elf" -append "tick_ms=100" \
			-qmp "unix:$psock,server=on,wait=off" 2>"$tmp/pc.err" &
		qpid=$!
		for _ in $(seq 600); do
			grep -q '^powerbtn: waiting for the power button' "$tmp/pc.out" 2>/dev/null && break
			sleep 0.1
		done
		out=$("$KVMM" ctl --json "$psock" system_powerdown --wait-event SHUTDOWN --timeout 60 2>&1)
		wait "$qpid"
		st=$?
		check "powerbtn payload under QEMU pc: system_powerdown -> SCI -> S5 (status $st)" \
			"$([ $st -eq 0 ] && grep -q '^ok - SCI with PWRBTN_STS' "$tmp/pc.out" &&
				grep -q '"reason": "guest-shutdown"' <<<"$out"; echo $?)" \
			"$out; serial: $(tail -3 "$tmp/pc.out")"
	else
		echo "# PAYLOAD_DIR has no powerbtn.mb.elf: QEMU payload check skipped"
	fi
else
	echo "# qemu-system-x86_64 or socat missing: QEMU peer check skipped"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
