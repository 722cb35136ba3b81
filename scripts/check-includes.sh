#!/usr/bin/env bash
# Enforce the one-way layering of shared/STYLE.md §3: each directory under src/ may include
# project headers only from the layers listed for it. Also checks that every header compiles on
# its own. Exit 1 on any violation.
set -euo pipefail
cd "$(dirname "$0")/.."

allowed() { # $1 = source dir (relative to src/), prints allowed top-level prefixes
	case "$1" in
	base*) echo "base" ;;
	mem*) echo "base mem" ;;
	kvm*) echo "base kvm" ;;
	block*) echo "base block" ;;
	net*) echo "base net" ;;
	ctl/qmp*) echo "base ctl/qmp" ;;
	devices*) echo "base mem block net devices" ;;
	arch*) echo "base mem kvm arch" ;;
	vmm* | ctl*) echo "base mem kvm block net devices arch vmm ctl" ;;
	cmd* | main.c) echo "base mem kvm block net devices arch vmm ctl cmd" ;;
	*) echo "" ;;
	esac
}

fail=0
while IFS= read -r f; do
	rel=${f#src/}
	dir=$(dirname "$rel")
	[ "$dir" = "." ] && dir=$rel
	ok=$(allowed "$dir")
	while IFS= read -r inc; do
		top=${inc%%/*}
		[ "$top" = ctl ] && [[ $inc == ctl/qmp* ]] && top=ctl/qmp
		good=0
		for a in $ok; do
			if [ "$top" = "$a" ] || [[ $inc == $a/* ]]; then good=1; fi
		done
		if [ $good -eq 0 ]; then
			echo "layering: $f includes \"$inc\" (allowed: $ok)"
			fail=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done < <(find src -name '*.[ch]' | sort)

# Headers compile on their own.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cflags=$(pkg-config --cflags jansson liburing libzstd zlib 2>/dev/null || true)
while IFS= read -r h; do
	echo "#include \"${h#src/}\"" > "$tmp/t.c"
	if ! ${CC:-gcc} -std=gnu11 -D_GNU_SOURCE -Isrc $cflags -fsyntax-only -Wall -Werror "$tmp/t.c" 2> "$tmp/err"; then
		echo "header not self-contained: $h"
		head -5 "$tmp/err"
		fail=1
	fi
done < <(find src -name '*.h' | sort)
exit $fail
