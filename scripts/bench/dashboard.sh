#!/usr/bin/env bash
# Dashboard cost with N real connected clients: CPU time of `aviary watch` per poll (release
# build, 1 s interval, 200x50 terminal in tmux), and the poll latency it reports.
# Usage: scripts/bench/dashboard.sh [CLIENTS] [SECONDS]   (default 10000 30)
#        DASHBOARD_SOURCE=emqx5: watch the EMQX 5/6 stand-in of the tests with CLIENTS clients
#        instead (no server-side sort there: every row is fetched, ranked and kept in history)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-10000} secs=${2:-30}
swift build -c release --product aviary 2>&1 | grep -E "error" || true
swift build -c release --product aviary-dashboard 2>&1 | grep -E "error" || true
bin=.build/release/aviary
work=$(mktemp -d); sock=$work/tmux.sock
cleanup() { tmux -S "$sock" kill-server 2>/dev/null || true; kill "${clients:-}" "${serve:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
if [ "${DASHBOARD_SOURCE:-aviary}" = emqx5 ]; then
    python3 Tests/IntegrationTests/Scripts/fake_emqx5.py 0 --clients "$n" > "$work/serve.out" 2>&1 &
    serve=$!
    for _ in $(seq 100); do grep -q "listening" "$work/serve.out" && break; sleep 0.1; done
    api=$(sed -n 's/listening //p' "$work/serve.out")
    creds="--api-key key-1 --api-secret secret-1"
else
    $bin serve --mqtt-host 127.0.0.1 --mqtt-port 0 --api-port 0 --ws-port off --log-level error --sys-interval 0 > "$work/serve.out" 2>&1 &
    serve=$!
    for _ in $(seq 100); do grep -q "management API on" "$work/serve.out" && break; sleep 0.1; done
    mqtt=$(grep "listening for MQTT" "$work/serve.out" | sed 's/.*://'); api=$(grep "management API on" "$work/serve.out" | sed 's/.*://')
    python3 scripts/bench/idle_clients.py "$mqtt" "$n" > "$work/clients.out" 2>&1 &
    clients=$!
    for _ in $(seq 600); do grep -q connected "$work/clients.out" && break; sleep 0.1; done
    creds=""
fi
tmux -S "$sock" -f /dev/null new-session -d -s b -x 200 -y 50 -e LANG=C.UTF-8 -e XDG_CONFIG_HOME="$work/config" "$bin watch http://127.0.0.1:$api --interval 1 $creds; sleep 600"
sleep 5
shell=$(tmux -S "$sock" display -t b -p '#{pane_pid}')
pid=$(cut -d' ' -f1 "/proc/$shell/task/$shell/children")
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu); sleep "$secs"; c1=$(cpu)
latency=$(tmux -S "$sock" capture-pane -t b -p | grep -o "last poll [0-9:]* ([0-9]* ms)" | head -1 || true)
shown=$(tmux -S "$sock" capture-pane -t b -p | head -1 | sed 's/.*(aviary) │ //; s/.*(emqx5) │ //; s/ *$//' || true)
rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
echo "{\"clients\": $n, \"seconds\": $secs, \"dashboard_cpu_ms_per_poll\": $(( (c1 - c0) * 1000 / ticks / secs )), \"dashboard_cpu_percent\": $(( (c1 - c0) * 100 / ticks / secs )), \"dashboard_rss_kib\": $rss, \"header\": \"$shown\", \"poll\": \"$latency\"}"
