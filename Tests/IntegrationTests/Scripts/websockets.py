#!/usr/bin/env python3
"""MQTT over WebSockets against aviary, for WebSocketTests. One JSON line per scenario.

  websockets.py paho PORT PATH [CA]    paho-mqtt's websockets transport, MQTT 3.1.1 and 5.0, QoS 0/1/2
                                       (with CA: wss:// and TLS verification)
  websockets.py raw PORT PATH          a hand-written WebSocket client: CONNECT split across three
                                       frames, several packets in one frame, MQTT bytes counted
  websockets.py text PORT PATH         a text frame: close 1003
  websockets.py oversized PORT PATH    a frame longer than the broker accepts: close 1009
  websockets.py kick PORT PATH         connects as ws-kick (5.0) and waits for the broker's DISCONNECT
"""
import base64, json, os, socket, ssl, struct, sys, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from mqttwire import packet, string  # noqa: E402

mode, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def paho():
    import paho.mqtt.client as mqtt
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    results = {}
    for version, name in ((mqtt.MQTTv311, "3.1.1"), (mqtt.MQTTv5, "5.0")):
        for qos in (0, 1, 2):
            got, ready = [], threading.Event()
            topic = f"ws/{name}/{qos}"

            def client(cid):
                c = mqtt.Client(client_id=cid, transport="websockets", protocol=version)
                c.ws_set_options(path=path)
                if ca:
                    c.tls_set(ca_certs=ca)
                return c

            sub = client(f"ws-sub-{name}-{qos}")
            sub.on_message = lambda c, u, m: got.append(m.payload.decode())
            sub.on_subscribe = lambda *a: ready.set()
            sub.connect("127.0.0.1" if not ca else "localhost", port)
            sub.loop_start()
            sub.subscribe(topic, qos=qos)
            ready.wait(10)
            pub = client(f"ws-pub-{name}-{qos}")
            pub.connect("127.0.0.1" if not ca else "localhost", port)
            pub.loop_start()
            for n in range(20):
                pub.publish(topic, f"m{n}", qos=qos).wait_for_publish(10)
            deadline = time.time() + 10
            while len(got) < 20 and time.time() < deadline:
                time.sleep(0.02)
            for c in (pub, sub):
                c.disconnect()
                c.loop_stop()
            results[f"{name} qos{qos}"] = len(got)
    print(json.dumps(results))


def handshake(protocol="mqtt"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n")
    s.sendall(request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += s.recv(1)
    head = response.decode()
    assert " 101 " in head.split("\r\n")[0], head
    assert "sec-websocket-protocol: mqtt" in head.lower(), head
    return s


def frame(opcode, payload, fin=True, length=None):
    mask = os.urandom(4)
    n = len(payload) if length is None else length
    header = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        header += bytes([0x80 | n])
    elif n < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Reader:
    def __init__(self, s):
        self.s, self.buffer = s, b""

    def exactly(self, n):
        while len(self.buffer) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def frame(self):
        b0, b1 = self.exactly(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.exactly(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self.exactly(8))[0]
        return b0 & 0x0F, self.exactly(n)


def mqtt_packets(stream):
    """Splits a byte string into MQTT packets (first byte, body)."""
    packets, i = [], 0
    while i < len(stream):
        first, length, shift, j = stream[i], 0, 0, i + 1
        while True:
            byte = stream[j]
            length |= (byte & 0x7F) << shift
            shift += 7
            j += 1
            if not byte & 0x80:
                break
        packets.append((first, stream[j:j + length]))
        i = j + length
    return packets, i


def raw():
    s = handshake()
    r = Reader(s)
    sent = received = 0
    connect = packet(0x10, string("MQTT") + bytes([4, 0x00]) + (30).to_bytes(2, "big") + string("ws-raw"))
    sent += len(connect)
    s.sendall(frame(0x2, connect[:3], fin=False) + frame(0x0, connect[3:9], fin=False) + frame(0x0, connect[9:]))
    stream = b""
    subscribe = packet(0x82, (1).to_bytes(2, "big") + string("raw/t") + bytes([1]))
    publish = packet(0x32, string("raw/t") + (2).to_bytes(2, "big") + b"over websockets")
    both = subscribe + publish
    sent += len(both)
    s.sendall(frame(0x2, both))
    wanted = {0x20: 0, 0x90: 0, 0x40: 0, 0x30: 0}
    deadline = time.time() + 10
    while time.time() < deadline and not all(wanted[k] for k in wanted):
        opcode, payload = r.frame()
        assert opcode == 0x2, f"binary frames only, got opcode {opcode}"
        stream += payload
        packets, used = mqtt_packets(stream)
        stream = stream[used:]
        received += used
        for first, body in packets:
            kind = first & 0xF0
            if kind in wanted:
                wanted[kind] += 1
            if kind == 0x30 and first & 0x06:  # QoS 1 delivery: acknowledge it
                ack = packet(0x40, body[2 + len("raw/t"):4 + len("raw/t")])
                sent += len(ack)
                s.sendall(frame(0x2, ack))
    disconnect = bytes([0xE0, 0])
    sent += len(disconnect)
    s.sendall(frame(0x2, disconnect))
    opcode, payload = r.frame()  # the broker's closing handshake
    print(json.dumps({"connack": wanted[0x20], "suback": wanted[0x90], "puback": wanted[0x40], "publish": wanted[0x30],
                      "mqtt_bytes_sent": sent, "mqtt_bytes_received": received, "close_opcode": opcode,
                      "close_code": struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None}))


def closes_with(first_frame):
    s = handshake()
    r = Reader(s)
    s.sendall(first_frame)
    code, closed = None, False
    try:
        while True:
            opcode, payload = r.frame()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                break
    except (EOFError, ConnectionResetError, socket.timeout):
        pass
    try:
        closed = s.recv(1) == b""
    except (ConnectionResetError, socket.timeout, OSError):
        closed = True
    print(json.dumps({"close_code": code, "closed": closed}))


def kick():
    s = handshake()
    r = Reader(s)
    connect = packet(0x10, string("MQTT") + bytes([5, 0x02]) + (30).to_bytes(2, "big") + bytes([0]) + string("ws-kick"))
    s.sendall(frame(0x2, connect))
    opcode, payload = r.frame()
    print("CONNECTED", flush=True)
    s.settimeout(20)
    stream = b""
    while True:
        opcode, payload = r.frame()
        if opcode != 0x2:
            continue
        stream += payload
        packets, used = mqtt_packets(stream)
        stream = stream[used:]
        for first, body in packets:
            if first == 0xE0:
                print(json.dumps({"disconnect_reason": body[0] if body else 0}), flush=True)
                return


if mode == "paho":
    paho()
elif mode == "raw":
    raw()
elif mode == "text":
    closes_with(frame(0x1, b"hello"))
elif mode == "oversized":
    closes_with(frame(0x2, b"", length=64 * 1024 * 1024)[:14])
elif mode == "kick":
    kick()
