#!/usr/bin/env bash
# bench/net.sh — bench/net on a machine with /dev/kvm: the same payload
# (tests/guest/payload/netbench.c, a polling virtio-net driver whose hot loop runs in ring 3)
# sending and receiving 64-byte and 1500-byte frames over a tap in a network namespace, under
# kvmm (--net tap) and under QEMU microvm (-netdev tap + virtio-net-device: QEMU's userspace
# virtio-net, no vhost), side by side in one run: packets/s and Gbit/s each way and the
# kvmm/QEMU ratio (issue target: >= 1.5). Needs root, /dev/kvm, /dev/net/tun and iproute2.
# Where there is no /dev/kvm, bench/nested-net.sh runs this script inside a nested-KVM guest.
# docs/benchmarks.md ("Network").
#
#   bench/net.sh KVMM PAYLOAD_DIR NET_GEN     (NET_GEN: bench/net-gen.c compiled)
#   bench/net.sh --table LOG                  (the table from the RESULT lines of LOG)
#
# Per round, size and direction, kvmm then QEMU:
#   TX (guest -> host): the payload keeps its TX ring full for BENCH_SECS seconds; the tap's
#       rx_packets (frames the host got from the VMM) are read before and after.
#   RX (host -> guest): once the payload says "rx ready", NET_GEN writes frames to the guest's
#       MAC into the tap as fast as the tap takes them; the payload counts what it received
#       during BENCH_SECS seconds; the tap's tx_dropped tells what the VMM did not read in time.
# Output lines:
#   BENCH-INFO: ...   facts (the exact commands)
#   RESULT vmm=kvmm|qemu dir=tx|rx size=S round=R pps=P frames=F (tap=N | sent=G dropped=D)
#          notifies=K
#   BENCH-FAIL: WHAT  a VMM did not exit with the payload's PASS status (BENCH-LOG: its output)
# then the table. Environment: BENCH_SECS (default 3), BENCH_SIZES ("64,1500"), BENCH_ROUNDS
# (3), BENCH_VMMS ("kvmm,qemu"), BENCH_VMTIMEOUT (seconds per VM run, 240), QEMU.
# Exits 0 when every VM run passed, 1 otherwise, 77 when it cannot run here.
set -u

table() {
	awk '
function median(key, vmm,    m, i, j, t, a) {
	m = cnt[key, vmm]
	if (m == 0)
		return -1
	for (i = 1; i <= m; i++)
		a[i] = val[key, vmm, i]
	for (i = 2; i <= m; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function gbit(pps, size) {
	return pps < 0 ? "n/a" : sprintf("%.3f", pps * size * 8 / 1e9)
}
/^RESULT / {
	delete f
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	key = f["dir"] " " f["size"]
	if (!(key in seen)) { seen[key] = 1; order[++n] = key; sz[key] = f["size"] }
	val[key, f["vmm"], ++cnt[key, f["vmm"]]] = f["pps"]
	extra = f["dir"] == "tx" ? "tap=" f["tap"] : "sent=" f["sent"] ",dropped=" f["dropped"]
	all[key, f["vmm"]] = all[key, f["vmm"]] (all[key, f["vmm"]] == "" ? "" : " ") \
		f["pps"] "(" f["frames"] "," extra ",kicks=" f["notifies"] ")"
}
END {
	printf "medians over the rounds; tx = guest -> host, rx = host -> guest; bytes per frame ="
	printf " Ethernet header + payload, no FCS\n"
	printf "%-9s%12s%12s%10s%10s%11s\n", "dir size", "kvmm pps", "qemu pps", "kvmm Gb/s",
		"qemu Gb/s", "kvmm/qemu"
	for (i = 1; i <= n; i++) {
		k = order[i]; a = median(k, "kvmm"); q = median(k, "qemu")
		printf "%-9s%12s%12s%10s%10s%11s\n", k, a < 0 ? "n/a" : a, q < 0 ? "n/a" : q,
			gbit(a, sz[k]), gbit(q, sz[k]),
			(q > 0 && a >= 0 ? sprintf("%.2f", a / q) : "n/a")
	}
	printf "\nevery round: pps(frames counted by the guest, tap counters, notifies)\n"
	for (i = 1; i <= n; i++) {
		printf "%-9s kvmm %s\n", order[i], all[order[i], "kvmm"]
		printf "%-9s qemu %s\n", order[i], all[order[i], "qemu"]
	}
}' "$1"
}

if [ "${1:-}" = --table ]; then
	table "$2"
	exit 0
fi
if [ $# -ne 3 ]; then
	echo "usage: bench/net.sh KVMM PAYLOAD_DIR NET_GEN | --table LOG" >&2
	exit 2
fi
KVMM=$(readlink -f "$1")
PAYLOAD=$(readlink -f "$2")/netbench.elf
NETGEN=$(readlink -f "$3")
QEMU=${QEMU:-qemu-system-x86_64}
SECS=${BENCH_SECS:-3}
VMTIMEOUT=${BENCH_VMTIMEOUT:-240}
IFS=, read -r -a SIZES <<<"${BENCH_SIZES:-64,1500}"
IFS=, read -r -a VMMS <<<"${BENCH_VMMS:-kvmm,qemu}"

skip() {
	echo "BENCH-SKIP: $*"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (a namespace and a tap)"
if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
	skip "no usable /dev/kvm"
fi
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
IP=$(type -P ip) || skip "no ip (apt-get install iproute2)"
type -P "$QEMU" >/dev/null || skip "no $QEMU"
for f in "$KVMM" "$PAYLOAD" "$NETGEN"; do
	[ -e "$f" ] || { echo "BENCH-FAIL: $f missing" && exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-net.XXXXXX") || exit 1
LOG=$WORK/results
NS=kvmm-nb$$
TAP=nbt0
MAC=52:54:00:12:34:56
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	"$IP" netns del "$NS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
if ! { "$IP" netns add "$NS" && "$IP" -n "$NS" link set lo up &&
	"$IP" -n "$NS" tuntap add dev $TAP mode tap vnet_hdr &&
	"$IP" -n "$NS" link set $TAP txqueuelen 10000 && "$IP" -n "$NS" link set $TAP up; }; then
	skip "cannot make a tap in a network namespace"
fi
"$IP" netns exec "$NS" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6' 2>/dev/null
echo "BENCH-INFO: $("$QEMU" --version | head -n 1)"

# tapstat NAME: a counter of the tap.
tapstat() {
	"$IP" netns exec "$NS" cat /sys/class/net/$TAP/statistics/"$1"
}

# wait_line FILE REGEX SECS
wait_line() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# vmm_run VMM DIR SIZE ROUND: one VM run of the payload; prints a RESULT line.
vmm_run() {
	local name=$1 dir=$2 size=$3 round=$4 out=$WORK/$1-$2-$3.out gen_out=$WORK/gen.out
	local args="mode=$dir size=$size secs=$SECS" cmd pid gen="" st rx0 drop0 line pps frames
	local notifies sent tapn dropped
	if [ "$name" = kvmm ]; then
		cmd=("$KVMM" run --kernel "$PAYLOAD" --memory 256M --net "tap,ifname=$TAP,mac=$MAC,transport=mmio"
			--cmdline "$args" --serial stdio --debug-exit)
	else
		# shellcheck disable=SC2054 # commas inside QEMU option values
		cmd=("$QEMU" -M microvm,rtc=on -accel kvm -nodefaults -no-user-config -display none
			-serial stdio -m 256M -device isa-debug-exit,iobase=0xf4,iosize=4
			-global virtio-mmio.force-legacy=false
			-netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no"
			-device "virtio-net-device,netdev=n0,mac=$MAC" -kernel "$PAYLOAD"
			-append "$args qemu=1")
	fi
	[ "$round" = 1 ] && echo "BENCH-INFO: $name $dir $size: ip netns exec $NS ${cmd[*]}"
	rx0=$(tapstat rx_packets)
	drop0=$(tapstat tx_dropped)
	: >"$out"
	: >"$gen_out"
	timeout -s KILL "$VMTIMEOUT" "$IP" netns exec "$NS" "${cmd[@]}" </dev/null >"$out" 2>&1 &
	pid=$!
	if [ "$dir" = rx ] && wait_line "$out" '^netbench: rx ready' 120; then
		# ip netns exec execs the command: $! is net-gen itself
		"$IP" netns exec "$NS" "$NETGEN" $TAP "$size" $((SECS + 120)) $MAC >"$gen_out" 2>&1 &
		gen=$!
		[ "$round" = 1 ] && echo "BENCH-INFO: rx $size: ip netns exec $NS net-gen $TAP $size" \
			"$((SECS + 120)) $MAC"
	fi
	wait $pid
	st=$?
	if [ -n "$gen" ]; then
		kill "$gen" 2>/dev/null
		wait "$gen"
	fi
	tapn=$(($(tapstat rx_packets) - rx0))
	dropped=$(($(tapstat tx_dropped) - drop0))
	line=$(grep '^NETBENCH ' "$out" | head -n 1)
	if [ "$st" != 1 ] || [ -z "$line" ]; then
		echo "BENCH-FAIL: $name $dir $size exited with $st"
		sed 's/^/BENCH-LOG: /' "$out" | tail -n 15
		[ -n "$gen" ] && sed 's/^/BENCH-LOG: gen: /' "$gen_out"
		return
	fi
	pps=$(sed -n 's/.* pps=\([0-9]*\).*/\1/p' <<<"$line")
	frames=$(sed -n 's/.* frames=\([0-9]*\).*/\1/p' <<<"$line")
	notifies=$(sed -n 's/.* notifies=\([0-9]*\).*/\1/p' <<<"$line")
	if [ "$dir" = tx ]; then
		echo "RESULT vmm=$name dir=tx size=$size round=$round pps=$pps frames=$frames tap=$tapn notifies=$notifies"
	else
		sent=$(sed -n 's/^NETGEN sent=\([0-9]*\).*/\1/p' "$gen_out")
		echo "RESULT vmm=$name dir=rx size=$size round=$round pps=$pps frames=$frames sent=${sent:-0} dropped=$dropped notifies=$notifies"
	fi
}

for ((round = 1; round <= ${BENCH_ROUNDS:-3}; round++)); do
	for size in "${SIZES[@]}"; do
		for dir in tx rx; do
			for v in "${VMMS[@]}"; do
				vmm_run "$v" "$dir" "$size" "$round"
			done
		done
	done
done | tee "$LOG"
fails=$(grep -c '^BENCH-FAIL:' "$LOG")
echo
table "$LOG"
echo "BENCH-FAILS: $fails"
[ "$fails" = 0 ]
