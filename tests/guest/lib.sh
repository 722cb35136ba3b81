# shellcheck shell=bash
# tests/guest/lib.sh — helpers shared by run.sh and run-qemu.sh: case-table parsing,
# placeholder expansion, output checks and TAP reporting. Sourced, not executed.

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=cases.sh
. "$GUEST_DIR/cases.sh"

# Set by the runners just before starting the VMM (nanoseconds), for guest_ms.
GUEST_T0=
guest_passed=0
guest_failed=0
guest_skipped=0
guest_n=0

# Subshells and forks are slow where these scripts run (~40 ms a fork on the paravirtual
# host, more in the nested TCG guest): parsing the table with $(...) per field cost 10-30 s.
# The *_to helpers below set a variable instead.

# guest_trim_to VAR STRING: STRING without leading and trailing blanks, into VAR.
guest_trim_to() {
	local s=$2
	s=${s#"${s%%[![:space:]]*}"}
	s=${s%"${s##*[![:space:]]}"}
	printf -v "$1" '%s' "$s"
}

guest_trim() {
	local t
	guest_trim_to t "$1"
	printf '%s' "$t"
}

# guest_setup: make the work directory and the random initrd (8 KiB) with its checksum.
guest_setup() {
	GUEST_WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-guest.XXXXXX")
	trap 'rm -rf "$GUEST_WORK"' EXIT
	GUEST_INITRD=$GUEST_WORK/initrd.bin
	head -c 8192 /dev/urandom >"$GUEST_INITRD"
	GUEST_INITRD_SIZE=$(wc -c <"$GUEST_INITRD")
	GUEST_INITRD_SUM=$(cksum <"$GUEST_INITRD" | cut -d' ' -f1)
}

# guest_new_disk: a fresh 8 MiB raw image filled with 0xee; its path in GUEST_DISK.
guest_new_disk() {
	GUEST_DISK_N=$((${GUEST_DISK_N:-0} + 1))
	GUEST_DISK=$GUEST_WORK/disk$GUEST_DISK_N.img
	head -c $((8 << 20)) /dev/zero | tr '\0' '\356' >"$GUEST_DISK"
}

# guest_expand_to VAR STRING: STRING with the @...@ placeholders substituted, into VAR
# (@DISK@: a fresh image per case).
guest_expand_to() {
	local s=$2 now
	if [[ $s == *@DISK@* ]]; then
		guest_new_disk
		s=${s//@DISK@/$GUEST_DISK}
	fi
	s=${s//@INITRD@/$GUEST_INITRD}
	s=${s//@INITRD_SIZE@/$GUEST_INITRD_SIZE}
	s=${s//@INITRD_SUM@/$GUEST_INITRD_SUM}
	if [[ $s == *@EPOCH* ]]; then
		printf -v now '%(%s)T' -1
		s=${s//@EPOCH_WRONG@/$((now - 3600))}
		s=${s//@EPOCH@/$now}
	fi
	printf -v "$1" '%s' "$s"
}

guest_expand() {
	local t
	guest_expand_to t "$1"
	printf '%s' "$t"
}

# guest_want NAME [NAME-REGEX]: whether to run case NAME: it matches the regex (empty: every
# case) and is not in GUEST_DONE, a blank-separated list of cases whose results the caller
# already has (the nested run's resume after an L1 hang, docs/testing-nested.md): those are
# neither run nor reported. Every case of run.sh and its sourced files asks this first.
guest_want() {
	[ -n "${2:-}" ] && ! [[ $1 =~ $2 ]] && return 1
	[[ " ${GUEST_DONE:-} " != *" $1 "* ]]
}

# guest_each_case FUNC [NAME-REGEX]: call FUNC for every case (fields in C_* variables).
guest_each_case() {
	local fn=$1 filter=${2:-} line f
	local -a fields
	while IFS= read -r line; do
		guest_trim_to line "$line"
		[ -z "$line" ] && continue
		case $line in \#*) continue ;; esac
		IFS='|' read -r -a fields <<<"$line"
		for f in 0 1 2 3 4 5 6 7; do
			guest_trim_to "fields[f]" "${fields[f]:-}"
		done
		C_NAME=${fields[0]}
		# shellcheck disable=SC2034 # used by the runners
		C_PAYLOAD=${fields[1]}
		C_ARGS=${fields[2]}
		eval "C_STATUS=${fields[3]}"
		C_REGEX=${fields[4]}
		C_STDIN=${fields[5]}
		# shellcheck disable=SC2034 # used by the runners
		C_QEMU=${fields[6]}
		# shellcheck disable=SC2034
		C_KVMM=${fields[7]}
		guest_want "$C_NAME" "$filter" || continue
		# GUEST_SKIP: a regex of case names an environment cannot run (reported as skips).
		if [ -n "${GUEST_SKIP:-}" ] && [[ $C_NAME =~ $GUEST_SKIP ]]; then
			guest_skip "$C_NAME" "GUEST_SKIP: ${GUEST_SKIP_WHY:-not run here}"
			continue
		fi
		"$fn"
	done <<<"$GUEST_CASES"
}

# guest_args_to_array: eval the expanded C_ARGS into the array C_ARGV.
# shellcheck disable=SC2034 # used by the runners
C_ARGV=()
guest_args_to_array() {
	local a
	guest_expand_to a "$C_ARGS"
	eval "C_ARGV=($a)"
}

# guest_check_output FILE: every ;;-separated regex in C_REGEX must match a line of FILE.
# Prints the first missing regex.
guest_check_output() {
	local file=$1 rest=$C_REGEX re
	while [ -n "$rest" ]; do
		re=${rest%%;;*}
		if [ "$re" = "$rest" ]; then rest=; else rest=${rest#*;;}; fi
		[ -z "$re" ] && continue
		if ! tr -d '\r' <"$file" | grep -Eq -- "$re"; then
			printf '%s' "$re"
			return 1
		fi
	done
	return 0
}

# guest_run_reboots N OUT ERR CMD...: run the VMM in the background until its serial output
# (OUT) shows N boots of the payload ("payload NAME: booted via"), then stop it with SIGTERM.
# Returns 0 if the N boots were seen within the timeout, 1 otherwise.
guest_run_reboots() {
	local want=$1 out=$2 err=$3 pid seen=0
	shift 3
	"$@" </dev/null >"$out" 2>"$err" &
	pid=$!
	for _ in $(seq $((${GUEST_REBOOT_WAIT:-20} * 10))); do
		seen=$(tr -d '\r' <"$out" | grep -c '^payload [a-z_0-9]*: booted via')
		[ "$seen" -ge "$want" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	[ "$seen" -ge "$want" ]
}

guest_feed_stdin() {
	if [ "$C_STDIN" = "-" ] || [ -z "$C_STDIN" ]; then
		cat /dev/null
	else
		printf '%b' "$C_STDIN"
		# GUEST_STDIN_HOLD=SECONDS keeps stdin open after the bytes (for a VMM that stops
		# reading at EOF); by default stdin closes right after them.
		sleep "${GUEST_STDIN_HOLD:-0}"
	fi
}

# guest_ms_to VAR: milliseconds since GUEST_T0 (nanoseconds, set by the runner just before
# starting the VMM), into VAR; bash's EPOCHREALTIME, no fork.
guest_ms_to() {
	local now=${EPOCHREALTIME/[.,]/}000
	printf -v "$1" '%d' $(((now - ${GUEST_T0:-$now}) / 1000000))
}

guest_ms() {
	local ms
	guest_ms_to ms
	echo "$ms"
}

guest_ok() {
	guest_n=$((guest_n + 1))
	guest_passed=$((guest_passed + 1))
	local ms
	guest_ms_to ms
	echo "ok $guest_n - $1 # $ms ms${2:+, $2}"
}

guest_not_ok() {
	guest_n=$((guest_n + 1))
	guest_failed=$((guest_failed + 1))
	local ms
	guest_ms_to ms
	echo "not ok $guest_n - $1 # $2 ($ms ms)"
	if [ -n "${3:-}" ] && [ -f "$3" ]; then
		tr -d '\r' <"$3" | tail -n "${GUEST_LOG_LINES:-25}" | sed 's/^/#   /'
	fi
}

guest_skip() {
	guest_n=$((guest_n + 1))
	guest_skipped=$((guest_skipped + 1))
	echo "ok $guest_n - $1 # SKIP $2"
}

# guest_finish: the summary line and exit status (0 all passed, 1 any failure).
guest_finish() {
	echo "1..$guest_n"
	echo "$guest_passed passed, $guest_failed failed, $guest_skipped skipped"
	[ "$guest_failed" -eq 0 ]
}
