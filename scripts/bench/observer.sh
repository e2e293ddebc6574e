#!/usr/bin/env bash
# The observer effect: message latency at a fixed rate (lean C client, QoS 1, 10,000 msg/s) on
# a broker with no sessions and nobody polling, against the same broker holding N offline
# sessions (--simulate-clients) while a dashboard-like poller asks for the sorted top 50 every
# second; between them, the same N sessions with nobody polling (what the sessions cost by
# themselves: on a VM, memory the host samples and reclaims shows here). Prints all three, the
# ratios to the first, and the memory per offline session.
# Usage: scripts/bench/observer.sh [SESSIONS] [SECONDS] [PAIRS]   (default 100000 10 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
sessions=${1:-100000}; seconds=${2:-10}; pairs=${3:-3}
swift build -c release --product aviary 2>&1 | grep -E "error" || true
lean=$(scripts/bench/lean/build.sh)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
poll() {  # $1 = API port: the dashboard's request once a second
    python3 - "$1" <<'PY'
import base64, http.client, sys, time
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
auth = {"Authorization": "Basic " + base64.b64encode(b"admin:public").decode()}
while True:
    try:
        conn.request("GET", "/api/v4/clients?_sort=send_oct&_order=desc&_limit=50", headers=auth)
        conn.getresponse().read()
    except OSError:  # the broker is stopping
        sys.exit(0)
    time.sleep(1)
PY
}
run() {  # $1 = simulated sessions (0 = none), $2 = poll (1) or not (0); prints one JSON line
    .build/release/aviary serve --mqtt-host 127.0.0.1 --mqtt-port 0 --api-port 0 --ws-port off --log-level error \
        --sys-interval 0 --simulate-clients "$1" > "$work/broker.out" 2>&1 &
    local pid=$!
    for _ in $(seq 200); do grep -q "management API on" "$work/broker.out" && break; sleep 0.1; done
    local mqtt api rss poller=""
    mqtt=$(grep "listening for MQTT on" "$work/broker.out" | sed 's/.*://')
    api=$(grep "management API on" "$work/broker.out" | sed 's/.*://')
    sleep 1
    rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
    if [ "$2" = 1 ]; then poll "$api" & poller=$!; fi
    line=$("$lean" "$mqtt" 10000 "$seconds" 1)
    [ -n "$poller" ] && kill "$poller"
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    echo "{\"sessions\":$1,\"polled\":$2,\"rss_kib\":$rss,\"lean\":$line}"
}
for i in $(seq "$pairs"); do
    run 0 0 | tee -a "$work/results.jsonl"
    run "$sessions" 0 | tee -a "$work/results.jsonl"
    run "$sessions" 1 | tee -a "$work/results.jsonl"
done
python3 - "$work/results.jsonl" "$sessions" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
quiet = [r for r in rows if r["sessions"] == 0]
idle = [r for r in rows if r["sessions"] == n and not r["polled"]]
busy = [r for r in rows if r["sessions"] == n and r["polled"]]
med = lambda rs, k: statistics.median(r["lean"][k] for r in rs)
print(f"| QoS 1 at 10,000 msg/s, lean client | no sessions, no polling | {n:,} sessions, no polling | {n:,} sessions, top-50 polled every second | ratio polled / none | ratio sessions only / none |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for key, name in (("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs"), ("max_us", "max µs")):
    a, i, b = med(quiet, key), med(idle, key), med(busy, key)
    print(f"| {name} | {a:.0f} | {i:.0f} | {b:.0f} | {b / a:.2f} | {i / a:.2f} |")
print(f"| loss (max) | {max(r['lean']['loss'] for r in quiet)} | {max(r['lean']['loss'] for r in idle)} | {max(r['lean']['loss'] for r in busy)} | | |")
per = (statistics.median(r["rss_kib"] for r in busy) - statistics.median(r["rss_kib"] for r in quiet)) * 1024 / n
print(f"| RSS per offline session | | {per:,.0f} bytes | | | |")
PY
