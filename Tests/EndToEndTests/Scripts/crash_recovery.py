#!/usr/bin/env python3
"""SIGKILL while the broker is loading a large store, several times in a row.

A broker with persistence on is filled by scripts/bench/recovery_sessions.py (SESSIONS offline
persistent sessions, MESSAGES QoS 1 messages queued for each: every one acknowledged, so on
disk) and killed with SIGKILL; a torn frame is appended to its write-ahead log, as a crash in
the middle of a commit leaves one. Then it is started and killed again KILLS times, each time at
a random moment while it loads (between 5 % and 60 % of the load time measured first). The last
start must recover every session and message (store.recovered.*), and one session drained
with mosquitto_sub must get its MESSAGES messages. Prints one JSON object; exit 0
means the run completed (the caller judges the figures).
"""
import argparse, base64, json, os, random, socket, subprocess, sys, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--aviary", required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--api-port", type=int, required=True)
ap.add_argument("--sessions", type=int, default=1000)
ap.add_argument("--messages", type=int, default=100)
ap.add_argument("--kills", type=int, default=3)
ap.add_argument("--seed", type=int, default=1)
args = ap.parse_args()
rng = random.Random(args.seed)
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
sys.path.insert(0, os.path.join(root, "scripts", "lib"))
from harness import kill, stop, wait_port  # noqa: E402


def phase(text):
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def start():
    return subprocess.Popen(
        [args.aviary, "serve", "--mqtt-port", str(args.port), "--api-port", str(args.api_port), "--persistence", "on",
         "--persistence-dir", args.dir, "--max-connections", "0", "--max-queued-messages", str(args.messages + 10)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def serving(timeout=300):
    """Seconds until MQTT and the API answer (the store is loaded before either listens)."""
    return wait_port(args.port, timeout=timeout, also=metrics)


def metrics():
    request = urllib.request.Request(f"http://127.0.0.1:{args.api_port}/api/v4/metrics")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"admin:public").decode())
    body = json.loads(urllib.request.urlopen(request, timeout=5).read())
    data = body["data"] if isinstance(body, dict) and "data" in body else body
    if isinstance(data, list):
        data = data[0]
    return data.get("metrics", data)


result = {"sessions": args.sessions, "messages": args.messages}
broker = start()
try:
    serving()
    phase(f"fill: {args.sessions} sessions x {args.messages} messages")
    fill = subprocess.run([sys.executable, os.path.join(root, "scripts/bench/recovery_sessions.py"), str(args.port), str(args.sessions),
                           str(args.messages)], capture_output=True, text=True, timeout=600)
    result["fill"] = json.loads(fill.stdout.strip().splitlines()[-1])
    kill(broker)
    wal = os.path.join(args.dir, "aviary.db-wal")
    with open(wal, "ab") as f:
        f.write(bytes(rng.randrange(256) for _ in range(24 + 4096 // 2)))  # a frame header and half a page: torn
    result["wal_bytes"] = os.path.getsize(wal)

    phase("a first restart, timed")
    broker = start()
    began = time.perf_counter()
    load_s = serving()
    result["load_s"] = round(load_s, 2)
    result["first"] = {k: metrics()[k] for k in ("store.recovered.sessions", "store.recovered.messages", "store.recovery_ms")}
    kill(broker)

    kills = []
    for _ in range(args.kills):
        broker = start()
        delay = load_s * rng.uniform(0.05, 0.6)
        time.sleep(delay)
        up = True
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.05).close()
        except OSError:
            up = False
        kill(broker)
        kills.append({"after_s": round(delay, 3), "was_serving": up})
    result["kills"] = kills

    phase("the last start")
    broker = start()
    result["last_load_s"] = round(serving(), 2)
    last = metrics()
    result["last"] = {k: last[k] for k in ("store.recovered.sessions", "store.recovered.messages", "store.recovered.retained", "store.recovery_ms")}
    drained = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(args.port), "-i", "rec-000007", "-c", "-q", "1", "-t", "rec/all",
                              "-C", str(args.messages), "-W", "60", "-F", "%m"], capture_output=True, text=True, timeout=90)
    result["drained"] = len(drained.stdout.splitlines())
    result["exit"] = stop(broker, timeout=60)
    broker = None
    print(json.dumps(result))
finally:
    kill(broker)
