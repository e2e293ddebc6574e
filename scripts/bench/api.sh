#!/usr/bin/env bash
# Management API latency: the first 50-row page, a page sorted by send_oct, a page sorted by
# mqueue_len (0 for every simulated session: all tie, so ties are broken by client id), a
# _like_clientid search and a lookup by id, out of N clients in the table
# (simulated sessions: offline sessions with random counters; no sockets), release build.
# Usage: scripts/bench/api.sh [CLIENTS...]   (default: 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product aviary 2>&1 | grep -E "error|Compiling Broker" || true
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000)
for n in "${sizes[@]}"; do
    log=$(mktemp)
    .build/release/aviary serve --mqtt-host 127.0.0.1 --mqtt-port 0 --api-port 0 --ws-port off --log-level error \
        --sys-interval 0 --simulate-clients "$n" >"$log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q "management API on" "$log" && break; sleep 0.1; done
    port=$(grep "management API on" "$log" | sed 's/.*://')
    echo "clients=$n"
    python3 scripts/bench/api_latency.py "$port" "/api/v4/clients?_limit=50" 200
    python3 scripts/bench/api_latency.py "$port" "/api/v4/clients?_sort=send_oct&_order=desc&_limit=50" 200
    python3 scripts/bench/api_latency.py "$port" "/api/v4/clients?_sort=send_oct&_order=desc&_limit=50&_page=20" 200
    python3 scripts/bench/api_latency.py "$port" "/api/v4/clients?_sort=mqueue_len&_order=desc&_limit=50" 200
    python3 scripts/bench/api_latency.py "$port" "/api/v4/clients?_like_clientid=sim-99&_limit=50" 200
    python3 scripts/bench/api_latency.py "$port" "/api/v4/clients?clientid=sim-4242" 200
    kill -TERM "$pid"; wait "$pid" || true; rm -f "$log"
done
