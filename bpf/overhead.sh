#!/bin/bash
# Overhead of the eBPF sensor (root), in one command. A local Go HTTP server
# is loaded by wrk at a fixed rate (RATE req/s, default 10000: wrk paced by a
# Lua script that hands each thread's requests evenly spaced send slots,
# wrk2-style open loop, latency counted from the actual send as wrk does).
#
# 1. p99 rounds, kernel.bpf_stats_enabled off (its two clock reads per
#    program run would be charged to every traced syscall): in each round,
#    baselines without the sensor alternate with the variants
#    (B V1 B V2 ... B, the variants' order rotating from round to round);
#    a variant's p99 ratio is its p99 over the mean of its two neighbouring
#    baselines. Printed per variant: median and range of the ratios, p99s,
#    the sensor's cores per 10k req/s, lost bytes, and the time the server
#    and wrk threads spent runnable but waiting for a CPU (run queue, from
#    /proc/PID/task/*/schedstat) per request — the mechanism behind p99.
#    The variant "none" runs no sensor: its ratios are the method's own
#    noise (A/A). Then the pooled ratio: every request of a variant's runs
#    in one latency distribution (wrk's whole histogram, dumped by the Lua
#    script's done()) against every request of their neighbouring
#    baselines, p99 and p50 over p99 and p50, with a 95% interval from
#    resampling whole rounds. Per-round p99 ratios scatter by ±30% on a
#    2-core machine; over 16 rounds the pooled interval is about ±9%.
# 2. Stats rounds (STATS rounds, default 1), bpf_stats on, the sensor as
#    STATS_SPEC says (default -sched=idle, as shadowtap run --ebpf runs it;
#    several specs separated by spaces take turns in each round):
#    fixed rate and saturated (plain wrk) with and without; BPF ns per run
#    and per request per program, saturated req/s ratio.
# 3. `overhead -micro` in alternating rounds: the CPU time the sensor adds to
#    a loopback TCP write+read pair, a /dev/zero read and a getppid (thread CPU
#    time, fastest of 20 batches: robust where wall-clock p99 is not).
#
# VARIANTS is a space-separated list of name=spec; spec is comma-separated
# tokens, "-flag=value" for the sensor (bpf/internal/overhead: -discard,
# -sched=normal|batch|idle, -nice=N, -wakeup=BYTES, -poll=DURATION,
# -pids=SRV: the server only, not wrk) or
# NAME=VALUE for its environment (GOMAXPROCS=1), or +stats (bpf_stats on
# while it runs), or @PATH: another build of bpf/internal/overhead (before
# and after a change in one command); the spec "off" runs none.
#   VARIANTS="none=off normal= idle=-sched=idle discard=-discard gmp1=GOMAXPROCS=1"
# AUTOGROUP_NICE=-10 runs the whole benchmark (server, wrk, sensor) in its
# own scheduler autogroup at that nice, so that a shared machine's other
# sessions disturb it less (they still compete); the comparison inside is
# unchanged.
#   DUR=5s RATE=10000 RCONNS=64 CONNS=32 ROUNDS=5 STATS=1 MICRO=400000 bpf/overhead.sh
# MICRO_VARIANTS (default "with="): name=spec of the sensors the micro
# benchmark runs under, each against the same round's run without.
#   VARIANTS="none=off before=-sched=idle,@/tmp/old after=-sched=idle" STATS_SPEC="-sched=idle,@/tmp/old -sched=idle" MICRO_VARIANTS="before=@/tmp/old after=" bpf/overhead.sh
# PIN_SERVER, PIN_WRK and PIN_SENSOR (CPU lists for taskset, e.g. 0 and 1)
# pin the server, wrk and the sensor's user space to those CPUs (the
# programs run wherever the traced syscalls do), so that the scheduler's
# placement is the same in every run:
#   PIN_SERVER=0 PIN_WRK=1 PIN_SENSOR=1 bpf/overhead.sh
# Ratios within one command are what counts: the machine may be shared.
set -euo pipefail
if [ -n "${AUTOGROUP_NICE:-}" ] && [ -z "${_OVERHEAD_SETSID:-}" ]; then
	exec setsid -w env _OVERHEAD_SETSID=1 "$0" "$@"
fi
[ -n "${AUTOGROUP_NICE:-}" ] && echo "$AUTOGROUP_NICE" >/proc/self/autogroup
DUR=${DUR:-5s}
RATE=${RATE:-10000}
RCONNS=${RCONNS:-64} # connections of the fixed-rate run (enough to keep the rate)
CONNS=${CONNS:-32}   # connections of the saturated run
ROUNDS=${ROUNDS:-5}
STATS=${STATS:-1}
PORT=${PORT:-18080}
MICRO=${MICRO:-400000} # syscall pairs per -micro run (0: skip the micro benchmark)
VARIANTS=${VARIANTS:-"none=off normal= idle=-sched=idle"}
MICRO_VARIANTS=${MICRO_VARIANTS:-"with="} # name=spec of the sensors the micro benchmark runs under, in turn
STATS_SPEC=${STATS_SPEC:--sched=idle}
MPORT=$((PORT + 1))
srvpin=() wrkpin=() senpin=()
[ -n "${PIN_SERVER:-}" ] && srvpin=(taskset -c "$PIN_SERVER")
[ -n "${PIN_WRK:-}" ] && wrkpin=(taskset -c "$PIN_WRK")
[ -n "${PIN_SENSOR:-}" ] && senpin=(taskset -c "$PIN_SENSOR")
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "overhead: wrk not installed (apt-get install wrk)" >&2; exit 1; }
command -v bpftool >/dev/null || { echo "overhead: bpftool not installed (apt-get install bpftool)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "overhead: needs root" >&2; exit 1; }
bin=$(mktemp -d)
if [ -n "${OVERHEAD_BIN:-}" ]; then # a build of bpf/internal/overhead made elsewhere
	cp "$OVERHEAD_BIN" "$bin/overhead"
else
	go build -o "$bin/overhead" ./bpf/internal/overhead
fi
"${srvpin[@]}" "$bin/overhead" -serve "127.0.0.1:$PORT" &
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
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); cpu pressure: $(head -1 /proc/pressure/cpu 2>/dev/null)"
[ -n "${PIN_SERVER:-}${PIN_WRK:-}${PIN_SENSOR:-}" ] && echo "pinned: server ${PIN_SERVER:--}, wrk ${PIN_WRK:--}, sensor ${PIN_SENSOR:--}"

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
-- The whole latency histogram (microseconds, count per distinct value), so
-- that the runs of a variant can be pooled (WRK_HIST names the file).
function done(summary, latency, requests)
	local path = os.getenv("WRK_HIST")
	if not path or path == "" then return end
	local f = io.open(path, "w")
	for i = 1, #latency do
		local v, c = latency(i)
		f:write(string.format("%d %d\n", v, c))
	end
	f:close()
end
LUA

# Run-queue wait (ns, schedstat's second field) summed over the threads of
# the server and of the wrk processes; wrk is started in the background so
# its pid is known.
runq() {
	local s=0 p f
	for p in "$@"; do
		for f in /proc/"$p"/task/*/schedstat; do
			[ -r "$f" ] && s=$((s + $(cut -d' ' -f2 "$f" 2>/dev/null || echo 0)))
		done
	done
	echo "$s"
}
# wrk prints "Requests/sec: N" and, with --latency, "50% 1.23ms" .. "99% ...".
parse='
	function us(v,  u) { u = 1
		if (v ~ /us$/) { sub(/us$/, "", v) } else if (v ~ /ms$/) { u = 1000; sub(/ms$/, "", v) } else if (v ~ /s$/) { u = 1000000; sub(/s$/, "", v) }
		return v * u }
	/Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = us($2) }
	$1 == "99%" { p99 = us($2) }
	END { printf "%s %s %s\n", rps, p99, p50 }'
# one wrk run; prints "req/s p99_us p50_us runq_ns_per_request"
load() {
	local w q0 q1
	"${wrkpin[@]}" wrk "$@" >"$bin/wrk.out" &
	w=$!
	sleep 0.05
	q0=$(runq "$srv" "$w")
	# the last sample, just before wrk ends, covers the measured part
	sleep "$(python3 -c "print(max(float('${DUR%s}') - 0.15, 0.1))")"
	q1=$(runq "$srv" "$w")
	wait "$w"
	read -r rps p99 p50 < <(awk "$parse" "$bin/wrk.out")
	echo "$rps $p99 $p50 $(python3 -c "print(($q1 - $q0) / max($rps * (float('${DUR%s}') - 0.2), 1))")"
}
# fixed [HIST]: the fixed-rate run; its latency histogram goes to HIST.
fixed() { WRK_HIST=${1:-} load -t2 -c"$RCONNS" -d"$DUR" --latency -s "$bin/rate.lua" "http://127.0.0.1:$PORT/" -- $((RATE / 2)); }
saturated() { load -t2 -c"$CONNS" -d"$DUR" --latency "http://127.0.0.1:$PORT/"; }

# start_sensor SPEC: starts the sensor with the variant's flags and
# environment, waits until it is ready.
start_sensor() {
	local spec=$1 t exe="$bin/overhead"
	local -a flags=() envs=()
	IFS=, read -ra toks <<<"$spec"
	for t in "${toks[@]}"; do
		case $t in
		+stats) sysctl -qw kernel.bpf_stats_enabled=1 ;;
		-*) flags+=("${t//SRV/$srv}") ;;
		@*) exe=${t#@} ;;
		*=*) envs+=("$t") ;;
		esac
	done
	# emptied here, not by the redirection below: that runs in the child,
	# maybe after the loop has read the last run's "ready" (and a SIGINT
	# sent before the sensor handles it would be lost: a background job
	# of a script starts with SIGINT ignored)
	: >"$bin/sensor.out"
	"${senpin[@]}" env "${envs[@]}" "$exe" -ports "${SENSOR_PORT:-$PORT}" "${flags[@]}" >"$bin/sensor.out" 2>"$bin/sensor.err" &
	sensor=$!
	until grep -q ready "$bin/sensor.out" 2>/dev/null; do sleep 0.1; kill -0 "$sensor" || { cat "$bin/sensor.err"; exit 1; }; done
}
stop_sensor() { kill -INT "$sensor"; wait "$sensor" || true; sensor=; [ "${STATS_PHASE:-}" ] || sysctl -qw kernel.bpf_stats_enabled=0; }
# sensor_summary: "cores lost_bytes transactions" of the last run
sensor_summary() {
	python3 - "$bin/sensor.out" <<'PY'
import json, sys
out = [l for l in open(sys.argv[1]) if l.startswith("{")]
s = json.loads(out[-1]) if out else {}
st = s.get("stats", {})
print(s.get("cores", 0), st.get("LostBytes", 0), s.get("transactions", 0), st.get("Records", 0))
PY
}

wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/" >/dev/null # warm up

# 1. p99 rounds.
sysctl -qw kernel.bpf_stats_enabled=0
read -ra vars <<<"$VARIANTS"
nv=${#vars[@]}
p99rows="$bin/p99"
: >"$p99rows"
mkdir -p "$bin/hist"
for r in $(seq "$ROUNDS"); do
	b_h="$bin/hist/$r.b"
	read -r b_rps b_p99 b_p50 b_q < <(fixed "$b_h")
	line="round $r: base p99 ${b_p99}us"
	for i in $(seq 0 $((nv - 1))); do
		v=${vars[$(((i + r - 1) % nv))]}
		name=${v%%=*}
		spec=${v#*=}
		v_h="$bin/hist/$r.$name" n_h="$bin/hist/$r.b$i"
		if [ "$spec" = off ]; then
			read -r v_rps v_p99 v_p50 v_q < <(fixed "$v_h")
			summ="0 0 0 0"
		else
			start_sensor "$spec"
			read -r v_rps v_p99 v_p50 v_q < <(fixed "$v_h")
			stop_sensor
			summ=$(sensor_summary)
		fi
		read -r n_rps n_p99 n_p50 n_q < <(fixed "$n_h")
		echo "$name $b_p99 $n_p99 $v_p99 $b_rps $n_rps $v_rps $b_q $n_q $v_q $b_p50 $n_p50 $v_p50 $summ $b_h $n_h $v_h" >>"$p99rows"
		line+="; $name ${v_p99}us, base ${n_p99}us"
		b_rps=$n_rps b_p99=$n_p99 b_p50=$n_p50 b_q=$n_q b_h=$n_h
	done
	echo "$line"
done
echo "load after p99 rounds: $(cut -d' ' -f1-3 /proc/loadavg); cpu pressure: $(head -1 /proc/pressure/cpu 2>/dev/null)"
python3 - "$p99rows" "$VARIANTS" <<'PY'
import bisect, random, statistics, sys
rows, hists = {}, {}
for l in open(sys.argv[1]):
    f = l.split()
    rows.setdefault(f[0], []).append(list(map(float, f[1:-3])))
    hists.setdefault(f[0], []).append(f[-3:])
if not rows:  # ROUNDS=0: no p99 rounds
    sys.exit(0)
def s(v, fmt="{:.2f}"):
    return f"median {fmt.format(statistics.median(v))} ({fmt.format(min(v))}-{fmt.format(max(v))})"
print(f"p99 at a fixed rate, variant over the mean of its two neighbouring baselines, {len(next(iter(rows.values())))} rounds:")
for v in sys.argv[2].split():
    name = v.split("=", 1)[0]
    rs = rows.get(name, [])
    if not rs:
        continue
    b = [(r[0] + r[1]) / 2 for r in rs]
    ratio = [r[2] / x for r, x in zip(rs, b)]
    p50 = [r[11] / ((r[9] + r[10]) / 2) for r in rs]
    rps = [r[5] / ((r[3] + r[4]) / 2) for r in rs]
    bq = [(r[6] + r[7]) / 2 / 1000 for r in rs]
    vq = [r[8] / 1000 for r in rs]
    cores = [r[12] / max(r[5], 1) * 10000 for r in rs]
    lost = sum(r[13] for r in rs)
    print(f"  {name:10s} p99 ratio {s(ratio)}; p99 {s([r[2] / 1000 for r in rs])} ms vs base {s([x / 1000 for x in b])} ms")
    print(f"  {'':10s} p50 ratio {s(p50)}; req/s ratio {s(rps, '{:.3f}')}; run-queue wait per request {s(vq, '{:.1f}')} us vs base {s(bq, '{:.1f}')} us; "
          f"sensor {s(cores, '{:.3f}')} cores per 10k req/s; lost {lost:.0f} bytes")

# Pooled: every request of a variant's runs in one distribution, against
# every request of their neighbouring baselines (each neighbour weighted
# one half), so that a round's luck weighs by its requests, not as one
# ratio; the 95% interval resamples whole rounds (bootstrap), which keeps
# the pairing of a run with its neighbours.
class Hist:
    def __init__(self, path):
        vals, cnts = [], []
        for l in open(path):
            v, c = l.split()
            vals.append(int(v)); cnts.append(int(c))
        order = sorted(range(len(vals)), key=vals.__getitem__)
        self.vals = [vals[i] for i in order]
        self.above = [0] * (len(vals) + 1)  # above[i]: requests slower than vals[i-1]
        for i in range(len(order) - 1, -1, -1):
            self.above[i] = self.above[i + 1] + cnts[order[i]]
        self.n = self.above[0]
    def slower(self, v):
        return self.above[bisect.bisect_right(self.vals, v)]
def quantile(parts, q):
    # smallest latency (us) that at least q of the weighted requests reach
    total = sum(w * h.n for w, h in parts)
    lo, hi = 0, max((h.vals[-1] for _, h in parts if h.vals), default=0)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(w * h.slower(mid) for w, h in parts) <= (1 - q) * total:
            hi = mid
        else:
            lo = mid + 1
    return lo
def pooled(rounds, q):
    v = quantile([(1, r[2]) for r in rounds], q)
    b = quantile([(0.5, r[0]) for r in rounds] + [(0.5, r[1]) for r in rounds], q)
    return v / max(b, 1)
rng = random.Random(1)
for v in sys.argv[2].split():
    name = v.split("=", 1)[0]
    try:
        rs = [[Hist(p) for p in paths] for paths in hists.get(name, [])]
    except OSError:
        continue  # a wrk without the done() hook
    if not rs or any(h.n == 0 for r in rs for h in r):
        continue
    out = []
    for q in (0.99, 0.50):
        boot = sorted(pooled([rng.choice(rs) for _ in rs], q) for _ in range(1000))
        out.append(f"p{round(q * 100)} ratio {pooled(rs, q):.3f} (95% {boot[25]:.3f}-{boot[974]:.3f})")
    print(f"  {name:10s} pooled over {sum(r[2].n for r in rs)} requests: " + "; ".join(out))
PY

# 2. Stats rounds: BPF run time (bpf_stats on) and saturated throughput.
# "id name run_time_ns run_cnt" of every tracepoint program. The sensor's
# are the ids loaded while it started (bpfpre: before; bpf0: after): other
# sessions may have programs of the same names loaded (a test of run
# --ebpf), which a match by name would count instead.
bpfstats() {
	bpftool prog show -j | python3 -c '
import json, sys
for p in json.load(sys.stdin):
    if p.get("type") in ("tracepoint", "kprobe") and p.get("name"):
        print(p["id"], p["name"], p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}
if [ "$STATS" -gt 0 ]; then
	STATS_PHASE=1
	sysctl -qw kernel.bpf_stats_enabled=1
	read -ra sspecs <<<"$STATS_SPEC"
	for rs in $(seq "$STATS"); do
	for spec in "${sspecs[@]}"; do
		r="$rs ($spec)"
		read -r f_rps f_p99 _ _ < <(fixed)
		read -r s_rps s_p99 _ _ < <(saturated)
		bpfstats >"$bin/bpfpre"
		start_sensor "$spec"
		bpfstats >"$bin/bpf0"
		read -r fo_rps fo_p99 _ _ < <(fixed)
		bpfstats >"$bin/bpf1"
		read -r so_rps so_p99 _ _ < <(saturated)
		bpfstats >"$bin/bpf2"
		stop_sensor
		python3 - "$r" "$f_rps" "$f_p99" "$s_rps" "$s_p99" "$fo_rps" "$fo_p99" "$so_rps" "$so_p99" \
			"$bin/bpf0" "$bin/bpf1" "$bin/bpf2" "$bin/sensor.out" "${DUR%s}" "$bin/bpfpre" <<'PY'
import json, sys
r = sys.argv[1]
f_rps, f_p99, s_rps, s_p99, fo_rps, fo_p99, so_rps, so_p99 = map(float, sys.argv[2:10])
pre = {l.split()[0] for l in open(sys.argv[15])}
ours = {l.split()[0] for l in open(sys.argv[10])} - pre
def load(p):
    d = {}
    for l in open(p):
        i, n, t, c = l.split()
        if i in ours:
            t0, c0 = d.get(n, (0, 0))
            d[n] = (t0 + int(t), c0 + int(c))
    return d
b0, b1, b2 = (load(p) for p in sys.argv[10:13])
dur = float(sys.argv[14])
out = [l for l in open(sys.argv[13]) if l.startswith("{")]
s = json.loads(out[-1]) if out else {}
st = s.get("stats", {})
cores = s.get("cores", 0)
print(f"stats round {r} (bpf_stats on): fixed {f_rps:.0f} -> {fo_rps:.0f} req/s, p99 {f_p99:.0f} -> {fo_p99:.0f} us; "
      f"saturated {s_rps:.0f} -> {so_rps:.0f} req/s (ratio {so_rps / s_rps:.3f}); sensor {cores:.3f} cores, "
      f"{cores / max((fo_rps + so_rps) / 2, 1) * 10000:.3f} per 10k req/s; lost {st.get('LostBytes')} bytes, truncated {st.get('TruncatedBytes')}")
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
PY
	done
	done
	sysctl -qw kernel.bpf_stats_enabled=0
	STATS_PHASE=
fi

# 3. Micro benchmark.
[ "$MICRO" -gt 0 ] && [ "$ROUNDS" -gt 0 ] || exit 0
: >"$bin/micro"
read -ra mvars <<<"$MICRO_VARIANTS"
for r in $(seq "$ROUNDS"); do
	echo "without $r $("$bin/overhead" -micro "$MICRO" -micro-port "$MPORT")" >>"$bin/micro"
	for v in "${mvars[@]}"; do
		SENSOR_PORT=$MPORT start_sensor "${v#*=}"
		echo "${v%%=*} $r $("$bin/overhead" -micro "$MICRO" -micro-port "$MPORT")" >>"$bin/micro"
		stop_sensor
	done
done
python3 - "$bin/micro" <<'PY'
import json, statistics, sys
rows = {}
for l in open(sys.argv[1]):
    k, r, j = l.split(" ", 2)
    rows.setdefault(k, {})[r] = json.loads(j)
for key, what in (("socket_pair_ns", "loopback TCP write+read pair (both traced)"),
                  ("socketv_pair_ns", "the same through writev/readv (two iovecs of 50 bytes)"),
                  ("tls_pair_ns", "the same over a connection that began with a TLS record (not copied)"),
                  ("tlsv_pair_ns", "the same through writev/readv (two iovecs)"),
                  ("file_read_ns", "/dev/zero read (not a socket)"),
                  ("other_syscall_ns", "getppid (a syscall no program is attached to)")):
    wo = rows["without"]
    for name, w in rows.items():
        if name == "without":
            continue
        if any(key not in x for x in list(w.values()) + list(wo.values())):
            continue  # an older build without this benchmark
        add = [w[r][key] - wo[r][key] for r in w]
        print(f"micro {name}: {what}: {statistics.median(x[key] for x in wo.values()):.0f} ns without, "
              f"{statistics.median(x[key] for x in w.values()):.0f} ns with; "
              f"added median {statistics.median(add):.0f} ns, range {min(add):.0f}-{max(add):.0f} over {len(add)} rounds")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
