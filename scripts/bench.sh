#!/usr/bin/env bash
# Side-by-side benchmark of aviary and Mosquitto (Debian's package) on loopback, release build.
# Each scenario runs against both brokers alternately (A B A B A B by default), each run on a
# freshly started broker whose CPU time and peak RSS are read from /proc; the table shows
# medians and the ratio aviary / Mosquitto. Then: RSS per idle connection (10,000 and the most
# the file limit allows), the management API with 10,000 real clients and 100,000 simulated
# entries, and the dashboard's CPU per poll with 10,000 clients.
# Usage: scripts/bench.sh [PAIRS]   (default 3; BENCH_QUICK=1 for small sizes;
#        BENCH_ONLY=REGEX runs only the parts whose label matches, e.g. 'fanin', 'idle|api';
#        BENCH_BASELINE=PATH puts another aviary binary, e.g. a build of an earlier commit, in
#        Mosquitto's place, with the same settings: before/after figures from one run)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
quick=${BENCH_QUICK:-0}
scripts/deps.sh
if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then
    echo "==> installing mosquitto"
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mosquitto >/dev/null
fi
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
swift build -c release --product aviary 2>&1 | grep -E "error|warning: unre" || true
bin=.build/release/aviary
work=$(mktemp -d)
results=$work/results.jsonl
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)

# Both brokers: loopback, no persistence, queues large enough that QoS 1/2 never drop,
# 100 messages in flight per client. Mosquitto keeps its other defaults (Nagle on).
cat > "$work/mosquitto.conf" <<CONF
listener 18883 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_inflight_messages 100
max_connections -1
CONF

# The overload parts run both brokers at their defaults (aviary: max_queued_messages 1000,
# queue_high_water 500, max_inflight 100; Mosquitto 2.0: max_queued_messages 1000,
# max_inflight_messages 20), no persistence.
cat > "$work/mosquitto-defaults.conf" <<CONF
listener 18883 127.0.0.1
allow_anonymous true
persistence false
CONF
defaults=0

# The durability parts: the same limits as the first conf, with persistence on both sides.
# Mosquitto writes its database only every autosave_interval (1800 s) and at shutdown, so it
# acknowledges before anything is on disk; aviary acknowledges once the batch is fsynced.
cat > "$work/mosquitto-durable.conf" <<CONF
listener 18883 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/mosquitto-store/
max_queued_messages 1000000
max_inflight_messages 100
max_connections -1
CONF
durable=0
aviary_flags=()  # extra flags for the aviary under test (not the baseline) in a part
durable_sync=always
keep_store=0

baseline=${BENCH_BASELINE:-}
other=mosquitto
[ -n "$baseline" ] && other=baseline
start_broker() {  # $1 = aviary|mosquitto|baseline; sets pid and port
    if [ "$1" = aviary ] || [ "$1" = baseline ] || [ "$1" = aviary1 ]; then
        port=18884
        broker_bin=$bin
        [ "$1" = baseline ] && broker_bin=$baseline
        # QoS 0 too is never dropped (publishers held back instead), as Mosquitto with 1,000,000
        # queued messages does not drop it.
        queues=(--max-queued-messages 1000000 --max-inflight 100 --overload-policy throttle)
        [ "$defaults" = 1 ] && queues=(--max-stall "${max_stall:-30}")
        [ "$1" = aviary1 ] && queues+=(--event-loops 1)
        [ "$1" = aviary ] && queues+=("${aviary_flags[@]}")
        if [ "$durable" = 1 ]; then
            [ "$keep_store" = 1 ] || rm -rf "$work/store"
            queues+=(--persistence on --persistence-dir "$work/store" --persistence-sync "$durable_sync")
        fi
        # No WebSocket listener (an earlier build given as BENCH_BASELINE may not know the flag).
        ws=(); "$broker_bin" serve --help 2>/dev/null | grep -q -- --ws-port && ws=(--ws-port off)
        [ "${ws_on:-0}" = 1 ] && ws=(--ws-port 18887)
        $broker_bin serve --mqtt-host 127.0.0.1 --mqtt-port $port --api-port 18885 "${ws[@]}" --log-level error --sys-interval 0 \
            "${queues[@]}" > "$work/broker.out" 2>&1 &
        pid=$!
        for _ in $(seq 300); do grep -q "management API on" "$work/broker.out" && break; sleep 0.1; done
    else
        port=18883
        conf=$work/mosquitto.conf
        [ "$defaults" = 1 ] && conf=$work/mosquitto-defaults.conf
        if [ "$durable" = 1 ]; then
            conf=$work/mosquitto-durable.conf
            rm -rf "$work/mosquitto-store"; mkdir -p "$work/mosquitto-store"
        fi
        "$mosquitto_bin" -c "$conf" > "$work/broker.out" 2>&1 &
        pid=$!
        for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    fi
}
stop_broker() { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
cpu_seconds() { awk -v t="$ticks" '{printf "%.3f", ($14 + $15) / t}' "/proc/$1/stat"; }
peak_kib() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }

selected() { [ -z "${BENCH_ONLY:-}" ] || [[ "$1" =~ $BENCH_ONLY ]]; }
# One part: each pair of runs starts each broker afresh and runs the client command once ($1 =
# label, the rest = the command; the word PORT in it stands for the broker's port). A client
# that exits non-zero after printing its JSON line (the lean connect client, when some attempts
# failed) is counted with its failures; one that prints nothing stops the benchmark.
measure() {
    label=$1; shift
    selected "$label" || return 0
    for i in $(seq "$pairs"); do
        for broker in aviary $other; do
            start_broker "$broker"
            local command=("${@/#PORT/$port}")
            c0=$(cpu_seconds "$pid")
            line=$("${command[@]}") || [ -n "$line" ] || { echo "bench part '$label': $1 failed" >&2; exit 1; }
            c1=$(cpu_seconds "$pid")
            peak=$(peak_kib "$pid")
            stop_broker
            echo "{\"label\":\"$label\",\"broker\":\"$broker\",\"run\":$i,\"cpu_s\":$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.3f", b - a}'),\"peak_rss_kib\":$peak,\"bench\":$line}" | tee -a "$results"
        done
    done
}
run() {  # $1 = label, rest = aviary bench arguments
    local label=$1; shift
    measure "$label" "$bin" bench "$@" --port PORT
}

m=200000; fo=50000; lat=10
[ "$quick" = 1 ] && { m=20000; fo=5000; lat=3; }
run "fanin qos0" fanin --qos 0 --publishers 8 --messages $((m / 8))
run "fanin qos1" fanin --qos 1 --publishers 8 --messages $((m / 8))
run "pairs qos0" pairs --qos 0 --publishers 8 --messages $((m / 8))
run "pairs qos1" pairs --qos 1 --publishers 8 --messages $((m / 8))
run "pairs qos2" pairs --qos 2 --publishers 8 --messages $((m / 16))
run "fanout qos0" fanout --qos 0 --subscribers 16 --messages $((fo / 16 * 4))
run "fanout qos1" fanout --qos 1 --subscribers 16 --messages $((fo / 16 * 4))
run "latency qos0 10k/s" latency --qos 0 --rate 10000 --duration $lat
run "latency qos1 10k/s" latency --qos 1 --rate 10000 --duration $lat
# The same at 10,000 msg/s with the lean C client (scripts/bench/lean: epoll, no allocation),
# whose own floor is measured first against a stub broker that only relays (--relay).
lean_latency() {  # $1 = label, $2 = QoS, $3 = "persistent" for persistent client sessions
    label=$1
    extra=(); [ -n "${3:-}" ] && extra=(64 "$3")
    selected "$label" || return 0
    lean=$(scripts/bench/lean/build.sh)
    "$lean" --relay 18899 > /dev/null & relay=$!
    sleep 0.3
    echo "{\"label\":\"$label floor\",\"floor\":$("$lean" 18899 10000 "$lat" "$2")}" | tee -a "$results"
    wait $relay 2>/dev/null || true
    # aviary1: the same build with one event loop (event_loops 1, Mosquitto's threading).
    for i in $(seq "$pairs"); do
        for broker in aviary aviary1 $other; do
            start_broker "$broker"
            line=$("$lean" "$port" 10000 "$lat" "$2" "${extra[@]}")
            stop_broker
            echo "{\"label\":\"$label\",\"broker\":\"$broker\",\"run\":$i,\"lean\":$line}" | tee -a "$results"
        done
    done
}
lean_latency "lean latency qos0 10k/s" 0
lean_latency "lean latency qos1 10k/s" 1
# Connection set-up: 10,000 clients connect (64 attempts at a time, under Mosquitto's fixed listen
# backlog of 100 — more would measure the kernel's SYN retries), are held 0.5 s and close. First
# with the lean C client (scripts/bench/lean/mqtt_connect.c: epoll, one thread, its own CPU per
# connection printed beside the brokers'), then with the NIO load generator, whose own ~100 µs
# per connection on the same two cores caps both brokers near 10,000/s.
lean_connect() {  # $1 = label, $2 = connections
    selected "$1" || return 0
    measure "$1" "$(scripts/bench/lean/build.sh mqtt_connect)" PORT "$2" 64 0.5
}
lean_connect "connect 10000 lean" 10000
aviary_flags=(--listener-per-loop true)
lean_connect "connect 10000 lean, listener_per_loop" 10000
aviary_flags=()
run "connect 10000" conns --connections 10000 --concurrency 64 --duration 0.5
run "fanin qos1 v5" fanin --qos 1 --publishers 8 --messages $((m / 8)) --mqtt-version 5

# Overload at default settings: 8 publishers at full speed into 1 subscriber, QoS 1 (64 in
# flight per publisher) and QoS 0. What counts: messages acknowledged and then never
# delivered (must be 0), delivered msg/s, latency of what was delivered, peak RSS.
defaults=1
run "overload fanin qos1 (defaults)" fanin --qos 1 --publishers 8 --messages $((m / 8))
run "overload fanin qos0 (defaults)" fanin --qos 0 --publishers 8 --messages $((m / 8))
run "overload pairs qos0 (defaults)" pairs --qos 0 --publishers 8 --messages $((m / 8))
defaults=0

# Durability: every client keeps its session (--persistent-sessions), so what is queued for the
# subscribers is stored. aviary persistence on (persistence_sync always, the default; then a
# 10 ms group commit) against Mosquitto persistence true, same queue and in-flight limits.
durable=1 durable_sync=always
run "durable fanin qos1" fanin --qos 1 --publishers 8 --messages $((m / 8)) --persistent-sessions
run "durable pairs qos1" pairs --qos 1 --publishers 8 --messages $((m / 8)) --persistent-sessions
run "durable latency qos1 10k/s" latency --qos 1 --rate 10000 --duration $lat --persistent-sessions
lean_latency "durable lean latency qos1 10k/s" 1 persistent
durable_sync=10
run "durable(10ms) pairs qos1" pairs --qos 1 --publishers 8 --messages $((m / 8)) --persistent-sessions
durable=0 durable_sync=always

# Recovery: persistent sessions subscribed to one topic, each with the same queued messages,
# written by the broker itself; then SIGKILL and a restart on the same directory. The time is
# the broker's own ("durable store loaded … duration.ms"), from opening the store to serving.
recovery() {  # $1 = sessions, $2 = messages per session
    durable=1
    start_broker aviary
    fill=$(python3 scripts/bench/recovery_sessions.py "$port" "$1" "$2")
    kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
    bytes=$(du -sb "$work/store" | cut -f1)
    keep_store=1
    t0=$(date +%s.%N)
    start_broker aviary
    t1=$(date +%s.%N)
    loaded=$(curl -s -u admin:public http://127.0.0.1:18885/api/v4/metrics | python3 -c '
import json, sys
body = json.load(sys.stdin)
rows = body if isinstance(body, list) else body.get("data", [body])
metrics = rows[0].get("metrics", rows[0])
print(json.dumps({k: metrics[k] for k in ("store.recovery_ms", "store.recovered.sessions", "store.recovered.messages", "store.bytes")}))')
    rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
    stop_broker
    keep_store=0 durable=0
    echo "{\"label\":\"recovery\",\"fill\":$fill,\"store_bytes\":$bytes,\"loaded\":$loaded,\"start_to_api_s\":$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b - a}'),\"rss_kib\":$rss}" | tee "$work/recovery.json"
}
if selected recovery; then
    if [ "$quick" = 1 ]; then recovery 10000 10; else recovery 100000 10; fi
fi

# A stuck subscriber (subscribes at QoS 1, never reads) and the publisher feeding it, next to
# 10 healthy QoS 1 pairs on other topics: the pairs' msgs/s against the same pairs alone, and
# whether the stuck client is disconnected after max_stall (5 s here; Mosquitto has no such
# setting and keeps it).
stuck() {  # $1 = broker
    defaults=1 max_stall=5
    start_broker "$1"
    alone=$($bin bench pairs --qos 1 --publishers 10 --messages $((m / 10)) --port "$port")
    python3 scripts/bench/stuck_subscriber.py "$port" stuck/# > "$work/stuck.out" 2>&1 & stuckpid=$!
    sleep 0.5
    yes "$(head -c 64 /dev/zero | tr '\0' s)" | head -n 200000 | timeout 30 mosquitto_pub -p "$port" -q 1 -t stuck/t -l -i feeder > /dev/null 2>&1 & feeder=$!
    sleep 1
    during=$($bin bench pairs --qos 1 --publishers 10 --messages $((m / 10)) --port "$port")
    for _ in $(seq 100); do kill -0 "$stuckpid" 2>/dev/null || break; sleep 0.1; done
    sleep 1
    disconnected=false
    kill -0 "$stuckpid" 2>/dev/null || disconnected=true
    kill "$stuckpid" "$feeder" 2>/dev/null || true
    wait "$stuckpid" "$feeder" 2>/dev/null || true
    stop_broker
    defaults=0 max_stall=
    echo "{\"label\":\"stuck\",\"broker\":\"$1\",\"alone\":$alone,\"during\":$during,\"stuck_disconnected_within_s\":$([ $disconnected = true ] && echo 15 || echo null)}" | tee -a "$results"
}
if selected stuck; then
    for broker in aviary $other; do stuck $broker; done
fi

# RSS per idle connection: the broker's RSS with C idle clients held open, minus its RSS before.
idle() {  # $1 = broker, $2 = connections
    start_broker "$1"
    sleep 0.5
    base=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
    half=$(( $2 / 2 ))
    $bin bench conns --port "$port" --connections $half --duration 6 > "$work/c1.out" &
    b1=$!
    $bin bench conns --port "$port" --connections $(( $2 - half )) --duration 6 > "$work/c2.out" &
    b2=$!
    for _ in $(seq 300); do
        n=$(ls "/proc/$pid/fd" | wc -l)
        [ "$n" -ge $(( $2 * 98 / 100 )) ] && break
        sleep 0.1
    done
    sleep 2
    rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
    wait $b1 $b2 || true
    connected=$(( $(sed 's/.*"connected":\([0-9]*\).*/\1/' "$work/c1.out") + $(sed 's/.*"connected":\([0-9]*\).*/\1/' "$work/c2.out") ))
    stop_broker
    echo "{\"label\":\"idle $2\",\"broker\":\"$1\",\"connections\":$2,\"connected\":$connected,\"rss_before_kib\":$base,\"rss_kib\":$rss,\"per_conn_bytes\":$(( (rss - base) * 1024 / (connected > 0 ? connected : 1) ))}" | tee -a "$results"
}
conns=10000; max=19900
[ "$quick" = 1 ] && { conns=2000; max=4000; }
# Past the file limit: C connection attempts (two client processes, each under its own limit)
# against a broker that can hold ~19,900. Every attempt must be answered (connected, or
# refused: CONNACK 0x97 or a closed socket), promptly, without the broker spinning on EMFILE.
flood() {  # $1 = broker, $2 = attempts
    start_broker "$1"
    sleep 0.5
    c0=$(cpu_seconds "$pid")
    t0=$(date +%s.%N)
    half=$(( $2 / 2 ))
    $bin bench conns --port "$port" --connections $half --duration 2 --timeout 60 > "$work/f1.out" &
    b1=$!
    $bin bench conns --port "$port" --connections $(( $2 - half )) --duration 2 --timeout 60 > "$work/f2.out" &
    b2=$!
    wait $b1 $b2 || true
    t1=$(date +%s.%N)
    c1=$(cpu_seconds "$pid")
    field() { sed "s/.*\"$1\":\([0-9]*\).*/\1/" "$2"; }
    connected=$(( $(field connected "$work/f1.out") + $(field connected "$work/f2.out") ))
    failed=$(( $(field failed "$work/f1.out") + $(field failed "$work/f2.out") ))
    stop_broker
    echo "{\"label\":\"flood $2\",\"broker\":\"$1\",\"connections\":$2,\"connected\":$connected,\"failed\":$failed,\"seconds\":$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}'),\"cpu_s\":$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b - a}')}" | tee -a "$results"
}
if selected idle; then
    for broker in aviary $other; do idle $broker $conns; idle $broker $max; done
fi
if selected flood; then
    attempts=20400
    [ "$quick" = 1 ] && attempts=4400
    for broker in aviary $other; do flood $broker $attempts; done
fi

# Across a bridge: 8 publishers on an edge broker, 1 subscriber on its upstream (a Mosquitto
# with the first conf's limits on 18883), the edge bridging `#` out at the same QoS. The edge is
# aviary (a `connection` block) or Mosquitto (its `connection` block), both with 1,000,000
# queued messages, 100 in flight and no persistence; both speak MQTT 3.1.1 upstream.
bridge_edge() {  # $1 = aviary|mosquitto, $2 = QoS; sets pid (the edge) and port
    if [ "$1" = aviary ]; then
        port=18884
        printf 'connection = up\naddress = 127.0.0.1:18883\ntopic = # out %s\n' "$2" > "$work/edge.conf"
        $bin serve --config "$work/edge.conf" --mqtt-host 127.0.0.1 --mqtt-port $port --api-port 18885 --ws-port off --log-level error \
            --sys-interval 0 --max-queued-messages 1000000 --max-inflight 100 --overload-policy throttle ${BRIDGE_EDGE_FLAGS:-} > "$work/edge.out" 2>&1 &
        pid=$!
        for _ in $(seq 300); do grep -q "management API on" "$work/edge.out" && break; sleep 0.1; done
    else
        port=18886
        cat > "$work/edge-mosquitto.conf" <<CONF
listener $port 127.0.0.1
allow_anonymous true
persistence false
max_queued_messages 1000000
max_inflight_messages 100
connection up
address 127.0.0.1:18883
topic # out $2
CONF
        "$mosquitto_bin" -c "$work/edge-mosquitto.conf" > "$work/edge.out" 2>&1 &
        pid=$!
        for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    fi
    sleep 1  # the bridge connects
}
bridged() {  # $1 = QoS
    label="bridge qos$1"
    selected "$label" || return 0
    for i in $(seq "$pairs"); do
        for broker in aviary mosquitto; do
            "$mosquitto_bin" -c "$work/mosquitto.conf" > "$work/upstream.out" 2>&1 &
            upstream=$!
            for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/18883) 2>/dev/null && break; sleep 0.1; done
            bridge_edge "$broker" "$1"
            c0=$(cpu_seconds "$pid"); u0=$(cpu_seconds "$upstream")
            line=$($bin bench fanin --qos "$1" --publishers 8 --messages $((bm / 8)) --port "$port" --subscribe-port 18883)
            c1=$(cpu_seconds "$pid"); u1=$(cpu_seconds "$upstream")
            peak=$(peak_kib "$pid")
            stop_broker
            kill -TERM "$upstream"; wait "$upstream" 2>/dev/null || true
            echo "{\"label\":\"$label\",\"broker\":\"$broker\",\"run\":$i,\"cpu_s\":$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.3f", b - a}'),\"peak_rss_kib\":$peak,\"upstream_cpu_s\":$(awk -v a="$u0" -v b="$u1" 'BEGIN{printf "%.3f", b - a}'),\"bench\":$line}" | tee -a "$results"
        done
        # The ceiling: the same publishers straight into the upstream, no edge at all. No edge
        # can deliver more than this upstream takes in.
        "$mosquitto_bin" -c "$work/mosquitto.conf" > "$work/upstream.out" 2>&1 &
        upstream=$!
        for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/18883) 2>/dev/null && break; sleep 0.1; done
        u0=$(cpu_seconds "$upstream")
        line=$($bin bench fanin --qos "$1" --publishers 8 --messages $((bm / 8)) --port 18883)
        u1=$(cpu_seconds "$upstream")
        kill -TERM "$upstream"; wait "$upstream" 2>/dev/null || true
        echo "{\"label\":\"$label\",\"run\":$i,\"upstream_cpu_s\":$(awk -v a="$u0" -v b="$u1" 'BEGIN{printf "%.3f", b - a}'),\"ceiling\":$line}" | tee -a "$results"
    done
}
bm=400000
[ "$quick" = 1 ] && bm=20000
bridged 0
bridged 1

# MQTT over WebSockets against plain TCP, the same aviary broker settings: fan-in, 8 publishers,
# the load generator speaking ws:// (masked binary frames) or TCP. (Mosquitto 2.0.11's websockets
# listener does not start on this machine: "Unable to start any listening sockets".)
websockets() {  # $1 = QoS
    label="websocket fanin qos$1"
    selected "$label" || return 0
    for i in $(seq "$pairs"); do
        for transport in tcp ws; do
            ws_on=1 start_broker aviary
            target=(--port 18884)
            [ "$transport" = ws ] && target=(--port 18887 --ws-path /mqtt)
            c0=$(cpu_seconds "$pid")
            line=$($bin bench fanin --qos "$1" --publishers 8 --messages $((m / 8)) "${target[@]}")
            c1=$(cpu_seconds "$pid")
            stop_broker
            echo "{\"label\":\"$label\",\"transport\":\"$transport\",\"run\":$i,\"cpu_s\":$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.3f", b - a}'),\"result\":$line}" | tee -a "$results"
        done
    done
}
websockets 0
websockets 1

[ -s "$results" ] && python3 scripts/bench/table.py "$results"
if [ "$quick" != 1 ] && selected observer; then
    echo; echo "== the observer effect: 100,000 sessions and a dashboard's poll against none"
    scripts/bench/observer.sh 100000 10 "$pairs"
fi
if [ "$quick" != 1 ] && selected api; then
    echo; echo "== management API (100,000 simulated entries; 10,000 real clients)"
    scripts/bench/api.sh 100000
    scripts/bench/api_real.sh 10000
fi
if [ "$quick" != 1 ] && selected dashboard; then
    echo; echo "== dashboard with 10,000 real clients"
    scripts/bench/dashboard.sh 10000 20
fi
