#!/bin/sh
# guest/boot.sh — boots the guest image under QEMU (TCG by default) with the serial console
# on this terminal, and returns when the guest powers off (its /init ends with reboot -f,
# and QEMU runs with -no-reboot). A development and test helper: `trevisor run` launches
# QEMU itself in a deployment.
#   guest/boot.sh [-t SECONDS] [-a ACCEL] KERNEL INITRD [APPEND-WORD]... [-- QEMU-ARG...]
#     -t SECONDS  kill QEMU after that long (default 120; 0 = never); exit 124 then
#     -a ACCEL    tcg (default) or kvm
#   With no APPEND-WORD the kernel command line is "console=ttyS0 quiet panic=-1".
#   QEMU=... picks the binary; GUEST_MEM=... the memory (default 256M).
set -eu
tmo=120 accel=tcg
while getopts t:a: o; do
    case $o in
        t) tmo=$OPTARG ;;
        a) accel=$OPTARG ;;
        *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n 's/^#   //p' "$0" | head -n 1 >&2; exit 2; }
kernel=$1 initrd=$2
shift 2
append=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    append="${append:+$append }$1"
    shift
done
[ $# -gt 0 ] && shift
[ -n "$append" ] || append="console=ttyS0 quiet panic=-1"
qemu=${QEMU:-qemu-system-x86_64}
mem=${GUEST_MEM:-256M}
to=""
if [ "$tmo" -gt 0 ]; then
    to="timeout -k 5 $tmo"
    # on a terminal QEMU must stay in the foreground process group, or reading the
    # console stops it (SIGTTIN)
    [ -t 0 ] && to="timeout --foreground -k 5 $tmo"
fi
echo "boot: $qemu -accel $accel -m $mem -nographic -no-reboot -kernel $kernel" \
     "-initrd $initrd -append \"$append\" $*" >&2
# shellcheck disable=SC2086
exec $to "$qemu" -accel "$accel" -m "$mem" -nographic -no-reboot \
    -kernel "$kernel" -initrd "$initrd" -append "$append" "$@"
