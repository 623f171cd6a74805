#!/bin/sh
# /tests/selftest.sh — checks the image itself: every module of /etc/modules.order is live
# in /sys/module, /dev/vsock exists, and the files put in by GUEST_EXTRA are there.
# trevisor.run=/tests/selftest.sh; exits with the number of failed checks.
fail=0
ok()  { echo "selftest: ok   $*"; }
bad() { echo "selftest: FAIL $*"; fail=$((fail + 1)); }
while read -r m; do
    if [ -d "/sys/module/$m" ]; then ok "module $m"; else bad "module $m"; fi
done < /etc/modules.order
if [ -c /dev/vsock ]; then ok "/dev/vsock"; else bad "/dev/vsock"; fi
for f in /bin/tre /progs/*; do
    [ -e "$f" ] || continue
    echo "selftest: have $f ($(wc -c < "$f") bytes)"
done
if [ -x /bin/tre ]; then
    if /bin/tre help >/dev/null 2>&1; then ok "/bin/tre runs"; else bad "/bin/tre runs"; fi
fi
lsmod
echo "selftest: $fail failed"
exit "$fail"
