"""A stand-in for NanoMQ's HTTP API v4 that answers with the responses captured from a real
NanoMQ 0.25.5 (Tests/Fixtures/nanomq): /brokers, /clients (with an id holding a space and a
'/'), lookups (an empty list for such an id, as NanoMQ answers), /prometheus (its message
counters grow with every scrape), and DELETE /api/v4/clients/{id} either as 0.25.5 (404
{"code":102}: no such route) or, with --kick, as newer NanoMQ (200 for a connected client, 404
CLIENT_IS_OFFLINE for an offline one).

Usage: fake_nanomq.py PORT GOLDEN_DIR [--kick]   Prints "listening PORT".
"""
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
GOLDEN = sys.argv[2]
KICK = "--kick" in sys.argv[3:]


def golden_body(name):
    text = open(os.path.join(GOLDEN, name), encoding="utf-8", newline="").read()
    response = text.split("=== RESPONSE", 1)[1].split("\n", 1)[1]
    return response.split("\r\n\r\n", 1)[1].encode()


BROKERS = golden_body("03_GET_brokers.txt")
CLIENTS = json.loads(golden_body("88_GET_clients_q_proto_ver_4_with_odd_id.txt"))["data"] + json.loads(golden_body("05_GET_clients.txt"))["data"][1:3]
PROMETHEUS = golden_body("36_GET_prometheus.txt").decode()
scrapes = 0


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        global scrapes
        path = urllib.parse.urlsplit(self.path).path
        if path == "/api/v4/brokers":
            return self.reply(200, BROKERS)
        if path == "/api/v4/clients":
            return self.reply(200, {"code": 0, "data": CLIENTS})
        if path == "/api/v4/prometheus":
            scrapes += 1
            text = PROMETHEUS.replace("nanomq_messages_received 46", f"nanomq_messages_received {46 + 100 * scrapes}")
            text = text.replace("nanomq_messages_sent 67", f"nanomq_messages_sent {67 + 200 * scrapes}")
            return self.reply(200, text.encode(), "text/plain")
        if path.startswith("/api/v4/clients/"):
            raw = path[len("/api/v4/clients/"):]
            if "/" in raw:
                return self.reply(404, b'{"code":102}')
            cid = urllib.parse.unquote(raw)
            # NanoMQ's lookup does not find an id with a space or '/' (golden 83): an empty list.
            rows = [c for c in CLIENTS if c["client_id"] == cid and " " not in cid and "/" not in cid]
            return self.reply(200, {"code": 0, "data": rows})
        if path.startswith("/api/v4/subscriptions/"):
            return self.reply(200, {"code": 0, "data": []})
        return self.reply(404, b'{"code":102}')

    def do_DELETE(self):
        path = urllib.parse.urlsplit(self.path).path
        if not KICK or not path.startswith("/api/v4/clients/"):
            return self.reply(404, b'{"code":102}')
        cid = urllib.parse.unquote(path[len("/api/v4/clients/"):])
        client = next((c for c in CLIENTS if c["client_id"] == cid), None)
        if client is None or client["conn_state"] != "connected":
            return self.reply(404, {"code": 404, "message": "CLIENT_IS_OFFLINE"})
        client["conn_state"] = "disconnected"
        return self.reply(200, {"code": 0})


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
