# shellcheck shell=bash
# tests/guest/qmp.sh — the QMP control socket against a real VM, sourced by run.sh (so it runs
# under `make check-guest` and inside nested KVM with `make check-nested CASES=qmp`). The client
# is `kvmm ctl` (busybox in the nested initramfs has no socat). Three cases:
#   qmp               kvmm run --qmp with the powerbtn payload and a disk: every query against
#                     the real VM (vcpu0's thread id, the disk), stop (the guest's tick lines
#                     stop), cont (they resume), a malformed message and an unknown command on a
#                     live VM, then system_powerdown: POWERDOWN, the guest takes the SCI and
#                     powers off through PM1a_CNT, SHUTDOWN (guest-shutdown), kvmm exits 0
#   qmp-reset-restart system_reset with --on-reboot restart: RESET (host-qmp-system-reset), the
#                     guest boots again on a new VM with the same socket; quit: SHUTDOWN
#                     (host-qmp-quit), exit 0
#   qmp-reset-exit    system_reset with --on-reboot exit: SHUTDOWN (host-qmp-system-reset), exit 0
# Needs from run.sh/lib.sh: KVMM, PAYLOAD_DIR, TIMEOUT, GUEST_WORK, guest_ok/not_ok/new_disk.

# qmp_wait_for FILE REGEX SECONDS: until a line of FILE matches.
qmp_wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		tr -d '\r' 2>/dev/null <"$1" | grep -Eq -- "$2" && return 0
		sleep 0.1
	done
	return 1
}

# qmp_start NAME ARGS...: kvmm run in the background; sets QMP_PID, QMP_SOCK, QMP_OUT.
qmp_start() {
	local name=$1
	shift
	QMP_SOCK=$GUEST_WORK/$name.sock
	QMP_OUT=$GUEST_WORK/$name.out
	GUEST_T0=$(date +%s%N)
	timeout -k 5 "$TIMEOUT" "$KVMM" run --kernel "$PAYLOAD_DIR/powerbtn.elf" \
		--qmp "unix:$QMP_SOCK,server" --serial stdio --debug-exit "$@" \
		</dev/null >"$QMP_OUT" 2>"$GUEST_WORK/$name.err" &
	QMP_PID=$!
}

# qmp_fail NAME MESSAGE: report, stop kvmm.
qmp_fail() {
	guest_not_ok "$1" "$2" "$QMP_OUT"
	sed 's/^/#   stderr: /' "$GUEST_WORK/$1.err" | tail -n 5
	kill "$QMP_PID" 2>/dev/null
	wait "$QMP_PID" 2>/dev/null
}

# qmp_ctl ARGS...: kvmm ctl --json on the case's socket; output in QMP_R. Each call's time is
# added to QMP_STEPS (printed as a "# qmp steps:" line after the case's result).
qmp_ctl() {
	local t0=${EPOCHREALTIME/[.,]/} st
	QMP_R=$("$KVMM" ctl --json --timeout 60 "$QMP_SOCK" "$@" 2>&1)
	st=$?
	QMP_MARK=${EPOCHREALTIME/[.,]/}
	QMP_STEPS+=" $1 $(((QMP_MARK - t0) / 1000))"
	return $st
}

# qmp_step LABEL: the time since the previous mark into QMP_STEPS.
qmp_step() {
	local now=${EPOCHREALTIME/[.,]/}
	QMP_STEPS+=" $1 $(((now - ${QMP_MARK:-$now}) / 1000))"
	QMP_MARK=$now
}

qmp_lines() {
	tr -d '\r' <"$QMP_OUT" | grep -c '^powerbtn: tick'
}

case_qmp_main() {
	local name=qmp tid comm n0 n1 st
	QMP_STEPS=
	guest_new_disk
	qmp_start $name --name qmp-test --disk "path=$GUEST_DISK,readonly=on" --cmdline "tick_ms=200"
	QMP_MARK=${EPOCHREALTIME/[.,]/}
	if ! qmp_wait_for "$QMP_OUT" '^powerbtn: waiting for the power button' 60; then
		qmp_fail $name "the payload never waited for the button"
		return
	fi
	qmp_step boot
	qmp_ctl query-status
	[[ $QMP_R == '{"return": {"running": true, "singlestep": false, "status": "running"}}' ]] ||
		{ qmp_fail $name "query-status: $QMP_R"; return; }
	qmp_ctl query-name
	[[ $QMP_R == '{"return": {"name": "qmp-test"}}' ]] || { qmp_fail $name "query-name: $QMP_R"; return; }
	qmp_ctl query-kvm
	[[ $QMP_R == '{"return": {"enabled": true, "present": true}}' ]] ||
		{ qmp_fail $name "query-kvm: $QMP_R"; return; }
	qmp_ctl query-version
	[[ $QMP_R =~ \"package\":\ \"kvmm ]] || { qmp_fail $name "query-version: $QMP_R"; return; }
	qmp_ctl query-commands
	[[ $QMP_R =~ \"system_powerdown\" ]] || { qmp_fail $name "query-commands: $QMP_R"; return; }
	qmp_ctl query-block
	[[ $QMP_R =~ \"file\":\ \"$GUEST_DISK\",\ \"ro\":\ true,\ \"drv\":\ \"raw\" ]] ||
		{ qmp_fail $name "query-block: $QMP_R"; return; }
	# query-cpus-fast: thread-id is the host thread named vcpu0 of this kvmm.
	qmp_ctl query-cpus-fast
	tid=$(sed -nE 's/.*"thread-id": ([0-9]+), "props".*/\1/p' <<<"$QMP_R")
	comm=
	[ -n "$tid" ] && read -r comm 2>/dev/null <"/proc/$tid/comm"
	[ "$comm" = vcpu0 ] || { qmp_fail $name "query-cpus-fast thread-id '$tid' is '$comm', not vcpu0: $QMP_R"; return; }
	# stop: the STOP event, status paused, and the guest really stops printing. (--wait-event,
	# not --events --timeout 1: that always waited out its timeout, which was 60 s while kvmm
	# ctl ignored a --timeout after the command.)
	qmp_ctl stop --wait-event STOP
	[[ $QMP_R =~ \"event\":\ \"STOP\" ]] || { qmp_fail $name "stop: $QMP_R"; return; }
	qmp_ctl query-status
	[[ $QMP_R =~ \"status\":\ \"paused\" ]] || { qmp_fail $name "after stop: $QMP_R"; return; }
	qmp_step -
	n0=$(qmp_lines)
	sleep 2
	n1=$(qmp_lines)
	qmp_step stopped-2s
	[ "$n0" = "$n1" ] || { qmp_fail $name "the guest kept running while stopped ($n0 -> $n1 ticks)"; return; }
	# Garbage and mistakes on the live VM: errors, VM unaffected.
	QMP_R=$(printf '{"execute": }\n{"execute": "nope"}\n{"execute": "stop", "arguments": {"x": 1}}\n' |
		"$KVMM" ctl --json "$QMP_SOCK" --shell 2>&1)
	qmp_step shell
	[[ $QMP_R =~ JSON\ parse\ error && $QMP_R =~ CommandNotFound && $QMP_R =~ "Parameter 'x' is unexpected" ]] ||
		{ qmp_fail $name "errors: $QMP_R"; return; }
	qmp_ctl cont --wait-event RESUME
	[[ $QMP_R =~ \"event\":\ \"RESUME\" ]] || { qmp_fail $name "cont: $QMP_R"; return; }
	qmp_step -
	if ! qmp_wait_for "$QMP_OUT" "^powerbtn: tick $((n1 + 1))\$" 60; then
		qmp_fail $name "the guest did not run again after cont"
		return
	fi
	qmp_step tick
	# The power button: POWERDOWN, the guest powers off, SHUTDOWN, status 0.
	qmp_ctl system_powerdown --wait-event SHUTDOWN
	st=$?
	qmp_step -
	wait "$QMP_PID"
	local kst=$?
	qmp_step exit
	if [ $st -ne 0 ] || ! [[ $QMP_R =~ \"event\":\ \"POWERDOWN\" ]] ||
		! [[ $QMP_R =~ \"event\":\ \"SHUTDOWN\",\ \"data\":\ \{\"guest\":\ true,\ \"reason\":\ \"guest-shutdown\"\} ]]; then
		guest_not_ok $name "system_powerdown: ctl status $st: $QMP_R" "$QMP_OUT"
	elif ! qmp_wait_for "$QMP_OUT" '^ok - SCI with PWRBTN_STS' 1 ||
		! qmp_wait_for "$QMP_OUT" '^powerbtn: power button pressed, powering off' 1; then
		guest_not_ok $name "the guest did not see the button" "$QMP_OUT"
	elif [ $kst -ne 0 ]; then
		guest_not_ok $name "kvmm exit status $kst, expected 0" "$QMP_OUT"
	elif [ -e "$QMP_SOCK" ]; then
		guest_not_ok $name "the socket file was not removed" "$QMP_OUT"
	else
		guest_ok $name "queries, stop/cont, errors, power button -> S5, status 0"
	fi
	echo "# qmp steps (ms):$QMP_STEPS"
}

case_qmp_reset() {
	local name=$1 mode=$2 st kst boots
	qmp_start "$name" --on-reboot "$mode"
	if ! qmp_wait_for "$QMP_OUT" '^powerbtn: waiting for the power button' 60; then
		qmp_fail "$name" "the payload never started"
		return
	fi
	if [ "$mode" = restart ]; then
		qmp_ctl system_reset --wait-event RESET
		[[ $QMP_R =~ \"event\":\ \"RESET\",\ \"data\":\ \{\"guest\":\ false,\ \"reason\":\ \"host-qmp-system-reset\"\} ]] ||
			{ qmp_fail "$name" "system_reset: $QMP_R"; return; }
		for _ in $(seq 600); do
			boots=$(tr -d '\r' <"$QMP_OUT" | grep -c '^payload powerbtn: booted via')
			[ "$boots" -ge 2 ] && break
			sleep 0.1
		done
		[ "$boots" -ge 2 ] || { qmp_fail "$name" "no second boot after system_reset"; return; }
		qmp_ctl quit --wait-event SHUTDOWN
		st=$?
		wait "$QMP_PID"
		kst=$?
		if [ $st -ne 0 ] || ! [[ $QMP_R =~ \"reason\":\ \"host-qmp-quit\" ]]; then
			guest_not_ok "$name" "quit: ctl status $st: $QMP_R" "$QMP_OUT"
		elif [ $kst -ne 0 ]; then
			guest_not_ok "$name" "kvmm exit status $kst, expected 0" "$QMP_OUT"
		else
			guest_ok "$name" "RESET, second boot on the same socket, quit -> SHUTDOWN, status 0"
		fi
		return
	fi
	qmp_ctl system_reset --wait-event SHUTDOWN
	st=$?
	wait "$QMP_PID"
	kst=$?
	if [ $st -ne 0 ] || ! [[ $QMP_R =~ \"event\":\ \"SHUTDOWN\",\ \"data\":\ \{\"guest\":\ false,\ \"reason\":\ \"host-qmp-system-reset\"\} ]]; then
		guest_not_ok "$name" "system_reset: ctl status $st: $QMP_R" "$QMP_OUT"
	elif [ $kst -ne 0 ]; then
		guest_not_ok "$name" "kvmm exit status $kst, expected 0" "$QMP_OUT"
	else
		guest_ok "$name" "SHUTDOWN host-qmp-system-reset, status 0"
	fi
}

# case_qmp [FILTER]
case_qmp() {
	local f=${1:-}
	if [ ! -f "$PAYLOAD_DIR/powerbtn.elf" ]; then
		guest_not_ok qmp "payload $PAYLOAD_DIR/powerbtn.elf is missing"
		return
	fi
	guest_want qmp "$f" && case_qmp_main
	guest_want qmp-reset-restart "$f" && case_qmp_reset qmp-reset-restart restart
	guest_want qmp-reset-exit "$f" && case_qmp_reset qmp-reset-exit exit
	return 0
}
