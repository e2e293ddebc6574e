#!/usr/bin/env bash
# Regenerates screenshots/*.png from the real dashboard: `aviary --demo` in tmux, driven with
# keys, captured with colours, rendered to PNG. Installs tmux, aha, chromium and fonts if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in tmux aha chromium fonts-dejavu-core; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
swift build >/dev/null 2>&1 || swift build
bin=$(swift build --show-bin-path)/aviary
cols=140 rows=32
work=$(mktemp -d); sock=$work/tmux.sock
trap 'tmux -S "$sock" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
t() { tmux -S "$sock" "$@"; }
start() { # NAME COMMAND...
    local name=$1; shift
    t -f /dev/null new-session -d -s "$name" -x $cols -y $rows -e LANG=C.UTF-8 -e TERM=xterm-256color -e XDG_CONFIG_HOME="$work/config" "$* ; sleep 600"
}
wait_for() { # SESSION TEXT
    for _ in $(seq 200); do t capture-pane -t "$1" -p | grep -qF -- "$2" && return 0; sleep 0.05; done
    echo "timed out waiting for '$2'" >&2; t capture-pane -t "$1" -p >&2; return 1
}
shot() { # SESSION FILE
    t capture-pane -t "$1" -p -e -N > "$work/screen.ans"
    scripts/ansi2png.sh "$work/screen.ans" "screenshots/$2" $cols $rows
    echo "screenshots/$2"
}
mkdir -p screenshots
start main "$bin --demo --mqtt-port 0 --api-port 0 --log-file $work/aviary.log"
wait_for main "camera-door"
sleep 5                                   # let rates and bursts build up
t send-keys -t main p; wait_for main "PAUSED"
shot main clients.png
t send-keys -t main p; wait_for main "resumed"
t send-keys -t main F6; wait_for main "Sort by"
t send-keys -t main Down Down Down; shot main sort-menu.png
t send-keys -t main Escape
t send-keys -t main / ; t send-keys -t main -l sensor; wait_for main "of 8 shown"
shot main filter.png
t send-keys -t main Escape Escape / ; t send-keys -t main -l ops; t send-keys -t main Enter Enter
wait_for main "subscriptions (1)"
shot main detail.png
t send-keys -t main Escape Escape; sleep 1.2; t send-keys -t main g d; wait_for main "[y/N]"
shot main disconnect.png
t send-keys -t main n
t send-keys -t main s; wait_for main "TOPIC FILTER"; sleep 1.2
shot main subscriptions.png
t send-keys -t main Escape q
# The cluster view, against the local EMQX 5/6 stand-in the tests use.
python3 Tests/IntegrationTests/Scripts/fake_emqx5.py 0 --clients 24 > "$work/emqx.out" 2>&1 &
emqx=$!
for _ in $(seq 100); do grep -q "listening" "$work/emqx.out" && break; sleep 0.1; done
port=$(sed -n 's/listening //p' "$work/emqx.out")
start cluster "$bin watch http://127.0.0.1:$port --api-key key-1 --api-secret secret-1"
wait_for cluster "dev-0001"
sleep 4                                   # rates from the counters
shot cluster emqx-clients.png
t send-keys -t cluster n; wait_for cluster "stopped"
shot cluster cluster.png
kill "$emqx" 2>/dev/null || true
# The unreachable banner: a headless broker with a few clients, watched, then stopped.
"$bin" serve --mqtt-host 127.0.0.1 --mqtt-port 0 --api-port 0 --ws-port off --log-level error --sys-interval 0 > "$work/serve.out" 2>&1 &
serve=$!
for _ in $(seq 100); do grep -q "management API on" "$work/serve.out" && break; sleep 0.1; done
mqtt=$(grep "listening for MQTT" "$work/serve.out" | sed 's/.*://'); api=$(grep "management API on" "$work/serve.out" | sed 's/.*://')
for id in pump-1 pump-2 valve-7; do mosquitto_sub -p "$mqtt" -i "$id" -t "plant/#" -q 1 >/dev/null & done
start down "$bin watch http://127.0.0.1:$api --interval 1"
wait_for down "valve-7"
kill "$serve"; wait "$serve" 2>/dev/null || true
wait_for down "UNREACHABLE"
shot down unreachable.png
kill %2 %3 %4 2>/dev/null || true
