#!/usr/bin/env python3
"""Crash test of aviary's durable store with paho-mqtt (MQTT 3.1.1), bounded in time.

At QoS 2 the publisher is a small raw-socket client below (`--publisher raw`): paho-mqtt 1.6.1
turns a message whose PUBREL it has sent back into a PUBLISH when two reconnect attempts fail in
a row (`_messages_reconnect_reset_out` resets `resend_pubrel` to `publish`), which breaks
[MQTT-4.3.3] on its side, and a broker cannot tell that PUBLISH from a new message. The
subscriber is paho at every QoS.

A QoS 1 or 2 publisher streams numbered messages to a topic; a persistent subscriber
(clean session false, subscribed once at the start) is online and offline by turns; the
broker is killed with SIGKILL at random moments and restarted on the same directory. At the
end every message the publisher got an acknowledgement for (PUBACK, or PUBCOMP at QoS 2) must
have reached the subscriber: duplicates are counted (allowed at QoS 1, none at QoS 2), missing
ones listed. A retained message set before the first kill must still be there. Prints one
JSON object; exit 0 means the run completed (the caller judges the figures).
"""
import argparse, faulthandler, json, random, signal, socket, subprocess, sys, threading, time
faulthandler.register(signal.SIGUSR1, all_threads=True)

import os

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from mqttwire import packet, string  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--aviary", required=True)
ap.add_argument("--dir", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--qos", type=int, default=1)
ap.add_argument("--kills", type=int, default=20)
ap.add_argument("--sync", default="10")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--log", default="/dev/null")
ap.add_argument("--publisher", choices=["paho", "raw"], default=None)
ap.add_argument("--pause", type=float, default=0.003, help="seconds between messages (bounds the load the test puts on the machine)")
args = ap.parse_args()
if args.publisher is None:
    args.publisher = "raw" if args.qos == 2 else "paho"
rng = random.Random(args.seed)
TOPIC = "crash/stream"
log = open(args.log, "a")


def phase(text):
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def broker_up(timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def start_broker():
    started = time.time()
    p = subprocess.Popen(
        [args.aviary, "serve", "--mqtt-host", "127.0.0.1", "--mqtt-port", str(args.port), "--api-port", "0", "--ws-port", "off",
         "--log-level", "warning", "--sys-interval", "0", "--max-queued-messages", "1000000",
         "--persistence", "on", "--persistence-dir", args.dir, "--persistence-sync", args.sync],
        stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    if not broker_up():
        p.kill()
        print(json.dumps({"error": "broker did not start"}))
        sys.exit(1)
    return p, time.time() - started


lock = threading.Lock()
acked, mids, early, received = set(), {}, set(), []
stop_publishing = threading.Event()
published = [0]


def on_publish(client, userdata, mid):
    # Called from paho's thread, possibly before publish() has returned the mid to us.
    with lock:
        n = mids.pop(mid, None)
        if n is None:
            early.add(mid)
        else:
            acked.add(n)


details = {}
T0 = time.time()
events = []


def on_message(client, userdata, message):
    with lock:
        n = int(message.payload)
        received.append(n)
        details.setdefault(n, []).append((message.mid, int(message.dup), round(time.time() - T0, 3)))


broker, _ = start_broker()
restarts = []

# The subscriber's session and subscription exist (and are acknowledged) before anything is sent.
sub = mqtt.Client(client_id="crash-sub", clean_session=False, protocol=mqtt.MQTTv311)
sub.on_message = on_message
sub.reconnect_delay_set(1, 1)
suback = threading.Event()
sub.on_subscribe = lambda c, u, mid, granted: suback.set()
sub.connect("127.0.0.1", args.port, keepalive=5)
sub.loop_start()
phase("subscribing")
sub.subscribe(TOPIC, qos=args.qos)
if not suback.wait(10):
    print(json.dumps({"error": "no SUBACK"}))
    sys.exit(1)

phase("retained")
setter = mqtt.Client(client_id="crash-retain", protocol=mqtt.MQTTv311)
setter.connect("127.0.0.1", args.port)
setter.loop_start()
setter.publish("crash/retained", b"kept", qos=1, retain=True).wait_for_publish(10)
setter.disconnect()
setter.loop_stop()

class RawPublisher:
    """MQTT 3.1.1, clean session 0, one QoS 2 message at a time, resending by the book after a
    reconnect: PUBLISH with DUP until PUBREC, then only PUBREL until PUBCOMP."""

    def __init__(self):
        self.sock = None
        self.buffer = b""
        self.pending = None  # [mid, n, "publish" | "pubrel"]
        self.mid = 0

    def connect(self):
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", args.port), timeout=2)
                self.buffer = b""
                body = string("MQTT") + bytes([4, 0x00]) + (10).to_bytes(2, "big") + string("crash-pub")
                self.sock.sendall(packet(0x10, body))
                first, body = self.read()
                if first >> 4 == 2 and body[1] == 0:
                    self.resend()
                    return
            except OSError:
                pass
            self.close()
            time.sleep(0.05)

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def read(self):
        while True:
            if len(self.buffer) >= 2:
                length, shift, i = 0, 0, 1
                while i < len(self.buffer):
                    byte = self.buffer[i]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not byte & 0x80:
                        if len(self.buffer) >= i + length:
                            first, body = self.buffer[0], self.buffer[i:i + length]
                            self.buffer = self.buffer[i + length:]
                            return first, body
                        break
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("closed")
            self.buffer += chunk

    def send_publish(self, dup):
        mid, n, _ = self.pending
        body = string(TOPIC) + mid.to_bytes(2, "big") + str(n).encode()
        self.sock.sendall(packet(0x34 | (0x08 if dup else 0), body))

    def resend(self):
        if self.pending is None:
            return
        if self.pending[2] == "publish":
            self.send_publish(dup=True)
        else:
            self.sock.sendall(packet(0x62, self.pending[0].to_bytes(2, "big")))

    def run(self):
        self.connect()
        n = 0
        while not (stop_publishing.is_set() and self.pending is None):
            try:
                if self.pending is None:
                    if n >= 60000:
                        break
                    n += 1
                    self.mid = self.mid % 65535 + 1
                    self.pending = [self.mid, n, "publish"]
                    with lock:
                        published[0] = n
                    self.send_publish(dup=False)
                first, body = self.read()
                kind, mid = first >> 4, int.from_bytes(body[:2], "big")
                if kind == 5 and self.pending and mid == self.pending[0]:  # PUBREC
                    self.pending[2] = "pubrel"
                    self.sock.sendall(packet(0x62, body[:2]))
                elif kind == 7 and self.pending and mid == self.pending[0]:  # PUBCOMP
                    with lock:
                        acked.add(self.pending[1])
                    self.pending = None
                    time.sleep(args.pause)
            except OSError:
                self.close()
                self.connect()
        self.close()


if args.publisher == "paho":
    pub = mqtt.Client(client_id="crash-pub", clean_session=False, protocol=mqtt.MQTTv311)
    pub.max_inflight_messages_set(20)
    pub.max_queued_messages_set(0)
    pub.reconnect_delay_set(1, 1)
    pub.on_publish = on_publish
    pub.connect("127.0.0.1", args.port, keepalive=5)
    pub.loop_start()


def publisher():
    n = 0
    while not stop_publishing.is_set():
        with lock:
            outstanding = len(mids)
        if outstanding >= 20:
            time.sleep(0.002)
            continue
        if n >= 60000:
            break  # mids stay unique (paho wraps them at 65535)
        n += 1
        info = pub.publish(TOPIC, str(n).encode(), qos=args.qos)  # not under `lock`: paho's own lock is taken
        with lock:
            published[0] = n
            if info.mid in early:
                early.discard(info.mid)
                acked.add(n)
            else:
                mids[info.mid] = n
        time.sleep(args.pause)


def subscriber_turns():
    """Online and offline by turns while the broker is being killed."""
    online = True
    while not stop_publishing.is_set():
        time.sleep(rng.uniform(0.2, 0.6))
        if online:
            sub.disconnect()
            sub.loop_stop()
        else:
            try:
                sub.reconnect()
            except OSError:
                pass  # broker down: the loop's reconnect takes over
            sub.loop_start()
        online = not online
    if online:  # offline at the end, so that one reconnect (below) brings it back
        sub.disconnect()
        sub.loop_stop()


raw = RawPublisher() if args.publisher == "raw" else None
threads = [threading.Thread(target=raw.run if raw else publisher), threading.Thread(target=subscriber_turns)]
for t in threads:
    t.start()

phase("killing")
for _ in range(args.kills):
    time.sleep(rng.uniform(0.3, 0.8))
    broker.kill()
    broker.wait()
    events.append(("kill", round(time.time() - T0, 3)))
    broker, took = start_broker()
    restarts.append(round(took, 3))

phase("draining")
stop_publishing.set()
for t in threads:
    t.join()
# The subscriber stays online from here to collect what is queued for it.
try:
    sub.reconnect()
except OSError:
    pass
sub.loop_start()

deadline = time.time() + 30
while time.time() < deadline:
    with lock:
        if not mids:
            break
    time.sleep(0.05)
deadline = time.time() + 30
while time.time() < deadline:
    with lock:
        if acked <= set(received):
            break
    time.sleep(0.05)
time.sleep(0.5)

phase("checking")
retained = []
checker = mqtt.Client(client_id="crash-check", protocol=mqtt.MQTTv311)
checker.on_message = lambda c, u, m: retained.append(m.payload.decode())
checker.connect("127.0.0.1", args.port)
checker.loop_start()
checker.subscribe("crash/retained", qos=1)
deadline = time.time() + 5
while not retained and time.time() < deadline:
    time.sleep(0.05)
checker.disconnect()
checker.loop_stop()
if args.publisher == "paho":
    pub.disconnect()
    pub.loop_stop()
sub.disconnect()
sub.loop_stop()
broker.terminate()
try:
    broker.wait(10)
except subprocess.TimeoutExpired:
    broker.kill()

with lock:
    got = set(received)
    missing = sorted(acked - got)
    print(json.dumps({
        "qos": args.qos,
        "publisher": args.publisher,
        "kills": args.kills,
        "published": published[0],
        "acked": len(acked),
        "unacked_at_end": len(mids),
        "received": len(received),
        "unique": len(got),
        "duplicates": len(received) - len(got),
        "missing": len(missing),
        "missing_first": missing[:20],
        "duplicate_detail": {n: d for n, d in details.items() if len(d) > 1} if len(received) != len(got) else {},
        "kills_at": [t for _, t in events] if len(received) != len(got) else [],
        "retained": retained[:1],
        "restart_seconds_max": max(restarts) if restarts else 0,
    }))
