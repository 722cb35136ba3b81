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
