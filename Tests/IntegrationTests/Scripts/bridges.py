"""Bridges of aviary to a real Mosquitto started here on 127.0.0.1, with paho-mqtt clients.

Usage: bridges.py AVIARY_BINARY SCENARIO [CERT_DIR]
Scenarios: directions, loop, restart, queue, tls, kick. Each starts its own Mosquitto (the
upstream) and its own aviary with a config file holding the bridge, and prints one JSON line
with what it counted; the Swift test (BridgeTests) checks the figures. Everything stops by
itself: every wait is bounded.
"""
import base64
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from harness import free_port, wait_port  # noqa: E402

AVIARY = sys.argv[1]
SCENARIO = sys.argv[2]
CERTS = sys.argv[3] if len(sys.argv) > 3 else None
V2 = hasattr(mqtt, "CallbackAPIVersion")
WORK = tempfile.mkdtemp(prefix="aviary-bridge-")
# Mosquitto started as root runs as the user 'mosquitto': it must reach its persistence file
# and the TLS files here.
os.chmod(WORK, 0o777)
if CERTS:
    for name in ("ca.pem", "server.pem", "server.key"):
        shutil.copy(os.path.join(CERTS, name), WORK)
        os.chmod(os.path.join(WORK, name), 0o644)
    CERTS = WORK
processes = []


class Mosquitto:
    """The upstream: a real Mosquitto on 127.0.0.1 (persistence on, so a restart keeps sessions)."""

    def __init__(self, port=None, tls=False):
        self.port = port or free_port()
        self.tls = tls
        self.proc = None
        self.conf = os.path.join(WORK, f"mosquitto-{self.port}.conf")
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence true",
                 f"persistence_location {WORK}/", f"persistence_file mosquitto-{self.port}.db",
                 "max_queued_messages 100000", "log_type error", "log_type warning"]
        if tls:
            lines += [f"cafile {CERTS}/ca.pem", f"certfile {CERTS}/server.pem", f"keyfile {CERTS}/server.key"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(self.proc)
        wait_port(self.port)
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)  # graceful: the persistence file is written
        self.proc.wait(timeout=10)


class Aviary:
    def __init__(self, bridge_lines, extra=""):
        self.conf = tempfile.mktemp(prefix="aviary-", suffix=".conf", dir=WORK)
        with open(self.conf, "w") as f:
            f.write("mqtt_port = 0\napi_port = 0\nws_port = off\nmax_queued_messages = 100000\n" + extra + "\n".join(bridge_lines) + "\n")
        self.proc = subprocess.Popen([AVIARY, "serve", "--config", self.conf], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        processes.append(self.proc)
        self.port = self.api = None
        deadline = time.time() + 20
        while (self.port is None or self.api is None) and time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("aviary exited: " + self.proc.stderr.read())
            m = re.search(r"listening for MQTT on .*:(\d+)$", line.strip())
            if m:
                self.port = int(m.group(1))
            m = re.search(r"management API on http://[^:]+:(\d+)", line)
            if m:
                self.api = int(m.group(1))
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        self.log = []
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()

    def get(self, path):
        request = urllib.request.Request(f"http://127.0.0.1:{self.api}{path}",
                                         headers={"Authorization": "Basic " + base64.b64encode(b"admin:public").decode()})
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read().decode()
            return json.loads(body) if path.startswith("/api") else body

    def bridge_row(self):
        rows = [r for r in self.get("/api/v4/clients?_limit=1000")["data"] if r.get("is_bridge")]
        return rows[0] if rows else None

    def wait_bridge(self, state, timeout=20):
        deadline = time.time() + timeout
        row = None
        while time.time() < deadline:
            row = self.bridge_row()
            if row and row.get("bridge_state") == state:
                return row
            time.sleep(0.05)
        raise AssertionError(f"bridge not '{state}' after {timeout} s: {row}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)


class Client:
    def __init__(self, port, cid, proto=mqtt.MQTTv311, clean=True, tls=False):
        self.messages = queue.Queue()
        self.subacked = threading.Event()
        kwargs = {"client_id": cid, "protocol": proto}
        if proto != mqtt.MQTTv5:
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs) if V2 else mqtt.Client(**kwargs)
        if tls:
            self.c.tls_set(ca_certs=f"{CERTS}/ca.pem")
        self.c.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload.decode(), m.qos, m.retain))
        self.c.on_subscribe = lambda *a: self.subacked.set()
        self.connected = threading.Event()
        self.c.on_connect = lambda *a: self.connected.set()
        self.c.connect("127.0.0.1", port, keepalive=30)
        self.c.loop_start()
        if not self.connected.wait(10):
            raise AssertionError(f"{cid} did not connect to {port}")

    def subscribe(self, topic, qos):
        self.subacked.clear()
        self.c.subscribe(topic, qos)
        if not self.subacked.wait(10):
            raise AssertionError(f"no SUBACK for {topic}")

    def publish(self, topic, payload, qos, retain=False):
        info = self.c.publish(topic, payload, qos, retain=retain)
        if qos > 0:
            info.wait_for_publish(10)
            if not info.is_published():
                raise AssertionError(f"{topic} {payload} not acknowledged")

    def collect(self, count, timeout):
        got = []
        deadline = time.time() + timeout
        while len(got) < count and time.time() < deadline:
            try:
                got.append(self.messages.get(timeout=max(0.01, deadline - time.time())))
            except queue.Empty:
                break
        return got

    def drain(self, quiet=1.0):
        """Everything that arrives until nothing has for `quiet` seconds."""
        got = []
        while True:
            try:
                got.append(self.messages.get(timeout=quiet))
            except queue.Empty:
                return got

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def bridge(port, topics, version="mqttv311", extra=()):
    return [f"connection = up", f"address = 127.0.0.1:{port}", f"bridge_protocol_version = {version}",
            "remote_clientid = edge-1", "local_clientid = bridge-up", "restart_timeout = 0.2 1"] + list(extra) + [f"topic = {t}" for t in topics]


def wait_subscribed(aviary, client_id, count, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = aviary.get(f"/api/v4/clients/{client_id}")["data"]
        if rows and rows[0].get("subscriptions_cnt", 0) >= count and rows[0].get("connected"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{client_id} not subscribed to {count} filters")


def directions():
    """out, in and both at QoS 0/1/2 on 3.1.1 and 5.0, with prefixes; counts per QoS."""
    result = {}
    for version, proto in (("mqttv311", mqtt.MQTTv311), ("mqttv50", mqtt.MQTTv5)):
        up = Mosquitto().start()
        av = Aviary(bridge(up.port, ["sensors/# out 2 site/ hq/site1/", "cmd/# in 2 \"\" edge/", "chat/# both 2"], version))
        av.wait_bridge("connected")
        # The upstream subscription (in, both) is made right after connecting: give it a moment
        # by waiting for a message on it to come through.
        up_sub = Client(up.port, "up-sub", proto)
        up_sub.subscribe("hq/site1/#", 2)
        up_sub.subscribe("chat/#", 2)
        edge_sub = Client(av.port, "edge-sub", proto)
        edge_sub.subscribe("cmd/#", 2)
        edge_sub.subscribe("chat/#", 2)
        edge_pub = Client(av.port, "edge-pub", proto)
        up_pub = Client(up.port, "up-pub", proto)
        deadline = time.time() + 10
        while time.time() < deadline:  # the bridge's upstream SUBSCRIBE is in place once a probe comes through
            up_pub.publish("edge/cmd/probe", "p", 1)
            if edge_sub.collect(1, 0.3):
                break
        edge_sub.drain(0.3)
        n = 20
        for qos in (0, 1, 2):
            for i in range(n):
                edge_pub.publish(f"site/sensors/q{qos}", f"{i}", qos)
                up_pub.publish(f"edge/cmd/q{qos}", f"{i}", qos)
        out = up_sub.collect(3 * n, 15)
        got_in = edge_sub.collect(3 * n, 15)
        for qos in (0, 1, 2):
            out_q = [m for m in out if m[0] == f"hq/site1/sensors/q{qos}"]
            in_q = [m for m in got_in if m[0] == f"cmd/q{qos}"]
            result[f"{version} out qos{qos}"] = len(out_q)
            result[f"{version} out qos{qos} in order"] = [m[1] for m in out_q] == [str(i) for i in range(n)]
            result[f"{version} out qos{qos} delivered qos"] = sorted(set(m[2] for m in out_q))
            result[f"{version} in qos{qos}"] = len(in_q)
            result[f"{version} in qos{qos} in order"] = [m[1] for m in in_q] == [str(i) for i in range(n)]
        # both: one message each way on the same topic, each arrives once on the other side
        # and once locally, never echoed back.
        edge_pub.publish("chat/a", "from-edge", 1)
        up_pub.publish("chat/b", "from-up", 1)
        time.sleep(0.5)
        result[f"{version} both at upstream"] = sorted(m[1] for m in up_sub.drain(1.0))
        result[f"{version} both at edge"] = sorted(m[1] for m in edge_sub.drain(1.0))
        row = av.bridge_row()
        result[f"{version} row"] = {k: row.get(k) for k in ("client_id", "is_bridge", "bridge_state", "bridge_upstream", "bridge_forwarded_out", "bridge_forwarded_in", "proto_ver")}
        metrics = av.get("/metrics")
        result[f"{version} metrics"] = [line for line in metrics.splitlines() if line.startswith("aviary_bridge_")]
        for c in (up_sub, edge_sub, edge_pub, up_pub):
            c.close()
        result[f"{version} exit"] = av.stop()
        up.stop()
    return result


def both_ways(make_upstream, retain_check):
    """`both` on one topic at QoS 1, over 3.1.1 and 5.0: a message published on either side
    arrives once on each side and is not bounced back. With `retain_check`, the edge's message is
    retained and a late subscriber upstream must get it with its retain flag."""
    result = {}
    for version in ("mqttv311", "mqttv50"):
        up = make_upstream()
        av = Aviary(bridge(up.port, ["loop/# both 1"], version))
        av.wait_bridge("connected")
        up_sub = Client(up.port, "up-sub")
        up_sub.subscribe("loop/#", 1)
        edge_sub = Client(av.port, "edge-sub")
        edge_sub.subscribe("loop/#", 1)
        up_pub = Client(up.port, "up-pub")
        deadline = time.time() + 10
        while time.time() < deadline:
            up_pub.publish("loop/probe", "p", 1)
            if [m for m in edge_sub.collect(1, 0.3) if m[1] == "p"]:
                break
        time.sleep(0.5)
        edge_sub.drain(0.5)
        up_sub.drain(0.5)
        edge_pub = Client(av.port, "edge-pub")
        edge_pub.publish("loop/x", "edge", 1, retain=retain_check)
        up_pub.publish("loop/y", "up", 1)
        result[f"{version} edge saw"] = sorted(m[1] for m in edge_sub.drain(1.5))
        result[f"{version} upstream saw"] = sorted(m[1] for m in up_sub.drain(1.5))
        clients = [up_sub, edge_sub, edge_pub, up_pub]
        if retain_check:
            rows = up.get("/api/v4/clients/edge-1")["data"]
            result[f"{version} upstream row"] = {k: rows[0].get(k) for k in ("proto_ver", "connected")} if rows else None
            late = Client(up.port, "late-sub")
            late.subscribe("loop/x", 1)
            result[f"{version} retained upstream"] = [(m[1], m[3]) for m in late.collect(1, 5)]
            clients.append(late)
        for c in clients:
            c.close()
        av.stop()
        up.stop()
    return result


def loop():
    """With a real Mosquitto upstream (3.1.1: the bridge flag it honours; 5.0: No Local)."""
    return both_ways(lambda: Mosquitto().start(), retain_check=False)


def aviary_upstream():
    """aviary bridged to aviary: its 3.1.1 bridge flag (protocol level 0x84) and 5.0's No Local
    keep each message from coming back; the upstream lists the bridge as a 3.1.1 or 5.0 client;
    Retain As Published keeps the retained message retained upstream."""
    return both_ways(lambda: Aviary([]), retain_check=True)


def restart():
    """QoS 1 out while the upstream Mosquitto is restarted twice: every message acknowledged
    to the publisher reaches the upstream subscriber (a persistent session there)."""
    up = Mosquitto().start()
    av = Aviary(bridge(up.port, ["data/# out 1"]))
    av.wait_bridge("connected")
    sub = Client(up.port, "up-sub", clean=False)
    sub.subscribe("data/#", 1)
    pub = Client(av.port, "edge-pub")
    n = 3000
    acked = []
    restarts = 0
    i = 0
    while i < n:
        pub.publish("data/x", str(i), 1)
        acked.append(i)
        if i in (800, 1900):
            # A real loss of the link each time: the bridge notices, the upstream comes back, the
            # bridge reconnects; messages published meanwhile wait in its queue.
            up.stop()
            restarts += 1
            av.wait_bridge("backing off")
            for j in range(i + 1, i + 101):
                pub.publish("data/x", str(j), 1)
                acked.append(j)
            up.start()
            av.wait_bridge("connected")
            i += 100
        i += 1
    got = set()
    deadline = time.time() + 40
    while len(got) < n and time.time() < deadline:
        for m in sub.collect(n, 1):
            got.add(int(m[1]))
    row = av.bridge_row()
    result = {"acknowledged": len(acked), "received": len(got), "missing": sorted(set(acked) - got)[:20], "restarts": restarts,
              "connects": row.get("bridge_connects"), "state": row.get("bridge_state")}
    sub.close()
    pub.close()
    av.stop()
    up.stop()
    return result


def queue_scenario():
    """The upstream is down when aviary starts: the bridge backs off (state and error in the
    API), messages for it queue in its session, and arrive once the upstream comes up."""
    up = Mosquitto().start()
    sub = Client(up.port, "up-sub", clean=False)
    sub.subscribe("q/#", 1)
    sub.close()
    up.stop()
    av = Aviary(bridge(up.port, ["q/# out 1"], extra=["restart_timeout = 0.5 1"]))
    backing = av.wait_bridge("backing off")
    pub = Client(av.port, "edge-pub")
    for i in range(50):
        pub.publish("q/t", str(i), 1)
    queued = av.bridge_row()
    metrics_down = [line for line in av.get("/metrics").splitlines() if line.startswith("aviary_bridge_")]
    up.start()
    av.wait_bridge("connected")
    sub = Client(up.port, "up-sub", clean=False)
    got = [m[1] for m in sub.collect(50, 15)]
    result = {"state_while_down": backing.get("bridge_state"), "error_while_down": backing.get("bridge_error", ""),
              "queued_while_down": queued.get("mqueue_len"), "metrics_while_down": metrics_down,
              "received": got == [str(i) for i in range(50)], "received_count": len(got)}
    sub.close()
    pub.close()
    av.stop()
    up.stop()
    return result


def durable():
    """Persistence on, upstream down: QoS 1 messages for it are acknowledged once on disk, the
    broker is killed (SIGKILL), restarted, and still delivers every one once the upstream is up."""
    up = Mosquitto().start()
    sub = Client(up.port, "up-sub", clean=False)
    sub.subscribe("d/#", 1)
    sub.close()
    up.stop()
    store = os.path.join(WORK, "store")
    extra = f"persistence = on\npersistence_dir = {store}\n"
    av = Aviary(bridge(up.port, ["d/# out 1"], extra=["restart_timeout = 0.5 1"]), extra=extra)
    av.wait_bridge("backing off")
    pub = Client(av.port, "edge-pub")
    for i in range(30):
        pub.publish("d/t", str(i), 1)
    pub.close()
    row = av.bridge_row()
    queued_before = row.get("mqueue_len") + row.get("inflight")
    av.proc.kill()
    av.proc.wait(timeout=10)
    av = Aviary(bridge(up.port, ["d/# out 1"], extra=["restart_timeout = 0.5 1"]), extra=extra)
    row = av.wait_bridge("backing off")
    queued_after = row.get("mqueue_len") + row.get("inflight")
    up.start()
    av.wait_bridge("connected")
    sub = Client(up.port, "up-sub", clean=False)
    got = [m[1] for m in sub.collect(30, 15)]
    sub.close()
    av.stop()
    up.stop()
    return {"queued_before_kill": queued_before, "queued_after_restart": queued_after, "received": got == [str(i) for i in range(30)], "received_count": len(got)}


def tls():
    """The bridge connects to a Mosquitto TLS listener, verifying its certificate with bridge_cafile."""
    up = Mosquitto(tls=True).start()
    av = Aviary(bridge(up.port, ["secure/# out 1"], "mqttv50", extra=[f"bridge_cafile = {CERTS}/ca.pem"]))
    av.wait_bridge("connected")
    sub = Client(up.port, "up-sub", tls=True)
    sub.subscribe("secure/#", 1)
    pub = Client(av.port, "edge-pub")
    for i in range(10):
        pub.publish("secure/t", str(i), 1)
    got = [m[1] for m in sub.collect(10, 10)]
    sub.close()
    pub.close()
    av.stop()
    up.stop()
    # A CA that did not sign the upstream's certificate: the bridge refuses to connect.
    up = Mosquitto(tls=True).start()
    av = Aviary(bridge(up.port, ["secure/# out 1"], "mqttv50", extra=["bridge_cafile = /etc/ssl/certs/ca-certificates.crt"]))
    refused = av.wait_bridge("backing off")
    av.stop()
    up.stop()
    return {"received": got == [str(i) for i in range(10)], "wrong_ca_state": refused.get("bridge_state"), "wrong_ca_error": refused.get("bridge_error", "")}


def kick():
    """Disconnecting the bridge's row through the API: the bridge reconnects by itself."""
    up = Mosquitto().start()
    av = Aviary(bridge(up.port, ["k/# out 1"]))
    av.wait_bridge("connected")
    request = urllib.request.Request(f"http://127.0.0.1:{av.api}/api/v4/clients/bridge-up", method="DELETE",
                                     headers={"Authorization": "Basic " + base64.b64encode(b"admin:public").decode()})
    with urllib.request.urlopen(request, timeout=5) as response:
        code = response.status
    time.sleep(0.1)
    row = av.wait_bridge("connected")
    sub = Client(up.port, "up-sub")
    sub.subscribe("k/#", 1)
    pub = Client(av.port, "edge-pub")
    pub.publish("k/t", "after", 1)
    got = [m[1] for m in sub.collect(1, 10)]
    sub.close()
    pub.close()
    av.stop()
    up.stop()
    return {"kick_status": code, "connects": row.get("bridge_connects"), "after": got}


SCENARIOS = {"directions": directions, "loop": loop, "aviary_upstream": aviary_upstream, "restart": restart, "queue": queue_scenario, "durable": durable, "tls": tls, "kick": kick}

try:
    print(json.dumps(SCENARIOS[SCENARIO]()))
finally:
    for p in processes:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(WORK, ignore_errors=True)
