#!/usr/bin/env python3
"""Writes Fuzz/corpus: valid MQTT packets of every type for 3.1, 3.1.1 and 5.0, and 5.0 property
blocks for every context. Each file is the fuzz target's selector byte followed by the input
(see Fuzz/Sources/FuzzDecoder.swift). A test checks that every seed decodes without error."""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Fuzz", "corpus")


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def packet(type_flags, body):
    return bytes([type_flags]) + varint(len(body)) + body


def props(v5, data=b""):
    return varint(len(data)) + data if v5 else b""


# A property block using most 5.0 properties, per context.
P = {
    "payload_format": b"\x01\x01",
    "message_expiry": b"\x02" + struct.pack(">I", 60),
    "content_type": b"\x03" + s("text/plain"),
    "response_topic": b"\x08" + s("reply/to"),
    "correlation": b"\x09" + struct.pack(">H", 3) + b"abc",
    "sub_id": b"\x0b\x07",
    "session_expiry": b"\x11" + struct.pack(">I", 300),
    "client_id": b"\x12" + s("assigned-1"),
    "server_keepalive": b"\x13" + struct.pack(">H", 30),
    "auth_method": b"\x15" + s("SCRAM-SHA-1"),
    "auth_data": b"\x16" + struct.pack(">H", 2) + b"\x01\x02",
    "request_problem": b"\x17\x01",
    "will_delay": b"\x18" + struct.pack(">I", 5),
    "request_response": b"\x19\x01",
    "response_info": b"\x1a" + s("resp"),
    "server_reference": b"\x1c" + s("other:1883"),
    "reason_string": b"\x1f" + s("because"),
    "receive_max": b"\x21" + struct.pack(">H", 20),
    "alias_max": b"\x22" + struct.pack(">H", 10),
    "alias": b"\x23" + struct.pack(">H", 1),
    "max_qos": b"\x24\x01",
    "retain_available": b"\x25\x01",
    "user": b"\x26" + s("key") + s("value"),
    "max_packet": b"\x27" + struct.pack(">I", 65536),
    "wildcard": b"\x28\x01",
    "sub_ids_available": b"\x29\x01",
    "shared_available": b"\x2a\x01",
}
CONTEXTS = {  # index = position in the fuzz target's context list
    "connect": (0, ["session_expiry", "receive_max", "max_packet", "alias_max", "request_response", "request_problem", "user"]),
    "will": (1, ["will_delay", "payload_format", "message_expiry", "content_type", "response_topic", "correlation", "user"]),
    "connack": (2, ["session_expiry", "receive_max", "max_qos", "retain_available", "max_packet", "client_id", "alias_max",
                    "reason_string", "user", "wildcard", "sub_ids_available", "shared_available", "server_keepalive",
                    "response_info", "server_reference"]),
    "publish": (3, ["payload_format", "message_expiry", "alias", "response_topic", "correlation", "user", "sub_id", "content_type"]),
    "ack": (4, ["reason_string", "user"]),
    "subscribe": (5, ["sub_id", "user"]),
    "suback": (6, ["reason_string", "user"]),
    "unsubscribe": (7, ["user"]),
    "unsuback": (8, ["reason_string", "user"]),
    "disconnect": (9, ["session_expiry", "reason_string", "user", "server_reference"]),
    "auth": (10, ["auth_method", "auth_data", "reason_string", "user"]),
}


def block(context):
    return b"".join(P[name] for name in CONTEXTS[context][1])


def connect(version, will=True, user=True):
    v5 = version == 5
    name, level = ("MQIsdp", 3) if version == 3 else ("MQTT", version)
    flags = 0x02 | (0x04 | 0x08 | 0x20 if will else 0) | (0xC0 if user else 0)
    body = s(name) + bytes([level, flags]) + struct.pack(">H", 60) + props(v5, block("connect") if v5 else b"")
    body += s("fuzz-client")
    if will:
        body += props(v5, block("will") if v5 else b"") + s("will/topic") + struct.pack(">H", 4) + b"gone"
    if user:
        body += s("user") + struct.pack(">H", 6) + b"secret"
    return packet(0x10, body)


def packets(version):
    v5 = version == 5
    out = {
        "connect": connect(version),
        "connect-minimal": connect(version, will=False, user=False),
        "connack": packet(0x20, b"\x00\x00" + props(v5, block("connack") if v5 else b"")),
        "publish-qos0": packet(0x30, s("a/b") + props(v5, block("publish") if v5 else b"") + b"hello"),
        "publish-qos1-retain": packet(0x33, s("a/b") + b"\x00\x01" + props(v5) + b"payload"),
        "publish-qos2-dup": packet(0x3C, s("x/y/z") + b"\x00\x02" + props(v5) + b"\x00\xff"),
        "puback": packet(0x40, b"\x00\x01" + (b"\x10" + props(True, block("ack")) if v5 else b"")),
        "pubrec": packet(0x50, b"\x00\x02"),
        "pubrel": packet(0x62, b"\x00\x02" + (b"\x92" + props(True) if v5 else b"")),
        "pubcomp": packet(0x70, b"\x00\x02"),
        "subscribe": packet(0x82, b"\x00\x03" + props(v5, block("subscribe") if v5 else b"")
                            + s("a/+/c") + (b"\x2e" if v5 else b"\x01") + s("$share/g/#") + b"\x00" + s("d/#") + b"\x02"),
        "suback": packet(0x90, b"\x00\x03" + props(v5, block("suback") if v5 else b"") + b"\x00\x01\x80"),
        "unsubscribe": packet(0xA2, b"\x00\x04" + props(v5, block("unsubscribe") if v5 else b"") + s("a/+/c") + s("d/#")),
        "unsuback": packet(0xB0, b"\x00\x04" + (props(True, block("unsuback")) + b"\x00\x11" if v5 else b"")),
        "pingreq": packet(0xC0, b""),
        "pingresp": packet(0xD0, b""),
        "disconnect": packet(0xE0, b"\x04" + props(True, block("disconnect")) if v5 else b""),
    }
    if v5:
        out["auth"] = packet(0xF0, b"\x18" + props(True, block("auth")))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    written = 0
    for version, selector in ((3, 1), (4, 2), (5, 3)):
        all_packets = packets(version)
        for name, data in all_packets.items():
            with open(os.path.join(OUT, f"v{version}-{name}"), "wb") as f:
                f.write(bytes([selector]) + data)
            written += 1
        # A whole session from the first byte: the decoder learns the version from CONNECT.
        stream = b"".join(all_packets[k] for k in ("connect", "subscribe", "publish-qos1-retain", "puback", "pingreq", "disconnect"))
        with open(os.path.join(OUT, f"v{version}-session"), "wb") as f:
            f.write(bytes([0]) + stream)
        written += 1
    for context, (index, _) in CONTEXTS.items():
        with open(os.path.join(OUT, f"properties-{context}"), "wb") as f:
            f.write(bytes([0b1000 | (index << 4)]) + props(True, block(context)))
        written += 1
    print(f"wrote {written} seeds to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    sys.exit(main())
