#!/bin/bash
# Overhead of the eBPF sensor (root): wrk against a local Go HTTP server,
# alternating rounds without and with the sensor (filtered to the server's
# port), then the ratios of requests/s and p99 latency, the sensor's CPU,
# and the BPF programs' run time per invocation (kernel.bpf_stats_enabled).
#   DUR=10s CONNS=32 ROUNDS=3 bpf/overhead.sh
set -euo pipefail
DUR=${DUR:-10s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18080}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "overhead: wrk not installed (apt-get install wrk)" >&2; exit 1; }
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

# wrk prints "Requests/sec: N" and, with --latency, "99% 1.23ms".
bench() {
	wrk -t2 -c"$CONNS" -d"$DUR" --latency "http://127.0.0.1:$PORT/" | awk '
		/Requests\/sec:/ { rps = $2 }
		$1 == "99%" { v = $2; u = 1
			if (v ~ /us$/) { u = 1; sub(/us$/, "", v) } else if (v ~ /ms$/) { u = 1000; sub(/ms$/, "", v) } else if (v ~ /s$/) { u = 1000000; sub(/s$/, "", v) }
			p99 = v * u }
		END { printf "%s %s\n", rps, p99 }'
}

progs="enter_read exit_read enter_write exit_write enter_readv exit_readv enter_writev exit_writev enter_recvfrom exit_recvfrom enter_sendto exit_sendto enter_recvmsg exit_recvmsg enter_sendmsg exit_sendmsg enter_accept exit_accept enter_accept4 exit_accept4 enter_connect exit_connect sock_state process_exec"
bpfstats() {
	bpftool prog show -j | python3 -c '
import json, sys
names = set(sys.argv[1].split())
t = c = 0
for p in json.load(sys.stdin):
    if p.get("name") in names:
        t += p.get("run_time_ns", 0); c += p.get("run_cnt", 0)
print(t, c)' "$progs"
}

wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/" >/dev/null # warm up
declare -a base_rps base_p99 on_rps on_p99
sysctl -qw kernel.bpf_stats_enabled=1
for r in $(seq "$ROUNDS"); do
	read -r rps p99 < <(bench)
	base_rps+=("$rps"); base_p99+=("$p99")
	echo "round $r without sensor: $rps req/s, p99 ${p99}us"

	"$bin/overhead" -port "$PORT" >"$bin/sensor.out" 2>"$bin/sensor.err" &
	sensor=$!
	until grep -q ready "$bin/sensor.out" 2>/dev/null; do sleep 0.1; kill -0 "$sensor" || { cat "$bin/sensor.err"; exit 1; }; done
	read -r t0 c0 < <(bpfstats)
	read -r rps p99 < <(bench)
	read -r t1 c1 < <(bpfstats)
	kill -INT "$sensor"; wait "$sensor" || true; sensor=
	on_rps+=("$rps"); on_p99+=("$p99")
	python3 - "$rps" "$p99" "$t0" "$c0" "$t1" "$c1" "$bin/sensor.out" "${DUR%s}" <<'PY'
import json, sys
rps, p99 = float(sys.argv[1]), float(sys.argv[2])
t0, c0, t1, c1 = map(int, sys.argv[3:7])
dur = float(sys.argv[8])
out = [l for l in open(sys.argv[7]) if l.startswith("{")]
s = json.loads(out[-1]) if out else {}
st = s.get("stats", {})
calls = max(c1 - c0, 1)
print(f"round with sensor: {rps:.0f} req/s, p99 {p99:.0f}us; sensor {s.get('cores', 0):.3f} cores "
      f"({s.get('cores', 0) / max(rps, 1) * 10000:.3f} cores per 10k req/s), {s.get('transactions')} transactions; "
      f"BPF {(t1 - t0) / calls:.0f} ns per program run over {calls} runs, "
      f"{(t1 - t0) / 1e9 / dur:.3f} cores in BPF, {(t1 - t0) / (rps * dur):.0f} ns per request; "
      f"lost {st.get('LostBytes')} bytes, truncated {st.get('TruncatedBytes')}")
PY
done
python3 - "${base_rps[*]}" "${base_p99[*]}" "${on_rps[*]}" "${on_p99[*]}" <<'PY'
import statistics, sys
b_rps, b_p99, o_rps, o_p99 = ([float(x) for x in a.split()] for a in sys.argv[1:5])
m = statistics.median
print(f"median req/s: {m(b_rps):.0f} without, {m(o_rps):.0f} with (ratio {m(o_rps) / m(b_rps):.3f})")
print(f"median p99:   {m(b_p99):.0f}us without, {m(o_p99):.0f}us with (ratio {m(o_p99) / m(b_p99):.3f})")
PY
