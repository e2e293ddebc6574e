"""Opens N real MQTT 3.1.1 connections (CONNECT, wait for CONNACK, keepalive 0) and holds
them until killed. Usage: idle_clients.py PORT N"""
import resource
import socket
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
sockets = []
for i in range(n):
    cid = f"idle-{i:05d}".encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") + cid
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(bytes([0x10, len(body)]) + body)
    sockets.append(s)
for s in sockets:
    if s.recv(4)[:2] != b"\x20\x02":
        sys.exit("no CONNACK")
print(f"connected {n}", flush=True)
while True:
    time.sleep(3600)
