"""Fan-in through a slow subscriber with Eclipse paho-mqtt: does every PUBACKed message arrive?

Usage: flow_fanin.py PORT PUBLISHERS MESSAGES_EACH SUBSCRIBER_DELAY_SECONDS
PUBLISHERS paho clients publish MESSAGES_EACH numbered QoS 1 messages each, as fast as paho
lets them (its in-flight window of 20), to fanin/<n>; one QoS 1 subscriber on fanin/# sleeps
SUBSCRIBER_DELAY_SECONDS per message, so the broker is overloaded. Prints one JSON line:
acked (PUBACKs the publishers got), received (distinct messages), duplicates, lost (acked and
never received), seconds. Exits 1 if anything acknowledged was lost; stops by itself (60 s).
"""
import json
import os
import sys
import threading
import time

import paho.mqtt.client as mqtt

PORT, PUBLISHERS, EACH, DELAY = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
V2 = hasattr(mqtt, "CallbackAPIVersion")
DEADLINE = time.monotonic() + 60


def client(cid):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid) if V2 else mqtt.Client(client_id=cid)
    connected = threading.Event()
    c.on_connect = lambda *a: connected.set()
    c.connect("127.0.0.1", PORT, keepalive=30)
    c.loop_start()
    if not connected.wait(5):
        raise SystemExit(f"{cid} did not connect")
    return c


lock = threading.Lock()
received = set()
duplicates = 0


def on_message(c, userdata, message):
    global duplicates
    if DELAY:
        time.sleep(DELAY)
    with lock:
        if message.payload in received:
            duplicates += 1
        received.add(message.payload)


subscribed = threading.Event()
sub = client("fanin-sub")
sub.on_message = on_message
sub.on_subscribe = lambda *a: subscribed.set()
sub.subscribe("fanin/#", qos=1)
if not subscribed.wait(5):
    raise SystemExit("no SUBACK")

started = time.monotonic()
acked = set()
publishers = []
for p in range(PUBLISHERS):
    c = client(f"fanin-pub-{p}")
    mids = {}

    def on_publish(c, userdata, mid, *rest, mids=mids):
        with lock:
            if mid in mids:
                acked.add(mids[mid])

    c.on_publish = on_publish
    publishers.append((p, c, mids))


def publish_all(p, c, mids):
    for n in range(EACH):
        payload = f"{p}-{n}".encode()
        info = c.publish(f"fanin/{p}", payload, qos=1)
        with lock:
            mids[info.mid] = payload
            if info.is_published():  # acknowledged before the mid was recorded
                acked.add(payload)


threads = [threading.Thread(target=publish_all, args=entry) for entry in publishers]
for t in threads:
    t.start()
for t in threads:
    t.join()
total = PUBLISHERS * EACH
while time.monotonic() < DEADLINE:
    with lock:
        done = len(acked) >= total and acked <= received
    if done:
        break
    time.sleep(0.05)
elapsed = time.monotonic() - started
with lock:
    lost = len(acked - received)
    result = {"acked": len(acked), "received": len(received), "duplicates": duplicates, "lost": lost, "seconds": round(elapsed, 2)}
print(json.dumps(result), flush=True)
# Not loop_stop(): joining paho's network threads one by one takes up to a second each.
os._exit(1 if lost or len(acked) < total else 0)
