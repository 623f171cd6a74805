#!/bin/sh
# /tests/e2e.sh — the user environment's end-to-end checks, run inside the guest. Each
# check prints "E2E PASS name" or "E2E FAIL name: why"; the host test counts them.
set -u
pass() { echo "E2E PASS $1"; }
fail() { echo "E2E FAIL $1: $2"; }
add_ok() { tre exec /progs/add-glibc -- call @ 0 --arg-int "$1" --arg-int "$2" --result 4 --int \
           -- close @ 2>&1 | grep -q "result 0: $(( $1 + $2 ))"; }

# a marker in guest RAM, for the host's scanner to prove it sees this memory
MARK=trevisor-guest-ram-marker-5f1e
echo "$MARK$MARK" > /tmp/marker

# 1. the examples from inside the guest
if add_ok 40 2; then pass add; else fail add "tre exec/call/close"; fi
if add_client /progs/add-glibc 20 22 | grep -q "= 42"; then pass add_client; else fail add_client "libtre"; fi
echo "a message" > /tmp/m
if sign_client /progs/ecdsa-sign /tmp/m /tmp/p.pem /tmp/s.der >/dev/null && [ -s /tmp/s.der ]; then
    pass ecdsa_sign
else
    fail ecdsa_sign "sign_client"
fi

# 2. eight concurrent clients, each several calls
i=0
while [ $i -lt 8 ]; do
    ( ok=0; for k in 1 2 3; do add_ok $i $k && ok=$((ok+1)); done; [ $ok -eq 3 ] && touch /tmp/conc.$i ) &
    i=$((i+1))
done
wait
n=$(ls /tmp/conc.* 2>/dev/null | wc -l)
if [ "$n" -eq 8 ]; then pass concurrent8; else fail concurrent8 "$n of 8 clients succeeded"; fi

# 3. a client killed mid-call: the spin program runs until its budget; kill the client
tre exec /progs/spin -- call @ 0 >/dev/null 2>&1 &
pid=$!
sleep 1
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if add_ok 5 6; then pass killed_mid_call; else fail killed_mid_call "trevisor stopped answering"; fi

# 4. a TRE crash mid-RPC gives the guest an error
out=$(tre exec /progs/faults -- call @ 1 2>&1)
if echo "$out" | grep -qi "fault\|-14"; then pass tre_crash; else fail tre_crash "$out"; fi

# 5. hostile guest programs: garbage, floods, half-open, never reading; then still served
vsock_hostile garbage 20 >/dev/null 2>&1
vsock_hostile flood 100 >/dev/null 2>&1
vsock_hostile halfopen 20 >/dev/null 2>&1
vsock_hostile deaf 200 >/dev/null 2>&1
if add_ok 7 8; then pass hostile_then_served; else fail hostile_then_served "no answer after attacks"; fi
if vsock_hostile echo 50 | grep -q done; then pass echo_port; else fail echo_port "echo"; fi

# 6. the TRE cannot address guest memory: a probe of a guest-physical address dies
out=$(tre exec /progs/faults -- call @ 16 --arg-hex 0000100000000000 --result 8 2>&1)
if echo "$out" | grep -qi "fault\|-14"; then pass probe_guest_memory; else fail probe_guest_memory "$out"; fi
echo "E2E DONE"
