#!/usr/bin/env python3
"""Many watchers on one broker: N idle MQTT clients connected, then dashboards' worth of API
pollers (each on its own keep-alive connection, the sorted top-50 page every second), slowloris
HTTP clients (a header byte a second), WebSocket upgrades that never finish and idle API
connections past `api_max_connections`, while a QoS 1 stream runs between two MQTT clients.

Measured before and during the crowd: the API's latency for one more client asking the same
page (p50/p99), and the QoS 1 stream's latency and loss. Also when each slow or idle connection
was closed, the API connection figures in /metrics, and whether a request that arrived at the
cap was answered once room was made. Prints one JSON object (the caller judges it); the broker
is started here and stopped at the end.
"""
import argparse, base64, http.client, json, os, re, resource, socket, subprocess, sys, threading, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from harness import kill, stop, wait_port  # noqa: E402
from mqttwire import RawClient, packet, read_packet, string  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--aviary", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--api-port", type=int, required=True)
ap.add_argument("--ws-port", type=int, required=True)
ap.add_argument("--clients", type=int, default=1000)
ap.add_argument("--pollers", type=int, default=50)
ap.add_argument("--slowloris", type=int, default=20)
ap.add_argument("--ws", type=int, default=10)
ap.add_argument("--idle", type=int, default=40, help="API connections that send nothing")
ap.add_argument("--seconds", type=float, default=8)
ap.add_argument("--rate", type=int, default=200, help="QoS 1 messages a second in the stream")
ap.add_argument("--idle-timeout", type=int, default=3)
ap.add_argument("--connect-timeout", type=int, default=3)
ap.add_argument("--max-connections", type=int, default=100)
args = ap.parse_args()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:public").decode()}
PAGE = "/api/v4/clients?_sort=recv_oct&_order=desc&_limit=50"
result = {}


def phase(text):
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def figures(values):
    return {"n": len(values), "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99), "max_ms": max(values) if values else None}


def metrics():
    conn = http.client.HTTPConnection("127.0.0.1", args.api_port, timeout=30)
    conn.request("GET", "/metrics", headers=AUTH)
    text = conn.getresponse().read().decode()
    conn.close()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(aviary_api_connections\w*) (\S+)$", text, re.M)}


def probe(count, interval):
    """The API's latency for a client asking the sorted page: ms per request."""
    conn = http.client.HTTPConnection("127.0.0.1", args.api_port, timeout=30)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", PAGE, headers=AUTH)
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            times.append((time.perf_counter() - start) * 1000)
        time.sleep(interval)
    conn.close()
    return times


def stream(seconds):
    """QoS 1 from one client to another at `rate`: latency (ms) of each message and how many were lost."""
    sub = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    sub.sendall(packet(0x10, string("MQTT") + bytes([4, 0x02]) + (30).to_bytes(2, "big") + string(f"stream-sub-{time.time()}")))
    buffer = read_packet(sub)[2]
    sub.sendall(packet(0x82, (1).to_bytes(2, "big") + string("watch/stream") + b"\x01"))
    _, _, buffer = read_packet(sub, buffer)
    sent, latencies = {}, []
    done = threading.Event()

    def receive():
        nonlocal buffer
        while not done.is_set() or len(latencies) < len(sent):
            try:
                first, body, buffer = read_packet(sub, buffer)
            except OSError:
                return
            if first >> 4 == 3:
                n = int.from_bytes(body[0:2], "big")
                topic_end = 2 + n
                pid = body[topic_end:topic_end + 2]
                number = int(body[topic_end + 2:])
                if number in sent:
                    latencies.append((time.perf_counter() - sent[number]) * 1000)
                sub.sendall(packet(0x40, pid))

    reader = threading.Thread(target=receive, daemon=True)
    reader.start()
    pub = RawClient(args.port, f"stream-pub-{time.time()}", version=4)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += 1
        sent[n] = time.perf_counter()
        status, _, _ = pub.publish("watch/stream", str(n).encode(), qos=1)
        if status != "ok":
            break
        pause = start + n / args.rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    deadline = time.time() + 10
    while len(latencies) < len(sent) and time.time() < deadline:
        time.sleep(0.05)
    done.set()
    pub.close()
    sub.close()
    return {**figures(latencies), "sent": len(sent), "lost": len(sent) - len(latencies)}


def closed_after(sock, start, limit=60):
    """Seconds until the peer closed `sock` (None if it did not within `limit`)."""
    sock.settimeout(limit)
    try:
        while sock.recv(4096):
            pass
        return time.perf_counter() - start
    except OSError:
        return None


broker = subprocess.Popen(
    [args.aviary, "serve", "--mqtt-port", str(args.port), "--api-port", str(args.api_port), "--ws-port", str(args.ws_port),
     "--api-idle-timeout", str(args.idle_timeout), "--api-max-connections", str(args.max_connections),
     "--connect-timeout", str(args.connect_timeout), "--max-connections", str(args.clients + 200)],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    wait_port(args.port, also=metrics)

    phase(f"{args.clients} MQTT clients")
    clients = []
    for i in range(args.clients):
        cid = f"idle-{i:05d}".encode()
        body = b"\x00\x04MQTT\x04\x02\x00\x00" + len(cid).to_bytes(2, "big") + cid
        s = socket.create_connection(("127.0.0.1", args.port))
        s.sendall(bytes([0x10, len(body)]) + body)
        clients.append(s)
    for s in clients:
        if s.recv(4)[:2] != b"\x20\x02":
            raise SystemExit("no CONNACK")

    phase("quiet: API probe and QoS 1 stream")
    result["quiet"] = {"api": figures(probe(30, 0.1)), "mqtt": stream(args.seconds)}

    phase(f"crowd: {args.pollers} pollers, {args.slowloris} slowloris, {args.ws} half-open WebSocket upgrades, {args.idle} idle")
    stopping = threading.Event()
    poll_results = {"ok": 0, "errors": []}
    poll_lock = threading.Lock()

    def poller(i):
        conn = http.client.HTTPConnection("127.0.0.1", args.api_port, timeout=30)
        while not stopping.is_set():
            try:
                conn.request("GET", PAGE, headers=AUTH)
                response = conn.getresponse()
                response.read()
                with poll_lock:
                    if response.status == 200:
                        poll_results["ok"] += 1
                    else:
                        poll_results["errors"].append(response.status)
            except Exception as error:  # noqa: BLE001 (reported, the caller judges)
                with poll_lock:
                    poll_results["errors"].append(repr(error))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", args.api_port, timeout=30)
            stopping.wait(1)
        conn.close()

    pollers = [threading.Thread(target=poller, args=(i,), daemon=True) for i in range(args.pollers)]
    for t in pollers:
        t.start()
    time.sleep(1)

    slow_closed, ws_closed, idle_closed = [], [], []

    def slowloris():
        s = socket.create_connection(("127.0.0.1", args.api_port))
        start = time.perf_counter()
        header = b"GET /api/v4/clients HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
        s.settimeout(1.2)
        for byte in header:
            try:
                s.send(bytes([byte]))
                if s.recv(4096) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        slow_closed.append(time.perf_counter() - start)

    def half_upgrade():
        s = socket.create_connection(("127.0.0.1", args.ws_port))
        start = time.perf_counter()
        s.sendall(b"GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
        ws_closed.append(closed_after(s, start))

    def idle_connection():
        s = socket.create_connection(("127.0.0.1", args.api_port))
        idle_closed.append(closed_after(s, time.perf_counter()))

    crowd = [threading.Thread(target=slowloris, daemon=True) for _ in range(args.slowloris)]
    crowd += [threading.Thread(target=half_upgrade, daemon=True) for _ in range(args.ws)]
    crowd += [threading.Thread(target=idle_connection, daemon=True) for _ in range(args.idle)]
    for t in crowd:
        t.start()
    time.sleep(0.5)
    at_cap = metrics()
    # A new client while the cap is reached: it waits in the backlog and is answered once the
    # idle ones are closed.
    late = {}

    def late_request():
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.api_port, timeout=60)
            conn.request("GET", PAGE, headers=AUTH)
            response = conn.getresponse()
            response.read()
            late.update(status=response.status, seconds=time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001
            late.update(error=repr(error))

    late_thread = threading.Thread(target=late_request, daemon=True)
    late_thread.start()
    crowd_mqtt = stream(args.seconds)
    for t in crowd:
        t.join(timeout=args.idle_timeout + args.connect_timeout + 60)
    late_thread.join(timeout=60)
    result["crowd"] = {"api": figures(probe(30, 0.1)), "mqtt": crowd_mqtt}
    stopping.set()
    for t in pollers:
        t.join(timeout=10)
    after = metrics()
    result["pollers"] = {"requests": poll_results["ok"], "errors": poll_results["errors"][:10], "error_count": len(poll_results["errors"])}
    result["slowloris_closed_s"] = sorted(x for x in slow_closed if x is not None)
    result["ws_closed_s"] = sorted(x for x in ws_closed if x is not None)
    result["idle_closed_s"] = sorted(x for x in idle_closed if x is not None)
    result["counts"] = {"slowloris": len(slow_closed), "ws": len(ws_closed), "idle": len(idle_closed)}
    result["at_cap"] = at_cap
    result["after"] = after
    result["late"] = late
    result["clients"] = args.clients
    for s in clients:
        s.close()
    result["exit"] = stop(broker, timeout=30)
    broker = None
    print(json.dumps(result))
finally:
    kill(broker)
