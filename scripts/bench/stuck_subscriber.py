#!/usr/bin/env python3
"""A stuck MQTT 3.1.1 subscriber for scripts/bench.sh: connects, subscribes at QoS 1 to FILTER
with a small receive buffer, then never reads another byte. Exits when the broker closes the
connection (noticed by a zero-byte peek every 100 ms once the socket is writable-only) or
after 60 s. Usage: stuck_subscriber.py PORT FILTER"""
import socket
import struct
import sys
import time

port, topic = int(sys.argv[1]), sys.argv[2].encode()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
client_id = b"stuck-subscriber"
body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack(">H", len(client_id)) + client_id
s.sendall(bytes([0x10, len(body)]) + body)
assert s.recv(4)[:2] == b"\x20\x02", "no CONNACK"
payload = struct.pack(">H", 1) + struct.pack(">H", len(topic)) + topic + b"\x01"
s.sendall(bytes([0x82, len(payload)]) + payload)
print("subscribed", flush=True)
deadline = time.monotonic() + 60
# Never read: just wait for the broker to give up on us (a send fails, or the peer closes).
while time.monotonic() < deadline:
    time.sleep(0.5)
    try:
        s.send(b"\xc0\x00")  # PINGREQ, so that a closed connection shows as an error
    except OSError:
        sys.exit(0)
sys.exit(1)
