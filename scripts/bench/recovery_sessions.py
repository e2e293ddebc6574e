#!/usr/bin/env python3
"""Fills a broker with persistent sessions and queued messages for the recovery benchmark.

SESSIONS clients (MQTT 3.1.1, clean session 0) connect, subscribe to rec/all at QoS 1 and
disconnect, PARALLEL at a time over raw sockets; then one publisher sends MESSAGES QoS 1
messages to rec/all, each queued for every offline session (SESSIONS x MESSAGES queued in
all). Prints one JSON line with the counts and the seconds each step took.
Usage: recovery_sessions.py PORT SESSIONS MESSAGES [PARALLEL]
"""
import json, os, selectors, socket, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from mqttwire import packet, string  # noqa: E402

port, sessions, messages = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
parallel = int(sys.argv[4]) if len(sys.argv) > 4 else 500


def session_bytes(i):
    connect = packet(0x10, string("MQTT") + bytes([4, 0x00]) + (60).to_bytes(2, "big") + string(f"rec-{i:06d}"))
    subscribe = packet(0x82, (1).to_bytes(2, "big") + string("rec/all") + bytes([1]))
    return connect + subscribe


started = time.time()
selector = selectors.DefaultSelector()
next_id, done, open_count = 0, 0, 0


def open_one():
    global next_id, open_count
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    s.sendall(session_bytes(next_id))
    selector.register(s, selectors.EVENT_READ, bytearray())
    next_id += 1
    open_count += 1


while done < sessions:
    while open_count < parallel and next_id < sessions:
        open_one()
    for key, _ in selector.select(timeout=5):
        s, buffer = key.fileobj, key.data
        chunk = s.recv(64)
        if not chunk:
            raise SystemExit("broker closed a session's connection")
        buffer += chunk
        if len(buffer) >= 4 + 5:  # CONNACK (4 bytes) and SUBACK (5 bytes): the subscription is on disk
            s.sendall(bytes([0xE0, 0]))
            selector.unregister(s)
            s.close()
            open_count -= 1
            done += 1
created = time.time()

p = socket.create_connection(("127.0.0.1", port))
p.sendall(packet(0x10, string("MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big") + string("rec-publisher")))
p.recv(4)
for mid in range(1, messages + 1):
    p.sendall(packet(0x32, string("rec/all") + mid.to_bytes(2, "big") + b"x" * 32))
acks, buffer = 0, b""
while acks < messages:
    buffer += p.recv(65536)
    while len(buffer) >= 4:
        buffer = buffer[4:]
        acks += 1
p.sendall(bytes([0xE0, 0]))
p.close()
print(json.dumps({"sessions": sessions, "messages_queued": sessions * messages, "create_s": round(created - started, 2),
                  "publish_s": round(time.time() - created, 2)}))
