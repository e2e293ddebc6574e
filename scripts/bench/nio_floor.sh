#!/usr/bin/env bash
# The memory floor under aviary's RSS per idle connection: a bare SwiftNIO server (aviary's
# channel options, no MQTT) holding N plain TCP connections: no handler; one handler; one
# handler after each socket sent one byte (NIO keeps the read buffer for reuse).
# Usage: scripts/bench/nio_floor.sh [N]   (default 10000)
set -euo pipefail
cd "$(dirname "$0")"
n=${1:-10000}
port=18890
(cd nio-floor && swift build -c release 2>&1 | grep -E "error" || true)
bin=nio-floor/.build/release/nio-floor
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
measure() {  # $1 = label, $2 = handler|none, $3 = bytes sent per socket
    "$bin" $port "$2" > /tmp/nio-floor.out 2>&1 &
    server=$!
    for _ in $(seq 100); do grep -q listening /tmp/nio-floor.out 2>/dev/null && break; sleep 0.1; done
    before=$(rss $server)
    python3 raw_sockets.py $port "$n" "$3" > /tmp/nio-floor-clients.out &
    clients=$!
    for _ in $(seq 600); do grep -q connected /tmp/nio-floor-clients.out 2>/dev/null && break; sleep 0.1; done
    sleep 2
    after=$(rss $server)
    kill $clients $server 2>/dev/null; wait $clients $server 2>/dev/null || true
    echo "| $1 | $n | $(( (after - before) * 1024 / n )) |"
}
echo "| bare SwiftNIO server | connections | RSS bytes per connection |"
echo "| --- | ---: | ---: |"
measure "no handler" none 0
measure "one handler" handler 0
measure "one handler, 1 byte read" handler 1
