#!/usr/bin/env bash
# Memory over time with persistence on: one broker, ROUNDS rounds of QoS 1 at 5,000 msg/s for
# SECONDS each through persistent sessions (`aviary bench latency --persistent-sessions`), the
# broker's RSS after each; prints one JSON line with the rounds and the slope after the first
# two (warm-up) rounds in KiB per 100,000 messages, and the same for the heap bytes in use
# (`aviary_process_heap_bytes`, exact where RSS moves by pages). A steady broker stays within a
# few KiB; the leak found in the durable store's writer (two boxes per batch) showed as ~2,000 KiB.
# Usage: scripts/bench/rss_slope.sh [ROUNDS] [SECONDS] [BINARY]   (default 8 10 .build/release/aviary)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-8}; seconds=${2:-10}; bin=${3:-.build/release/aviary}
[ "$bin" = .build/release/aviary ] && swift build -c release --product aviary 2>&1 | grep -E "error" || true
work=$(mktemp -d); port=${RSS_PORT:-18894}
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" serve --mqtt-host 127.0.0.1 --mqtt-port $port --api-port 0 --ws-port off --log-level error --sys-interval 0 \
    --persistence on --persistence-dir "$work/store" > "$work/broker.out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q "management API on" "$work/broker.out" && break; sleep 0.1; done
api=$(grep -o "management API on [^ ]*" "$work/broker.out" | grep -o "[0-9]*$")
heap() { curl -s -u admin:public "http://127.0.0.1:$api/metrics" | awk '/^aviary_process_heap_bytes /{printf "%d", $2}'; }
rss=(); heaps=()
for i in $(seq "$rounds"); do
    "$bin" bench latency --port $port --rate 5000 --duration "$seconds" --qos 1 --persistent-sessions > "$work/round.$i"
    grep -q '"loss":0' "$work/round.$i" || { echo "round $i lost messages: $(cat "$work/round.$i")" >&2; exit 1; }
    rss+=("$(awk '/VmRSS/{print $2}' "/proc/$pid/status")")
    heaps+=("$(heap)")
done
kill -TERM "$pid"; wait "$pid" || true
# The first two rounds warm up (pools, caches, the store's pages); the slope is over the rest.
messages=$(( 5000 * seconds * (rounds - 2) ))
slope=$(( (rss[rounds - 1] - rss[1]) * 100000 / (messages > 0 ? messages : 1) ))
heap_slope=$(( (heaps[rounds - 1] - heaps[1]) * 100000 / (messages > 0 ? messages : 1) ))
list=$(IFS=,; echo "${rss[*]}"); heap_list=$(IFS=,; echo "${heaps[*]}")
echo "{\"label\":\"rss slope, persistence on\",\"rounds\":$rounds,\"messages_per_round\":$(( 5000 * seconds )),\"rss_kib\":[$list],\"slope_kib_per_100k\":$slope,\"heap_bytes\":[$heap_list],\"heap_slope_bytes_per_100k\":$heap_slope}"
