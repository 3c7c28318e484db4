#!/usr/bin/env bash
# cross/mixed-cluster.sh ARMV6_BINARY X86_BINARY — a cluster across architectures, checked
# byte for byte.
#
# The Pi 1 deployment in miniature, on 127.0.0.1 with a port the master picks (port 0; it
# prints "master listening on ADDR" on stderr):
#   * master:  the ARMv6 binary under `qemu-arm -cpu arm1176` (a Pi 1's CPU), writing a
#              text file, checkpointing every second;
#   * workers: one ARMv6 worker under the same qemu and one native x86 worker, one thread
#              each.
# The file must equal, byte for byte, both
#   * the native binary's `primes START STOP` (same code, one process, no network), and
#   * an independent sieve in Python written here (not the code under test), and
#     `primesieve START STOP --print` too when primesieve is installed.
# Both workers must have computed chunks (the master's closing share lines name them).
#
# Job: MIXED_START..=MIXED_STOP with kernel MIXED_KERNEL (default 10^9 ..= 10^9+4*10^6,
# 192k primes, trial division: the C kernel on ARMv6). Trial division because under qemu
# the ARMv6 sieve runs at ~40M numbers/s, so a range whose primes a test can keep would be
# over before the second worker joins; with trial the ARMv6 worker alone needs ~45 s, the
# x86 worker ~1.5 s, so both get chunks and the job takes seconds.
# Every wait is bounded (MIXED_TIMEOUT seconds for the job, default 600); every process
# started here is killed on exit; the workers must exit by themselves within
# MIXED_WORKER_GRACE seconds (default 180) of the master. Exit status 0 only if everything
# matched.
# Needs: qemu-user (qemu-arm), python3.
set -euo pipefail

log() { printf '[mixed-cluster] %s\n' "$*"; }
die() { printf '[mixed-cluster] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$#" -eq 2 ] || die "usage: $0 ARMV6_BINARY X86_BINARY"
ARMV6=$(realpath "$1")
X86=$(realpath "$2")
[ -x "$ARMV6" ] || die "no ARMv6 binary at $1 (build it: cross/release.sh armv6)"
[ -x "$X86" ] || die "no x86 binary at $2"
START=${MIXED_START:-1000000000}
STOP=${MIXED_STOP:-1004000000}
KERNEL=${MIXED_KERNEL:-trial}
JOB_TIMEOUT=${MIXED_TIMEOUT:-600}
QEMU=(qemu-arm -cpu arm1176)
command -v qemu-arm >/dev/null || die "qemu-arm not found (apt-get install qemu-user)"
command -v python3 >/dev/null || die "python3 not found"

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
t0=$(date +%s)
since() { echo "$(($(date +%s) - t0)) s"; }

# ---- expected output, twice: the native binary, and a sieve that shares no code with it.
log "expected: native primes $START $STOP"
"$X86" primes "$START" "$STOP" >"$WORK/native.txt"
log "expected: independent Python sieve"
python3 - "$START" "$STOP" >"$WORK/python.txt" <<'PY'
import itertools, math, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
root = math.isqrt(hi)
small = bytearray([1]) * (root + 1)  # small[i]: i is prime, for i <= sqrt(hi)
small[0:2] = bytes(min(2, root + 1))
for i in range(2, math.isqrt(root) + 1):
    if small[i]:
        small[i * i :: i] = bytes(len(range(i * i, root + 1, i)))
seg = bytearray([1]) * (hi - lo + 1)  # seg[i]: lo + i is prime
for p in itertools.compress(range(root + 1), small):
    first = max(p * p, (lo + p - 1) // p * p)
    if first <= hi:
        seg[first - lo :: p] = bytes(len(range(first - lo, hi - lo + 1, p)))
for n in range(lo, min(2, hi + 1)):  # 0 and 1
    seg[n - lo] = 0
sys.stdout.write("".join(f"{n}\n" for n in itertools.compress(range(lo, hi + 1), seg)))
PY
cmp "$WORK/native.txt" "$WORK/python.txt" ||
    die "native 'primes $START $STOP' and the Python sieve disagree (see the cmp line above)"
if command -v primesieve >/dev/null; then
    primesieve "$START" "$STOP" --print >"$WORK/primesieve.txt"
    cmp "$WORK/native.txt" "$WORK/primesieve.txt" || die "primesieve disagrees with the native binary"
    log "primesieve agrees"
fi
log "expected: $(wc -l <"$WORK/python.txt") primes, $(stat -c %s "$WORK/python.txt") bytes ($(since))"

# ---- the cluster
show_logs() { # the tail of every log, on failure
    local f
    for f in master.err w-arm.err w-x86.err; do
        printf -- '---- %s (last 20 lines)\n' "$f" >&2
        tail -n 20 "$WORK/$f" >&2 2>/dev/null || true
    done
}
# `timeout` bounds each process even if this script is killed hard; the trap kills the rest.
timeout -k 10 "$JOB_TIMEOUT" "${QEMU[@]}" "$ARMV6" master "$START" "$STOP" --kernel "$KERNEL" \
    --listen 127.0.0.1:0 --out "$WORK/out.txt" --heartbeat-ms 4000 --checkpoint 1 \
    >"$WORK/master.out" 2>"$WORK/master.err" &
MASTER=$!
PIDS+=("$MASTER")
addr=""
for _ in $(seq 1 600); do # up to 60 s for qemu to start the master
    addr=$(sed -n 's/.*master listening on \([0-9.]*:[0-9]*\).*/\1/p' "$WORK/master.err" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$MASTER" 2>/dev/null || break
    sleep 0.1
done
[ -n "$addr" ] || { show_logs; die "the ARMv6 master did not say where it listens"; }
log "ARMv6 master (qemu-arm -cpu arm1176) listening on $addr"

# The ARMv6 worker first, and the x86 worker only once the first chunks are in the file
# (--checkpoint 1 flushes it every second), which only the ARMv6 worker can have computed:
# a native worker, ~10x faster, would otherwise do the whole range, or redo the ARMv6
# worker's first chunks as late head chunks, before qemu has returned one result.
timeout -k 10 "$JOB_TIMEOUT" "${QEMU[@]}" "$ARMV6" worker "$addr" --threads 1 --name armv6-qemu --once \
    >"$WORK/w-arm.out" 2>"$WORK/w-arm.err" &
W_ARM=$!
PIDS+=("$W_ARM")
started=0
for _ in $(seq 1 1200); do # up to 120 s
    if [ -s "$WORK/out.txt" ]; then started=1; break; fi
    if ! kill -0 "$W_ARM" 2>/dev/null || ! kill -0 "$MASTER" 2>/dev/null; then break; fi
    sleep 0.1
done
[ "$started" = 1 ] || { show_logs; die "no prime reached the file while the ARMv6 worker was alone"; }
log "first chunks in the file ($(stat -c %s "$WORK/out.txt") bytes, $(since)): starting the x86 worker"
timeout -k 10 "$JOB_TIMEOUT" "$X86" worker "$addr" --threads 1 --name x86-native --once \
    >"$WORK/w-x86.out" 2>"$WORK/w-x86.err" &
W_X86=$!
PIDS+=("$W_X86")

rc_master=0
wait "$MASTER" || rc_master=$?
t_end=$(date +%s)
# The job is over and the workers have been told so, but a worker exits only once its
# compute thread has finished the chunk in hand (a trial-division chunk under qemu on a
# loaded machine: tens of seconds were seen). Bounded: MIXED_WORKER_GRACE seconds.
grace=${MIXED_WORKER_GRACE:-180}
for _ in $(seq 1 $((grace * 10))); do
    if ! kill -0 "$W_ARM" 2>/dev/null && ! kill -0 "$W_X86" 2>/dev/null; then break; fi
    sleep 0.1
done
log "workers gone $(($(date +%s) - t_end)) s after the master"
kill "$W_ARM" "$W_X86" 2>/dev/null || true
rc_arm=0 rc_x86=0
wait "$W_ARM" || rc_arm=$?
wait "$W_X86" || rc_x86=$?
log "job done ($(since)): master exit $rc_master, ARMv6 worker exit $rc_arm, x86 worker exit $rc_x86"
if [ "$rc_master" -ne 0 ] || [ "$rc_arm" -ne 0 ] || [ "$rc_x86" -ne 0 ]; then
    show_logs
    die "a process failed (124: timed out after ${JOB_TIMEOUT} s; 143: still running ${grace} s after the master ended)"
fi
grep -E '^primecluster: ' "$WORK/master.err" | grep -E 'numbers|armv6-qemu|x86-native' | sed 's/^/    /' || true
for name in armv6-qemu x86-native; do
    # The master's closing lines: "primecluster:   NAME  P% (N chunks)".
    if ! grep -E "^primecluster: +${name}[^ ]* " "$WORK/master.err" | grep -qvE '\(0 chunks\)'; then
        show_logs
        die "worker $name computed no chunk (no share line with chunks for it)"
    fi
done
cmp "$WORK/out.txt" "$WORK/python.txt" || { show_logs; die "the cluster's file differs from the expected primes"; }
log "PASSED: $(wc -l <"$WORK/out.txt") primes from $START to $STOP (kernel $KERNEL), byte-identical to the native binary and the Python sieve ($(since))"
