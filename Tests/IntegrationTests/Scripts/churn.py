#!/usr/bin/env python3
"""Connection churn for the robustness tests: churn.py PORT CYCLES WORKER.

Raw sockets, no client library (fast enough for thousands of cycles per second). Each cycle
connects, waits for CONNACK and leaves; the mode rotates through:
  0: 3.1.1 clean session, DISCONNECT
  1: 5.0 clean start, DISCONNECT
  2: 3.1.1 persistent session (one of 20 ids per worker), DISCONNECT
  3: 5.0 clean start = 0 with Session Expiry 0, closed without DISCONNECT
  4: 3.1.1 clean session, closed without DISCONNECT
At the end every persistent id reconnects once with a clean session, which discards it, so the
broker should hold no session from this worker afterwards. Prints the cycles completed."""
import socket
import struct
import sys


def s(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def packet(first, body):
    out = bytearray([first])
    n = len(body)
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + body


def connect(client_id, v5, clean):
    flags = 0x02 if clean else 0x00
    body = s("MQTT") + bytes([5 if v5 else 4, flags]) + struct.pack(">H", 30)
    if v5:
        body += b"\x00"  # no properties: Session Expiry 0
    return packet(0x10, body + s(client_id))


def read_connack(sock):
    data = b""
    while len(data) < 2 or len(data) < 2 + data[1]:
        chunk = sock.recv(64)
        if not chunk:
            raise RuntimeError("closed before CONNACK")
        data += chunk
    if data[0] != 0x20:
        raise RuntimeError(f"expected CONNACK, got {data[:4].hex()}")
    code = data[3]
    if code != 0:
        raise RuntimeError(f"CONNACK refused: {code}")


def cycle(port, client_id, v5, clean, disconnect):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(connect(client_id, v5, clean))
        read_connack(sock)
        if disconnect:
            sock.sendall(b"\xe0\x00")
    finally:
        sock.close()


def main():
    port, cycles, worker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    persistent = [f"churn-{worker}-p{i}" for i in range(20)]
    for n in range(cycles):
        mode = n % 5
        if mode == 0:
            cycle(port, f"churn-{worker}-{n}", False, True, True)
        elif mode == 1:
            cycle(port, f"churn-{worker}-{n}", True, True, True)
        elif mode == 2:
            cycle(port, persistent[n % len(persistent)], False, False, True)
        elif mode == 3:
            cycle(port, f"churn-{worker}-{n}", True, False, False)
        else:
            cycle(port, f"churn-{worker}-{n}", False, True, False)
    for client_id in persistent:
        cycle(port, client_id, False, True, True)
    print(cycles)


if __name__ == "__main__":
    main()
