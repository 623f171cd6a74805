#!/bin/sh
# guest/boot-test.sh — boots the guest image under QEMU TCG and checks /init's contract:
# the "trevisor-guest: up" banner, every module loaded, trevisor.run= and trevisor.arg=,
# the "trevisor-guest: exit N" line, and that the VM ends by itself. Asserts behaviour;
# the boot times it prints are for information only.
#   guest/boot-test.sh [DIR]    (DIR holds vmlinuz and initrd.cpio.gz; default build/guest)
set -u
dir=${1:-build/guest}
here=$(cd "$(dirname "$0")" && pwd)
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
base=${GUEST_APPEND:-console=ttyS0 quiet panic=-1}
pass=0 fail=0

check() {   # NAME LOGFILE GREP-PATTERN...
    name=$1 f=$2
    shift 2
    for pat in "$@"; do
        if ! grep -q -- "$pat" "$f"; then
            echo "guest-boot-test: FAIL $name: no line matching '$pat'; console:"
            sed 's/^/  | /' "$f"
            fail=$((fail + 1))
            return
        fi
    done
    echo "guest-boot-test: ok   $name"
    pass=$((pass + 1))
}

# vmlinux (PVH entry, no decompression) if the build made one; vmlinuz once in any case
fast=$dir/vmlinuz
[ -s "$dir/vmlinux" ] && fast=$dir/vmlinux

boot() {    # NAME KERNEL APPEND-WORDS... -> $log/NAME, $rc, $secs
    name=$1 kernel=$2
    shift 2
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086  # $base is a list of kernel command-line words
    "$here/boot.sh" -t "${GUEST_TIMEOUT:-120}" "$kernel" "$dir/initrd.cpio.gz" \
        $base "$@" < /dev/null > "$log/$name" 2>&1
    rc=$?
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    tr -d '\r' < "$log/$name" > "$log/$name.txt"
    echo "guest-boot-test: $name: ${kernel##*/}: QEMU exited $rc after $secs s"
}

boot selftest "$fast" trevisor.run=/tests/selftest.sh
echo "$rc" > "$log/selftest.rc"
echo "qemu-exit $rc" >> "$log/selftest.txt"
check "banner, modules and selftest" "$log/selftest.txt" \
    '^trevisor-guest: up$' '^trevisor-guest: modules loaded: virtio_ring' \
    '^selftest: 0 failed$' '^trevisor-guest: exit 0$' '^qemu-exit 0$'

boot hello "$dir/vmlinuz" trevisor.run=hello trevisor.arg=world
echo "qemu-exit $rc" >> "$log/hello.txt"
check "trevisor.run=NAME with trevisor.arg=" "$log/hello.txt" \
    '^trevisor-guest: run /tests/hello.sh world$' '^hello from the guest: world$' \
    '^trevisor-guest: exit 0$' '^qemu-exit 0$'

boot missing "$fast" trevisor.run=/tests/no-such-test.sh
echo "qemu-exit $rc" >> "$log/missing.txt"
check "a missing script exits 127" "$log/missing.txt" \
    '^trevisor-guest: exit 127$' '^qemu-exit 0$'

echo "guest-boot-test: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
