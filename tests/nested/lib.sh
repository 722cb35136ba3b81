# shellcheck shell=bash
# tests/nested/lib.sh — helpers shared by run.sh and mkinitramfs.sh (sourced, not executed).

# nested_pick_kver: print the newest kernel version that has both /boot/vmlinuz-KVER and a
# kvm-amd module under /lib/modules/KVER, or nothing. NESTED_KVER overrides the choice.
nested_pick_kver() {
	local d v
	if [ -n "${NESTED_KVER:-}" ]; then
		printf '%s\n' "$NESTED_KVER"
		return
	fi
	for d in $(printf '%s\n' /lib/modules/*/ | sort -V -r); do
		[ -d "$d" ] || continue
		v=$(basename "$d")
		[ -e "/boot/vmlinuz-$v" ] || continue
		if [ -n "$(find "$d" -name 'kvm-amd.ko*' -print -quit 2>/dev/null)" ]; then
			printf '%s\n' "$v"
			return
		fi
	done
}

# nested_results <SERIAL-LOG: the TAP result lines of tests/guest/run.sh ("ok N - NAME ...",
# "not ok N - NAME ...") in the order they came.
nested_results() {
	grep -aE '^(ok|not ok) [0-9]+ - [^ ]+' || true
}

# nested_result_names <RESULTS: the case name of each result line.
nested_result_names() {
	sed -E 's/^(ok|not ok) [0-9]+ - ([^ ]+).*/\2/'
}

# nested_table <RESULTS: the lines renumbered 1..N, then "1..N" and the summary line.
nested_table() {
	awk '{ n++
		if (sub(/^not ok [0-9]+ /, "not ok " n " ")) f++
		else if (sub(/^ok [0-9]+ /, "ok " n " ")) { if (/ # SKIP/) s++; else p++ }
		print }
		END { printf "1..%d\n%d passed, %d failed, %d skipped\n", n, p, f, s }'
}
