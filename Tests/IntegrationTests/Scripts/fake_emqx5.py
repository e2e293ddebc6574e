"""A local stand-in for an EMQX 5/6 cluster's management API (/api/v5), following the contract
in docs/EMQX5-API.md (read from EMQX's source and docs): page/limit/hasnext paging with limit at most
10,000, `node` on every client, JSON error bodies {code, message}, API key + secret as Basic
Auth, POST /api/v5/login for a bearer token (which expires after a number of requests here),
DELETE /api/v5/clients/{id} → 204 or 404 CLIENTID_NOT_FOUND, /status?format=json, /nodes.

Usage: fake_emqx5.py PORT [--clients N] [--token-requests K] [--max-limit L]
Prints "listening PORT" when ready. Counters of every client grow on each listing, so that a
dashboard shows rates. GET /fake/log lists the requests received (method, path, auth kind).
"""
import base64
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
args = sys.argv[2:]


def option(name, default):
    return int(args[args.index(name) + 1]) if name in args else default


CLIENTS = option("--clients", 25)
TOKEN_REQUESTS = option("--token-requests", 5)
MAX_LIMIT = option("--max-limit", 10000)
API_KEY, API_SECRET = "key-1", "secret-1"
DASHBOARD_USER, DASHBOARD_PASSWORD = "admin", "public"
NODES = ["emqx@10.0.0.1", "emqx@10.0.0.2", "emqx@10.0.0.3"]
lock = threading.Lock()
log = []
tokens = {}  # token → requests left
clients = {}
for i in range(CLIENTS):
    cid = f"dev-{i:04d}" if i else "dev 0000/odd"
    clients[cid] = {
        "clientid": cid, "username": "devices", "node": NODES[i % 2], "connected": i % 5 != 4,
        "connected_at": "2026-11-21T09:15:02.417+00:00", "created_at": "2026-11-21T09:15:02.415+00:00",
        "ip_address": f"10.20.5.{i % 250}", "port": 40000 + i, "proto_name": "MQTT", "proto_ver": 5 if i % 2 else 4,
        "keepalive": 60, "clean_start": True, "expiry_interval": 0, "inflight_cnt": 0, "inflight_max": 32,
        "mqueue_len": 0, "mqueue_max": 1000, "mqueue_dropped": 0, "awaiting_rel_cnt": 0, "awaiting_rel_max": 100,
        "subscriptions_cnt": 1, "subscriptions_max": "infinity", "is_bridge": False, "durable": False,
        "recv_oct": 1000 * i, "send_oct": 500 * i, "recv_msg": 10 * i, "send_msg": 5 * i, "recv_pkt": 12 * i,
        "send_pkt": 7 * i, "recv_cnt": 12 * i, "send_cnt": 7 * i, "heap_size": 987, "mailbox_len": 0,
        "reductions": 3912871, "mountpoint": None, "peersni": None, "listener": "tcp:default", "impl": "emqx_session_mem",
    }
    if not clients[cid]["connected"]:
        clients[cid]["disconnected_at"] = "2026-11-21T10:00:00.000+00:00"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, status, body=None, content_type="application/json"):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.reply(status, {"code": code, "message": message})

    def auth(self):
        """The auth kind, or None after answering 401 (EMQX's bodies)."""
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            if (user, secret) == (API_KEY, API_SECRET):
                return "basic"
            self.error(401, "BAD_API_KEY_OR_SECRET", "Check api_key/api_secret")
            return None
        if header.startswith("Bearer "):
            token = header[7:]
            with lock:
                left = tokens.get(token)
                if left is None:
                    self.error(401, "BAD_TOKEN", "Get a token by POST /api/v5/login")
                    return None
                if left <= 0:
                    self.error(401, "TOKEN_TIME_OUT", "Token expired. Get a new token by POST /api/v5/login")
                    return None
                tokens[token] = left - 1
            return "bearer"
        self.error(401, "AUTHORIZATION_HEADER_ERROR", "Support authorization: basic/bearer")
        return None

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        with lock:
            log.append({"method": method, "path": url.path + ("?" + url.query if url.query else ""),
                        "auth": self.headers.get("Authorization", "").split(" ")[0]})
        if path == "/fake/log":
            return self.reply(200, log)
        if path == "/api/v5/status" and query.get("format") == "json":
            return self.reply(200, {"app_status": "running", "broker_status": "started", "cluster": "emqxcl", "node_name": NODES[0]})
        if path == "/api/v5/login" and method == "POST":
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if (body.get("username"), body.get("password")) != (DASHBOARD_USER, DASHBOARD_PASSWORD):
                return self.error(401, "BAD_USERNAME_OR_PWD", "Auth failed")
            with lock:
                token = f"token-{len(tokens) + 1}"
                tokens[token] = TOKEN_REQUESTS
            return self.reply(200, {"license": {"edition": "ee"}, "role": "administrator", "token": token, "version": "6.2.2"})
        if not path.startswith("/api/v5/"):
            return self.reply(404, b"<html><body>Not Found</body></html>", "text/html")
        if self.auth() is None:
            return
        if path == "/api/v5/nodes":
            nodes = [{"node": n, "node_status": "running", "version": "6.2.2", "uptime": 86400123 + k, "connections": 1,
                      "live_connections": 1, "memory_used": "3.12G", "memory_total": "15.51G", "role": "core"} for k, n in enumerate(NODES[:2])]
            nodes.append({"node": NODES[2], "node_status": "stopped", "role": "core"})
            return self.reply(200, nodes)
        if path == "/api/v5/subscriptions":
            page, limit = int(query.get("page", "1")), int(query.get("limit", "100"))
            with lock:
                subs = [{"clientid": c["clientid"], "node": c["node"], "topic": f"devices/{c['clientid']}/cmd", "qos": 1, "nl": 0, "rap": 0, "rh": 0}
                        for c in clients.values()] + [{"clientid": c["clientid"], "node": c["node"], "topic": "fleet/#", "qos": 0, "nl": 0, "rap": 0, "rh": 0}
                                                     for c in clients.values()]
            rows = subs[(page - 1) * limit: page * limit]
            return self.reply(200, {"data": rows, "meta": {"page": page, "limit": limit, "hasnext": page * limit < len(subs)}})
        if path == "/api/v5/stats":
            with lock:
                return self.reply(200, [{"node": n, "sessions.count": sum(1 for c in clients.values() if c["node"] == n),
                                         "connections.count": sum(1 for c in clients.values() if c["node"] == n)} for n in NODES[:2]])
        if path.startswith("/api/v5/monitor_current/nodes/"):
            node = path[len("/api/v5/monitor_current/nodes/"):]
            if node not in NODES[:2]:
                return self.error(404, "NOT_FOUND", f"Node not found: {node}")
            with lock:
                mine = [c for c in clients.values() if c["node"] == node]
            live = sum(1 for c in mine if c["connected"])
            return self.reply(200, {"connections": len(mine), "live_connections": live, "received_msg_rate": 20 * live,
                                    "sent_msg_rate": 10 * live, "subscriptions": len(mine), "topics": len(mine), "node_uptime": 86400123})
        if path == "/api/v5/clients/kickout/bulk" and method == "POST":
            length = int(self.headers.get("Content-Length", "0"))
            ids = json.loads(self.rfile.read(length) or b"[]")
            with lock:
                for cid in ids:
                    clients.pop(cid, None)
            return self.reply(204)
        if path == "/api/v5/clients" and method == "GET":
            page, limit = int(query.get("page", "1")), int(query.get("limit", "100"))
            if limit > MAX_LIMIT or limit < 1 or page < 1:
                return self.error(400, "INVALID_PARAMETER", f"page_limit_invalid: limit must be 1..{MAX_LIMIT}")
            with lock:
                for c in clients.values():
                    if c["connected"]:
                        c["recv_oct"] += 640
                        c["send_oct"] += 320
                        c["recv_msg"] += 10
                        c["send_msg"] += 5
                rows = list(clients.values())[(page - 1) * limit: page * limit]
                more = page * limit < len(clients)
                if "fields" in query:  # 5.6+: only the named fields
                    wanted = query["fields"].split(",")
                    unknown = [f for f in wanted if f not in rows[0]] if rows else []
                    if unknown:
                        return self.error(400, "INVALID_PARAMETER", f"fields: unknown {unknown}")
                    rows = [{k: r[k] for k in wanted if k in r} for r in rows]
            return self.reply(200, {"data": rows, "meta": {"page": page, "limit": limit, "count": len(clients), "hasnext": more}})
        if path.startswith("/api/v5/clients/"):
            rest = path[len("/api/v5/clients/"):]
            subscriptions = rest.endswith("/subscriptions")
            cid = rest[: -len("/subscriptions")] if subscriptions else rest
            with lock:
                client = clients.get(cid)
                if client is None:
                    return self.error(404, "CLIENTID_NOT_FOUND", "Client ID not found")
                if method == "DELETE":
                    del clients[cid]
                    return self.reply(204)
            if subscriptions:
                return self.reply(200, [{"clientid": cid, "node": client["node"], "topic": f"devices/{cid}/cmd", "qos": 1,
                                         "nl": 0, "rap": 0, "rh": 0, "durable": False}])
            return self.reply(200, client)
        return self.error(404, "NOT_FOUND", "Request Path Not Found")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
