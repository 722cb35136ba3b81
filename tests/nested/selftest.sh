#!/usr/bin/env bash
# tests/nested/selftest.sh — the hang handling of tests/nested/{run.sh,check.sh} against a fake
# QEMU, in seconds and without nested KVM (`make check-nested-harness`). The fake plays the L1
# guest of init.sh: it prints the markers and a result for each case of a small table that is
# not in /kvmm/done of its initramfs (run.sh appends that file when it resumes), and at the case
# named by kvmm.testhang= it withholds the result and hangs (prints soft-lockup lines, which
# must not count as progress) or, with :panic, exits like a panicked L1 under -no-reboot.
# Checks: the progress watchdog (NESTED_STALL) ends a hung attempt with status 3 in seconds,
# the retry runs only the cases without a result (NESTED_SMP=1), the combined table and its
# summary, a second hang is SKIPPED, a failure before a hang is still a failure.
set -u
NESTED_DIR=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-nested-self.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() {
	echo "ok - $1"
	pass=$((pass + 1))
}
not_ok() {
	echo "not ok - $1"
	sed 's/^/#   /' "$2" | tail -n 30
	fail=$((fail + 1))
}

command -v cpio >/dev/null || {
	echo "# cpio missing: skipped"
	exit 77
}

cat >"$tmp/fake-qemu" <<'EOF'
#!/usr/bin/env bash
# Fake qemu-system-x86_64 for selftest.sh: FAKE_CASES "name:ok|fail ..." is the case table.
append= initrd= smp=
while [ $# -gt 0 ]; do
	case $1 in
	-append) append=$2; shift ;;
	-initrd) initrd=$2; shift ;;
	-smp) smp=$2; shift ;;
	esac
	shift
done
done_list=$(cpio -i --to-stdout --quiet kvmm/done <"$initrd" 2>/dev/null | tr '\n' ' ')
hang=
for a in $append; do
	case $a in kvmm.testhang=*) hang=${a#kvmm.testhang=} ;; esac
done
echo "NESTED-INFO: fake L1, $smp CPUs, cmdline $append"
n=0 p=0 f=0 st=0
for c in $FAKE_CASES; do
	name=${c%%:*}
	[[ " $done_list " == *" $name "* ]] && continue
	if [ "$name" = "${hang%:panic}" ]; then
		[ "$hang" != "${hang%:panic}" ] && { echo "Kernel panic - not syncing: sysrq triggered crash"; exit 0; }
		while :; do
			echo "[  99.0] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [swapper/0:0]"
			sleep 1
		done
	fi
	n=$((n + 1))
	if [ "${c#*:}" = ok ]; then
		echo "ok $n - $name # 5 ms"
		p=$((p + 1))
	else
		echo "not ok $n - $name # exit status 0, expected 1 (5 ms)"
		f=$((f + 1))
		st=1
	fi
done
echo "1..$n"
echo "$p passed, $f failed, 0 skipped"
echo "NESTED-EXIT: $st"
echo "NESTED-DONE"
EOF
chmod +x "$tmp/fake-qemu"
: >"$tmp/kernel"
: >"$tmp/initrd.cpio"

# nested OUT-NAME CASES [VAR=VALUE...]: check.sh with the fake; output in $tmp/OUT-NAME.log,
# status in $tmp/OUT-NAME.st, wall seconds in $tmp/OUT-NAME.secs.
nested() {
	local name=$1 cases=$2 t0 st=0
	shift 2
	mkdir -p "$tmp/$name"
	t0=$SECONDS
	env QEMU="$tmp/fake-qemu" NESTED_KVER=fake NESTED_KERNEL="$tmp/kernel" \
		NESTED_INITRD="$tmp/initrd.cpio" NESTED_OUT="$tmp/$name" NESTED_STALL=3 \
		FAKE_CASES="$cases" "$@" "$NESTED_DIR/check.sh" >"$tmp/$name.log" 2>&1 || st=$?
	echo "$st" >"$tmp/$name.st"
	echo $((SECONDS - t0)) >"$tmp/$name.secs"
}
has() { grep -qxF -- "$2" "$tmp/$1.log"; }

CASES="a:ok b:ok c:ok d:ok e:ok"

nested plain "$CASES"
if [ "$(cat "$tmp/plain.st")" = 0 ] && has plain "5 passed, 0 failed, 0 skipped" &&
	! grep -q retry "$tmp/plain.log"; then
	ok "no hang: one attempt, status 0"
else
	not_ok "no hang: one attempt, status 0" "$tmp/plain.log"
fi

nested hang "$CASES" NESTED_TEST_HANG=c
if [ "$(cat "$tmp/hang.st")" = 0 ] && has hang "ok 3 - c # 5 ms" && has hang "ok 5 - e # 5 ms" &&
	has hang "5 passed, 0 failed, 0 skipped" &&
	has hang "# nested: ran in the retry (NESTED_SMP=1): c d e " &&
	grep -q 'no progress for [0-9]* s (NESTED_STALL)' "$tmp/hang.log" &&
	[ "$(cat "$tmp/hang.secs")" -lt 20 ]; then
	ok "hang at c: watchdog after NESTED_STALL, retry runs c d e, combined table ($(cat "$tmp/hang.secs") s)"
else
	not_ok "hang at c: watchdog, retry of c d e, combined table" "$tmp/hang.log"
fi

nested panic "$CASES" NESTED_TEST_HANG=b:panic
if [ "$(cat "$tmp/panic.st")" = 0 ] && has panic "5 passed, 0 failed, 0 skipped" &&
	has panic "# nested: ran in the retry (NESTED_SMP=1): b c d e " &&
	grep -q 'kernel panic (softlockup_panic) or crash' "$tmp/panic.log"; then
	ok "panic at b: status 3 at once, retry runs b c d e"
else
	not_ok "panic at b: retry of b c d e" "$tmp/panic.log"
fi

nested twice "$CASES" NESTED_TEST_HANG=b NESTED_TEST_HANG_RETRY=d
if [ "$(cat "$tmp/twice.st")" = 0 ] && has twice "3 passed, 0 failed, 0 skipped" &&
	grep -q '^check-nested: SKIPPED: the nested L1 guest hung twice' "$tmp/twice.log"; then
	ok "hang in both attempts: SKIPPED, the results of a, b and c kept"
else
	not_ok "hang in both attempts: SKIPPED" "$tmp/twice.log"
fi

nested failhang "a:ok b:fail c:ok d:ok" NESTED_TEST_HANG=c NESTED_TEST_HANG_RETRY=d
if [ "$(cat "$tmp/failhang.st")" = 1 ] && has failhang "not ok 2 - b # exit status 0, expected 1 (5 ms)" &&
	has failhang "2 passed, 1 failed, 0 skipped"; then
	ok "a failure, then two hangs: status 1, not SKIPPED"
else
	not_ok "a failure, then two hangs: status 1" "$tmp/failhang.log"
fi

nested failresume "a:ok b:fail c:ok d:ok" NESTED_TEST_HANG=c
if [ "$(cat "$tmp/failresume.st")" = 1 ] && has failresume "3 passed, 1 failed, 0 skipped" &&
	has failresume "# nested: ran in the retry (NESTED_SMP=1): c d "; then
	ok "a failure before the hang is kept (not re-run), the retry passes: status 1"
else
	not_ok "a failure before the hang is kept: status 1" "$tmp/failresume.log"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
