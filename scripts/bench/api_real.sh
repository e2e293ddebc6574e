#!/usr/bin/env bash
# Management API latency with N real connected MQTT clients (idle, from `aviary bench conns`):
# a 50-row page sorted by send_oct, p50/p99 over 200 requests. Release build.
# Usage: scripts/bench/api_real.sh [CLIENTS]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000}
swift build -c release --product aviary 2>&1 | grep -E "error" || true
bin=.build/release/aviary
log=$(mktemp)
$bin serve --mqtt-host 127.0.0.1 --mqtt-port 0 --api-port 0 --ws-port off --log-level error --sys-interval 0 > "$log" 2>&1 &
pid=$!
trap 'kill $(jobs -p) 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q "management API on" "$log" && break; sleep 0.1; done
mqtt=$(grep "listening for MQTT" "$log" | sed 's/.*://'); api=$(grep "management API on" "$log" | sed 's/.*://')
$bin bench conns --port "$mqtt" --connections "$n" --duration 120 > /dev/null &
for _ in $(seq 600); do
    [ "$(ls /proc/$pid/fd | wc -l)" -ge $(( n * 98 / 100 )) ] && break
    sleep 0.1
done
echo "real clients=$(curl -s -u admin:public "http://127.0.0.1:$api/api/v4/stats" | sed 's/.*"connections.count":\([0-9]*\).*/\1/')"
python3 scripts/bench/api_latency.py "$api" "/api/v4/clients?_sort=send_oct&_order=desc&_limit=50" 200
