#!/usr/bin/env python3
"""A long mixed soak of one broker with persistence on (`make soak`, 30 minutes by default; the
suite runs a short one).

Traffic, all at once, for --seconds:
- pairs at QoS 0, 1 and 2 (paho-mqtt 3.1.1; the QoS 1/2 subscribers keep persistent sessions);
- fan-in: 4 QoS 1 publishers into one persistent subscriber;
- a QoS 1 pair over WebSockets;
- a bridge to a real Mosquitto (persistence on) that is restarted every --bridge-restart seconds:
  QoS 1 published here on bridge/#, read from the Mosquitto by a persistent subscriber;
- client churn (connect/disconnect, clean and persistent sessions, with and without DISCONNECT);
- a kick through the API every --kick seconds of a further subscriber on the QoS 1 stream, which
  reconnects (a kick discards the session, as in EMQX, so the streams whose loss is counted are
  not the ones kicked);
- the real dashboard (`aviary watch`) in tmux, polling the API every second.

Every --sample seconds the broker's RSS and open descriptors are read from /proc. At the end
the publishers stop, the subscribers drain, and the figures are printed as one JSON object:
per stream what was acknowledged, received, missing, duplicated and out of order (per
publisher: a new message older than one already received), the RSS and descriptor samples, their
slope per hour after the warm-up (the first --warmup seconds) and the store's size. Exit 0 means
the run completed (the caller judges the figures).
"""
import argparse, base64, json, os, random, re, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from harness import free_port, wait_port  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--aviary", required=True)
ap.add_argument("--seconds", type=float, default=1800)
ap.add_argument("--warmup", type=float, default=120)
ap.add_argument("--sample", type=float, default=5)
ap.add_argument("--rate", type=float, default=100, help="messages a second per publisher")
ap.add_argument("--bridge-restart", type=float, default=180)
ap.add_argument("--kick", type=float, default=30)
ap.add_argument("--churn", type=float, default=10, help="connections a second")
ap.add_argument("--dashboard", action="store_true", help="run `aviary watch` in tmux")
ap.add_argument("--grace", type=float, default=150, help="seconds past --seconds after which the run gives up (and cleans up)")
args = ap.parse_args()
V2 = hasattr(mqtt, "CallbackAPIVersion")
WORK = tempfile.mkdtemp(prefix="aviary-soak-")
os.chmod(WORK, 0o777)  # Mosquitto started as root runs as 'mosquitto' and writes its persistence file here
processes = []
stop = threading.Event()
rng = random.Random(1)


current_phase = ["start"]
dashboard = None


def phase(text):
    current_phase[0] = text
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def cleanup():
    for p in processes:
        if p.poll() is None:
            p.kill()
    if dashboard:
        subprocess.run(["tmux", "kill-session", "-t", dashboard], stderr=subprocess.DEVNULL)
    shutil.rmtree(WORK, ignore_errors=True)


def watchdog():
    """Bounded in time whatever happens: past the deadline, say where it stuck, clean up, exit 3."""
    deadline = time.time() + args.seconds + args.grace
    while time.time() < deadline:
        time.sleep(1)
    print(json.dumps({"error": f"no result within {args.seconds + args.grace:.0f} s", "phase": current_phase[0]}), flush=True)
    cleanup()
    os._exit(3)


threading.Thread(target=watchdog, daemon=True).start()


def client(cid, clean=True, transport="tcp"):
    kwargs = {"client_id": cid, "clean_session": clean, "protocol": mqtt.MQTTv311, "transport": transport}
    if V2:
        kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
    c = mqtt.Client(**kwargs)
    c.reconnect_delay_set(0.2, 1)
    if transport == "websockets":
        c.ws_set_options(path="/mqtt")
    return c


mosquitto_port = free_port()
mosquitto_conf = os.path.join(WORK, "mosquitto.conf")
with open(mosquitto_conf, "w") as f:
    f.write(f"listener {mosquitto_port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {WORK}/\n"
            "max_queued_messages 1000000\nlog_type error\n")
mosquitto = None


def start_mosquitto():
    global mosquitto
    mosquitto = subprocess.Popen(["mosquitto", "-c", mosquitto_conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processes.append(mosquitto)
    wait_port(mosquitto_port)


port, api_port, ws_port = free_port(), free_port(), free_port()
store = os.path.join(WORK, "store")
conf = os.path.join(WORK, "aviary.conf")
with open(conf, "w") as f:
    f.write(f"mqtt_port = {port}\napi_port = {api_port}\nws_port = {ws_port}\npersistence = on\npersistence_dir = {store}\n"
            "max_queued_messages = 1000000\n"
            f"connection = soak\naddress = 127.0.0.1:{mosquitto_port}\nremote_clientid = soak-bridge\nkeepalive_interval = 5\n"
            "topic = bridge/# out 1\n")
start_mosquitto()
broker = subprocess.Popen([args.aviary, "serve", "--config", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
processes.append(broker)
wait_port(port)
wait_port(api_port)
AUTH = "Basic " + base64.b64encode(b"admin:public").decode()


def api(method, path):
    request = urllib.request.Request(f"http://127.0.0.1:{api_port}{path}", method=method)
    request.add_header("Authorization", AUTH)
    return urllib.request.urlopen(request, timeout=10).read()


class Stream:
    """Publishers on a topic; one subscriber. Payload "publisher:sequence"."""

    def __init__(self, name, qos, publishers=1, sub_port=None, transport="tcp", topic=None, persistent=True):
        self.name, self.qos = name, qos
        self.topic = topic or f"soak/{name}"
        self.acked = {p: set() for p in range(publishers)}
        self.received = {p: [] for p in range(publishers)}
        # Never held while calling into paho: its network thread holds its own lock while it
        # calls on_publish, which takes this one (holding both the other way round deadlocks).
        self.lock = threading.Lock()
        self.early = set()  # mids acknowledged before publish() returned them
        self.sub_id = f"soak-sub-{name}"
        self.sub = client(self.sub_id, clean=not persistent, transport="tcp" if sub_port else transport)
        self.sub.on_connect = lambda c, u, f, rc: c.subscribe(self.topic, qos)
        self.sub.on_message = self.on_message
        self.sub.connect("127.0.0.1", sub_port or (ws_port if transport == "websockets" else port), keepalive=10)
        self.sub.loop_start()
        self.pubs = []
        for p in range(publishers):
            pub = client(f"soak-pub-{name}-{p}", clean=False, transport=transport)
            pub.max_inflight_messages_set(50)
            pub.max_queued_messages_set(0)
            pending = {}
            pub.user_data_set((p, pending))
            pub.on_publish = self.on_publish
            pub.connect("127.0.0.1", ws_port if transport == "websockets" else port, keepalive=10)
            pub.loop_start()
            self.pubs.append((pub, pending))

    def on_message(self, c, u, message):
        p, n = (int(x) for x in message.payload.decode().split(":"))
        with self.lock:
            self.received[p].append(n)

    def on_publish(self, c, userdata, mid):
        if self.qos == 0:
            return
        p, pending = userdata
        with self.lock:
            n = pending.pop(mid, None)
            if n is not None:
                self.acked[p].add(n)
            else:
                self.early.add((p, mid))

    def run(self):
        n, start = 0, time.time()
        while not stop.is_set():
            n += 1
            for p, (pub, pending) in enumerate(self.pubs):
                info = pub.publish(self.topic, f"{p}:{n}", qos=self.qos)
                with self.lock:
                    if self.qos == 0:
                        if info.rc == 0:
                            self.acked[p].add(n)
                    elif (p, info.mid) in self.early:
                        self.early.discard((p, info.mid))
                        self.acked[p].add(n)
                    else:
                        pending[info.mid] = n
            pause = start + n / args.rate - time.time()
            if pause > 0:
                time.sleep(pause)

    def report(self):
        out = {"qos": self.qos, "acked": 0, "received": 0, "missing": 0, "duplicates": 0, "out_of_order": 0}
        for p in self.acked:
            got = self.received[p]
            out["acked"] += len(self.acked[p])
            out["received"] += len(got)
            lost = sorted(self.acked[p] - set(got))
            out["missing"] += len(lost)
            if lost:
                out.setdefault("missing_examples", []).extend(f"{p}:{n}" for n in lost[:20])
            out["duplicates"] += len(got) - len(set(got))
            if self.qos == 0:
                out["missing"] = 0  # QoS 0 may be dropped (a kick, a full queue): counted as received/acked only
            highest, seen = 0, set()
            for n in got:
                if n in seen:
                    continue  # a duplicate, counted above
                seen.add(n)
                if n < highest:
                    out["out_of_order"] += 1  # first seen after a newer one
                highest = max(highest, n)
        return out

    def caught_up(self):
        with self.lock:
            return all(self.acked[p] <= set(self.received[p]) for p in self.acked)

    def close(self):
        for pub, _ in self.pubs:
            pub.loop_stop()
            pub.disconnect()
        self.sub.loop_stop()
        self.sub.disconnect()


streams = [
    Stream("qos0", 0, persistent=False),
    Stream("qos1", 1),
    Stream("qos2", 2),
    Stream("fanin", 1, publishers=4),
    Stream("ws", 1, transport="websockets"),
]
bridge_stream = Stream("bridge", 1, topic="bridge/soak", sub_port=mosquitto_port)
streams.append(bridge_stream)
time.sleep(1)

samples = []


def sampler():
    began = time.time()
    while not stop.is_set():
        try:
            rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{broker.pid}/status").read()).group(1))
            fds = len(os.listdir(f"/proc/{broker.pid}/fd"))
            samples.append((round(time.time() - began, 1), rss, fds))
        except (OSError, AttributeError):
            pass
        stop.wait(args.sample)


def churn():
    i = 0
    while not stop.is_set():
        i += 1
        c = socket.socket()
        try:
            c.connect(("127.0.0.1", port))
            cid = f"churn-{i % 500}".encode()
            clean = 0x02 if i % 2 else 0x00
            body = b"\x00\x04MQTT\x04" + bytes([clean]) + b"\x00\x0a" + len(cid).to_bytes(2, "big") + cid
            c.sendall(bytes([0x10, len(body)]) + body)
            c.recv(4)
            if i % 3:
                c.sendall(b"\xe0\x00")
        except OSError:
            pass
        c.close()
        stop.wait(1 / args.churn)
    # the persistent churn sessions: ended, so that their (empty) sessions do not stay
    for n in range(500):
        try:
            c = socket.create_connection(("127.0.0.1", port))
            cid = f"churn-{n}".encode()
            body = b"\x00\x04MQTT\x04\x02\x00\x0a" + len(cid).to_bytes(2, "big") + cid
            c.sendall(bytes([0x10, len(body)]) + body)
            c.recv(4)
            c.sendall(b"\xe0\x00")
            c.close()
        except OSError:
            pass


kicks, restarts, kickee_connects = [], [], []
kickee = client("soak-kickee")
kickee.on_connect = lambda c, u, f, rc: (kickee_connects.append(time.time()), c.subscribe("soak/qos1", 1))
kickee.connect("127.0.0.1", port, keepalive=10)
kickee.loop_start()


def kicker():
    while not stop.wait(args.kick):
        try:
            api("DELETE", "/api/v4/clients/soak-kickee")
            kicks.append(time.time())
        except OSError:
            pass


def bridge_restarter():
    while not stop.wait(args.bridge_restart):
        mosquitto.send_signal(signal.SIGTERM)
        mosquitto.wait(timeout=20)
        time.sleep(1)
        start_mosquitto()
        restarts.append(time.time())


if args.dashboard and shutil.which("tmux"):
    session = f"aviary-soak-{os.getpid()}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "45",
                    f"{args.aviary} watch http://127.0.0.1:{api_port}"], check=True)
    dashboard = session

threads = [threading.Thread(target=s.run, daemon=True) for s in streams]
threads += [threading.Thread(target=f, daemon=True) for f in (sampler, churn, kicker, bridge_restarter)]
phase(f"soak for {args.seconds:.0f} s")
for t in threads:
    t.start()
deadline = time.time() + args.seconds
while time.time() < deadline:
    time.sleep(1)
    if broker.poll() is not None:
        break
stop.set()
phase("stopping the load")
join_deadline = time.time() + 30
for t in threads:
    t.join(timeout=max(0.1, join_deadline - time.time()))
phase("drain")
drain_deadline = time.time() + 60
while time.time() < drain_deadline and not all(s.caught_up() for s in streams if s.qos > 0):
    time.sleep(0.5)
time.sleep(1)
dashboard_screen = ""
if dashboard:
    dashboard_screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", dashboard], capture_output=True, text=True).stdout
metrics = json.loads(api("GET", "/api/v4/metrics"))
metrics = metrics.get("data", metrics)
if isinstance(metrics, list):
    metrics = metrics[0]
metrics = metrics.get("metrics", metrics)
result = {"seconds": args.seconds, "streams": {s.name: s.report() for s in streams}, "kicks": len(kicks),
          "kickee_reconnects": len(kickee_connects) - 1, "bridge_restarts": len(restarts),
          "samples": samples, "store_bytes": metrics.get("store.bytes"), "queued_now": metrics.get("messages.queued"),
          "dashboard_drawn": "aviary" in dashboard_screen and "soak-sub-qos1" in dashboard_screen if dashboard else None,
          "broker_alive": broker.poll() is None}


def slope(points):
    """Least-squares slope of (t, value) per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return None if var == 0 else sum((t - mt) * (v - mv) for t, v in points) / var * 3600


after = [s for s in samples if s[0] >= args.warmup]
if after:
    result["rss_kib"] = {"warm": after[0][1], "end": after[-1][1], "max": max(s[1] for s in after), "slope_per_hour": slope([(s[0], s[1]) for s in after])}
    result["fds"] = {"warm": after[0][2], "end": after[-1][2], "max": max(s[2] for s in after), "slope_per_hour": slope([(s[0], s[2]) for s in after])}
for s in streams:
    s.close()
kickee.loop_stop()
broker.send_signal(signal.SIGTERM)
result["exit"] = broker.wait(timeout=60)
mosquitto.send_signal(signal.SIGTERM)
mosquitto.wait(timeout=20)
cleanup()
print(json.dumps(result))
