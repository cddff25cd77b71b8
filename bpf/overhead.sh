#!/bin/bash
# Overhead of the eBPF sensor (root), in one command. A local Go HTTP server
# is loaded by wrk in alternating rounds without and with the sensor
# (filtered to the server's port); each round measures
#   - a fixed rate (RATE req/s, default 10000): wrk paced by a Lua script
#     that hands each thread's requests evenly spaced send slots (wrk2-style
#     open loop, but latency is counted from the actual send, as wrk does);
#   - saturation: plain wrk, as many requests as the machine serves;
# and prints req/s and p99 for both, the with/without ratios per round and
# their range over the rounds, the sensor process's CPU (cores, and cores
# per 10k req/s), and the BPF run time per program (kernel.bpf_stats_enabled:
# ns per run, runs per request, ns per request).
# Last, `overhead -micro` in alternating rounds: the CPU time the sensor adds
# to a loopback TCP write+read pair and to a /dev/zero read (thread CPU
# time, fastest of 20 batches: robust where wall-clock p99 is not).
#   DUR=10s RATE=10000 RCONNS=64 CONNS=32 ROUNDS=3 MICRO=400000 bpf/overhead.sh
# Ratios within one command are what counts: the machine may be shared.
set -euo pipefail
DUR=${DUR:-10s}
RATE=${RATE:-10000}
RCONNS=${RCONNS:-64} # connections of the fixed-rate run (enough to keep the rate)
CONNS=${CONNS:-32}   # connections of the saturated run
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18080}
MICRO=${MICRO:-400000} # syscall pairs per -micro run (0: skip the micro benchmark)
MPORT=$((PORT + 1))
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "overhead: wrk not installed (apt-get install wrk)" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "overhead: bpftool not installed (apt-get install bpftool)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "overhead: needs root" >&2; exit 1; }
bin=$(mktemp -d)
go build -o "$bin/overhead" ./bpf/internal/overhead
"$bin/overhead" -serve "127.0.0.1:$PORT" &
srv=$!
sensor=
cleanup() {
	[ -n "$sensor" ] && kill "$sensor" 2>/dev/null || true
	kill "$srv" 2>/dev/null || true
	sysctl -qw kernel.bpf_stats_enabled=0 || true
	rm -rf "$bin"
}
trap cleanup EXIT
sleep 0.5

# Pacing: every call of delay() (one per request, per thread) takes the
# thread's next send slot, interval ms after the previous one; wrk's timers
# have millisecond resolution, the slots do not drift.
cat >"$bin/rate.lua" <<'LUA'
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } st_timespec;
int clock_gettime(int clk, st_timespec *ts);
]]
local ts = ffi.new("st_timespec")
local function now_ms()
	ffi.C.clock_gettime(1, ts)
	return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval, slot
function init(args) interval = 1000 / tonumber(args[1]) end
function delay()
	local t = now_ms()
	if slot == nil or slot < t - 50 then slot = t end -- do not burst to catch up a long stall
	slot = slot + interval
	local d = slot - t
	if d < 0 then return 0 end
	return math.floor(d)
end
LUA

# wrk prints "Requests/sec: N" and, with --latency, "99% 1.23ms".
parse='
	/Requests\/sec:/ { rps = $2 }
	$1 == "99%" { v = $2; u = 1
		if (v ~ /us$/) { sub(/us$/, "", v) } else if (v ~ /ms$/) { u = 1000; sub(/ms$/, "", v) } else if (v ~ /s$/) { u = 1000000; sub(/s$/, "", v) }
		p99 = v * u }
	END { printf "%s %s\n", rps, p99 }'
fixed() { wrk -t2 -c"$RCONNS" -d"$DUR" --latency -s "$bin/rate.lua" "http://127.0.0.1:$PORT/" -- $((RATE / 2)) | awk "$parse"; }
saturated() { wrk -t2 -c"$CONNS" -d"$DUR" --latency "http://127.0.0.1:$PORT/" | awk "$parse"; }

# name run_time_ns run_cnt, one line per sensor program.
bpfstats() {
	bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("type") in ("tracepoint", "kprobe") and p.get("name"):
        print(p["name"], p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}

wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/" >/dev/null # warm up
sysctl -qw kernel.bpf_stats_enabled=1
out="$bin/rounds"
: >"$out"
for r in $(seq "$ROUNDS"); do
	read -r f_rps f_p99 < <(fixed)
	read -r s_rps s_p99 < <(saturated)
	echo "round $r without sensor: fixed $f_rps req/s p99 ${f_p99}us; saturated $s_rps req/s p99 ${s_p99}us"

	"$bin/overhead" -ports "$PORT" >"$bin/sensor.out" 2>"$bin/sensor.err" &
	sensor=$!
	until grep -q ready "$bin/sensor.out" 2>/dev/null; do sleep 0.1; kill -0 "$sensor" || { cat "$bin/sensor.err"; exit 1; }; done
	bpfstats >"$bin/bpf0"
	read -r fo_rps fo_p99 < <(fixed)
	bpfstats >"$bin/bpf1"
	read -r so_rps so_p99 < <(saturated)
	bpfstats >"$bin/bpf2"
	kill -INT "$sensor"; wait "$sensor" || true; sensor=
	python3 - "$r" "$f_rps" "$f_p99" "$s_rps" "$s_p99" "$fo_rps" "$fo_p99" "$so_rps" "$so_p99" \
		"$bin/bpf0" "$bin/bpf1" "$bin/bpf2" "$bin/sensor.out" "${DUR%s}" "$out" <<'PY'
import json, sys
r = sys.argv[1]
f_rps, f_p99, s_rps, s_p99, fo_rps, fo_p99, so_rps, so_p99 = map(float, sys.argv[2:10])
def load(p):
    d = {}
    for l in open(p):
        n, t, c = l.split()
        d[n] = (int(t), int(c))
    return d
b0, b1, b2 = (load(p) for p in sys.argv[10:13])
dur = float(sys.argv[14])
out = [l for l in open(sys.argv[13]) if l.startswith("{")]
s = json.loads(out[-1]) if out else {}
st = s.get("stats", {})
wall = s.get("wall_s", 1)
cores = s.get("cores", 0)
print(f"round {r} with sensor:    fixed {fo_rps:.0f} req/s p99 {fo_p99:.0f}us; saturated {so_rps:.0f} req/s p99 {so_p99:.0f}us")
print(f"  ratios: fixed-rate p99 {fo_p99 / f_p99:.3f} (req/s {fo_rps / f_rps:.3f}); saturated req/s {so_rps / s_rps:.3f}")
print(f"  sensor process: {cores:.3f} cores over {wall:.0f}s, {cores / max((fo_rps + so_rps) / 2, 1) * 10000:.3f} cores per 10k req/s; "
      f"{s.get('transactions')} transactions; lost {st.get('LostBytes')} bytes, truncated {st.get('TruncatedBytes')}")
for label, a, b, rps in (("fixed", b0, b1, fo_rps), ("saturated", b1, b2, so_rps)):
    reqs = max(rps * dur, 1)
    tot_t = tot_c = 0
    rows = []
    for n in sorted(b):
        t = b[n][0] - a.get(n, (0, 0))[0]
        c = b[n][1] - a.get(n, (0, 0))[1]
        if c <= 0:
            continue
        tot_t += t; tot_c += c
        rows.append(f"{n} {t / c:.0f}ns x{c / reqs:.2f}")
    print(f"  BPF {label}: {tot_t / reqs:.0f} ns per request, {tot_t / max(tot_c, 1):.0f} ns per run, "
          f"{tot_t / 1e9 / dur:.3f} cores; per program (ns per run, runs per request): " + ", ".join(rows))
with open(sys.argv[15], "a") as f:
    f.write(f"{fo_p99 / f_p99} {fo_rps / f_rps} {so_rps / s_rps} {cores / max((fo_rps + so_rps) / 2, 1) * 10000} "
            f"{sum(b1[n][0] - b0.get(n, (0, 0))[0] for n in b1) / max(fo_rps * dur, 1)}\n")
PY
done
python3 - "$out" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
names = ["fixed-rate p99 ratio", "fixed-rate req/s ratio", "saturated req/s ratio", "sensor cores per 10k req/s", "BPF ns per request (fixed)"]
for i, n in enumerate(names):
    v = [r[i] for r in rows]
    print(f"{n}: median {statistics.median(v):.3f}, range {min(v):.3f}-{max(v):.3f} over {len(v)} rounds")
PY

[ "$MICRO" -gt 0 ] || exit 0
sysctl -qw kernel.bpf_stats_enabled=0 # its clock reads would be charged to the syscalls
: >"$bin/micro"
for r in $(seq "$ROUNDS"); do
	echo "without $("$bin/overhead" -micro "$MICRO" -micro-port "$MPORT")" >>"$bin/micro"
	"$bin/overhead" -ports "$MPORT" >"$bin/sensor.out" 2>"$bin/sensor.err" &
	sensor=$!
	until grep -q ready "$bin/sensor.out" 2>/dev/null; do sleep 0.1; kill -0 "$sensor" || { cat "$bin/sensor.err"; exit 1; }; done
	echo "with $("$bin/overhead" -micro "$MICRO" -micro-port "$MPORT")" >>"$bin/micro"
	kill -INT "$sensor"; wait "$sensor" || true; sensor=
done
python3 - "$bin/micro" <<'PY'
import json, statistics, sys
rows = {"without": [], "with": []}
for l in open(sys.argv[1]):
    k, j = l.split(" ", 1)
    rows[k].append(json.loads(j))
for key, what in (("socket_pair_ns", "loopback TCP write+read pair (both traced)"), ("file_read_ns", "/dev/zero read (not a socket)")):
    wo = [r[key] for r in rows["without"]]
    wi = [r[key] for r in rows["with"]]
    add = [b - a for a, b in zip(wo, wi)]
    print(f"micro {what}: {statistics.median(wo):.0f} ns without, {statistics.median(wi):.0f} ns with; "
          f"added median {statistics.median(add):.0f} ns, range {min(add):.0f}-{max(add):.0f} over {len(add)} rounds")
PY
