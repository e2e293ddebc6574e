"""Opens N plain TCP connections to 127.0.0.1:PORT (sending SEND_BYTES bytes on each, default
none) and holds them until killed. Usage: raw_sockets.py PORT N [SEND_BYTES]"""
import resource
import socket
import sys
import time

port, n = int(sys.argv[1]), int(sys.argv[2])
payload = b"x" * (int(sys.argv[3]) if len(sys.argv) > 3 else 0)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
sockets = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    if payload:
        s.sendall(payload)
    sockets.append(s)
print(f"connected {n}", flush=True)
while True:
    time.sleep(3600)
