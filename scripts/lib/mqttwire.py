"""The few MQTT 3.1.1 wire pieces the raw-socket scripts (bench, crash test) write by hand."""


def remaining_length(n):
    """The Remaining Length field: a variable byte integer (section 2.2.3)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    """A control packet: first byte (type and flags), Remaining Length, body."""
    return bytes([first]) + remaining_length(len(body)) + body


def string(text):
    """A UTF-8 string with its two-byte length."""
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def read_packet(sock, buffer=b""):
    """One packet from `sock`: (first byte, body, what was read past it). OSError when closed."""
    while True:
        if len(buffer) >= 2:
            length, shift, i = 0, 0, 1
            while i < len(buffer) and i < 5:
                byte = buffer[i]
                length |= (byte & 0x7F) << shift
                shift += 7
                i += 1
                if not byte & 0x80:
                    if len(buffer) >= i + length:
                        return buffer[0], buffer[i:i + length], buffer[i + length:]
                    break
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed by the broker")
        buffer += chunk


class RawClient:
    """A blocking MQTT 3.1.1 or 5.0 publisher that reports exactly what the broker answered:
    `publish` returns ("ok" | "refused", reason code, reason string) or ("closed", None, None)
    when the broker closed the connection instead of acknowledging."""

    def __init__(self, port, client_id, version=5, clean=True, timeout=10):
        import socket
        self.version = version
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.next_id = 0
        props = b"\x00" if version == 5 else b""
        body = string("MQTT") + bytes([version, 0x02 if clean else 0x00]) + (30).to_bytes(2, "big") + props + string(client_id)
        self.sock.sendall(packet(0x10, body))
        first, body = self.read()
        code = body[1]
        if first >> 4 != 2 or code != 0:
            raise OSError(f"CONNECT refused: {code:#x}")

    def read(self):
        first, body, self.buffer = read_packet(self.sock, self.buffer)
        return first, body

    def _ack(self, body):
        """Reason code and reason string of a PUBACK/PUBREC/PUBCOMP body."""
        if self.version != 5 or len(body) < 3:
            return 0, None
        code, reason = body[2], None
        if len(body) > 3:
            length, shift, start = 0, 0, 3
            while True:  # the properties' length, a variable byte integer
                byte = body[start]
                length |= (byte & 0x7F) << shift
                shift, start = shift + 7, start + 1
                if not byte & 0x80:
                    break
            props, i = body[start:start + length], 0
            while i < len(props):
                ident = props[i]
                if ident == 0x1F:
                    n = int.from_bytes(props[i + 1:i + 3], "big")
                    reason = props[i + 3:i + 3 + n].decode()
                    i += 3 + n
                else:
                    break
        return code, reason

    def publish(self, topic, payload, qos=1, retain=False):
        self.next_id = self.next_id % 65535 + 1
        pid = self.next_id.to_bytes(2, "big")
        props = b"\x00" if self.version == 5 else b""
        try:
            self.sock.sendall(packet(0x30 | (qos << 1) | (1 if retain else 0), string(topic) + pid + props + payload))
            first, body = self.read()
            code, reason = self._ack(body)
            if qos == 2 and first >> 4 == 5:
                if code >= 0x80:
                    return "refused", code, reason
                self.sock.sendall(packet(0x62, pid + (b"\x00" if self.version == 5 else b"")))
                first, body = self.read()
                code, reason = self._ack(body)
            return ("refused" if code >= 0x80 else "ok"), code, reason
        except OSError:
            return "closed", None, None

    def close(self):
        try:
            self.sock.sendall(packet(0xE0, b"\x00" if self.version == 5 else b""))
            self.sock.close()
        except OSError:
            pass
