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
