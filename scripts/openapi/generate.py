#!/usr/bin/env python3
"""Generates Sources/Broker/Management/OpenAPIDocument.swift, the OpenAPI 3 document of the
management API served at /api/v4/openapi.json. Edit the document here and run
`scripts/openapi/generate.py`; a test checks that the served document equals this output, and
another runs schemathesis against the live API with it."""
import json
import os
err = {"$ref": "#/components/responses/Error"}
def resp(ok_schema, extra=(400, 401)):
    r = {"200": {"description": "OK", "content": {"application/json": {"schema": ok_schema}}}}
    for code in extra:
        r[str(code)] = {"$ref": f"#/components/responses/E{code}"}
    return r
def envelope(data, meta=False):
    props = {"code": {"type": "integer", "enum": [0]}, "data": data}
    req = ["code", "data"]
    if meta:
        props["meta"] = {"$ref": "#/components/schemas/Meta"}
        req.append("meta")
    return {"type": "object", "required": req, "properties": props}
ref = lambda n: {"$ref": f"#/components/schemas/{n}"}
arr = lambda s: {"type": "array", "items": s}
S = lambda d="": {"type": "string", "description": d} if d else {"type": "string"}
I = {"type": "integer"}
NNI = {"type": "integer", "minimum": 0}
# Query bounds the server accepts: epoch seconds whose milliseconds fit in 64 bits; counters as UInt64.
EPOCH = {"type": "integer", "minimum": -9223372036854773, "maximum": 9223372036854773}
COUNTER = {"type": "integer", "minimum": 0, "maximum": 18446744073709551615}
B = {"type": "boolean"}
# Parameters are defined once in components.parameters and referenced from every path.
PARAMETERS = {}
def qp(name, schema, d):
    PARAMETERS["q_" + name] = {"name": name, "in": "query", "required": False, "schema": schema, "description": d}
    return {"$ref": "#/components/parameters/q_" + name}
def pp(name, d):
    PARAMETERS["p_" + name] = {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}, "description": d}
    return {"$ref": "#/components/parameters/p_" + name}
paging = [
    qp("_page", {"type": "integer", "minimum": 1, "maximum": 9223372036854775807}, "Page number, from 1."),
    qp("_limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "Rows per page (default 10000)."),
]
sortable = ["clientid","client_id","username","ip_address","port","proto_ver","keepalive","expiry_interval","connected_at","created_at","subscriptions_cnt","inflight","mqueue_len","mqueue_dropped","awaiting_rel","recv_oct","send_oct","recv_cnt","send_cnt","recv_pkt","send_pkt","recv_msg","send_msg","send_pend","mailbox_len","heap_size","reductions"]
client_filters = paging + [
    qp("clientid", S(), "Exact client id."),
    qp("client_id", S(), "Alias of clientid (NanoMQ)."),
    qp("username", S(), "Exact user name."),
    qp("zone", S(), "Zone (always 'default')."),
    qp("ip_address", S(), "Peer address."),
    qp("conn_state", {"type": "string", "enum": ["connected", "disconnected"]}, "Connection state."),
    qp("clean_start", {"type": "boolean"}, "Clean start as sent."),
    qp("proto_name", {"type": "string", "enum": ["MQTT", "MQIsdp"]}, "Protocol name."),
    qp("proto_ver", {"type": "integer", "enum": [3, 4, 5]}, "Protocol level."),
    qp("_like_clientid", S(), "Case-insensitive substring of the client id."),
    qp("_like_username", S(), "Case-insensitive substring of the user name."),
    qp("_gte_created_at", EPOCH, "Created at or after (epoch seconds)."),
    qp("_lte_created_at", EPOCH, "Created at or before (epoch seconds)."),
    qp("_gte_connected_at", EPOCH, "Connected at or after (epoch seconds)."),
    qp("_lte_connected_at", EPOCH, "Connected at or before (epoch seconds)."),
    qp("_gte_mqueue_len", COUNTER, "Queue length at least."),
    qp("_lte_mqueue_len", COUNTER, "Queue length at most."),
    qp("_gte_mqueue_dropped", COUNTER, "Drops at least."),
    qp("_lte_mqueue_dropped", COUNTER, "Drops at most."),
    qp("_sort", {"type": "string", "enum": sortable}, "Field to order by before paging (aviary extension)."),
    qp("_order", {"type": "string", "enum": ["asc", "desc"]}, "Order (default asc); without _sort, by client id."),
]
sub_filters = paging + [
    qp("clientid", S(), "Exact client id."),
    qp("topic", S(), "Exact topic filter."),
    qp("qos", {"type": "integer", "enum": [0, 1, 2]}, "Granted QoS."),
    qp("share", S(), "Share group name."),
    qp("_match_topic", {"type": "string", "minLength": 1, "pattern": "^[^+#\\u0000]*$"}, "Topic name (no wildcards) the filter must match."),
]
client_props = {
 "client_id": S(), "clientid": S(), "username": S(), "keepalive": I, "conn_state": {"type": "string", "enum": ["connected", "disconnected"]},
 "clean_start": B, "proto_name": S(), "proto_ver": I, "proto_ver_name": S(), "node": S(), "connected": B, "ip_address": S(), "port": I,
 "is_bridge": B, "zone": S(), "expiry_interval": I, "connected_at": S(), "created_at": S(), "disconnected_at": S(),
 "connected_at_ms": I, "created_at_ms": I, "disconnected_at_ms": I,
 "subscriptions_cnt": NNI, "max_subscriptions": NNI, "inflight": NNI, "max_inflight": NNI, "awaiting_rel": NNI, "max_awaiting_rel": NNI,
 "mqueue_len": NNI, "max_mqueue": NNI, "mqueue_dropped": NNI, "recv_oct": NNI, "recv_cnt": NNI, "recv_pkt": NNI, "recv_msg": NNI,
 "send_oct": NNI, "send_cnt": NNI, "send_pkt": NNI, "send_msg": NNI, "send_pend": NNI, "mailbox_len": NNI, "heap_size": NNI, "reductions": NNI,
 "will_topic": S(), "will_msg": S(),
}
v3_keys = ["client_id","username","zone","clean_start","proto_name","proto_ver","keepalive","is_bridge","peercert","conn_mod","connected_at","node","ipaddress","port","recv_oct","recv_cnt","send_oct","send_cnt","send_pend","mailbox_len","heap_size","reductions","recv_pkt","recv_msg","send_pkt","send_msg"]
v3_types = {"client_id": S(), "username": S(), "zone": S(), "clean_start": B, "proto_name": S(), "proto_ver": I, "keepalive": I, "is_bridge": B, "peercert": S(), "conn_mod": S(), "connected_at": S(), "node": S(), "ipaddress": S(), "port": I}
v3_props = {k: v3_types.get(k, NNI) for k in v3_keys}
doc = {
 "openapi": "3.0.3",
 "info": {"title": "Aviary management API", "version": "0.1.0",
          "description": "NanoMQ HTTP API v4 and EMQX v3/v4 compatible client API of the Aviary MQTT broker. Every route needs HTTP Basic Auth."},
 "servers": [{"url": "/"}],
 "security": [{"basic": []}],
 "paths": {},
 "components": {
  "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
  "parameters": PARAMETERS,
  "schemas": {
   "Error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "integer", "enum": [102, 103, 104, 107, 108, 109, 112]}, "message": S()}},
   "Meta": {"type": "object", "required": ["page", "limit", "count"], "properties": {"page": {"type": "integer", "minimum": 1}, "limit": {"type": "integer", "minimum": 1}, "count": NNI, "hasnext": B}},
   "Client": {"type": "object", "required": ["client_id", "clientid", "username", "conn_state", "connected", "node", "recv_oct", "send_oct"], "properties": client_props},
   "ConnectionV3": {"type": "object", "required": v3_keys, "properties": v3_props, "additionalProperties": False},
   "Subscription": {"type": "object", "required": ["node", "clientid", "topic", "qos"], "properties": {"node": S(), "clientid": S(), "topic": S(), "qos": {"type": "integer", "enum": [0, 1, 2]}, "nl": {"type": "integer", "enum": [0, 1]}, "rap": {"type": "integer", "enum": [0, 1]}, "rh": {"type": "integer", "enum": [0, 1, 2]}}},
   "Broker": {"type": "object", "required": ["datetime", "node_status", "sysdescr", "uptime", "version"], "properties": {"datetime": S(), "node": S(), "node_status": S(), "sysdescr": S(), "uptime": S(), "uptime_seconds": NNI, "started_at_ms": I, "version": S()}},
   "Node": {"type": "object", "required": ["node", "node_status", "connections", "uptime", "version"], "properties": {"node": S(), "node_status": S(), "connections": NNI, "sessions": NNI, "uptime": S(), "uptime_seconds": NNI, "version": S(), "max_fds": NNI}},
   "Stats": {"type": "object", "required": ["node", "stats"], "properties": {"node": S(), "stats": {"type": "object", "additionalProperties": NNI}}},
   "Metrics": {"type": "object", "required": ["node", "metrics"], "properties": {"node": S(), "metrics": {"type": "object", "additionalProperties": NNI}}},
   "Endpoint": {"type": "object", "required": ["name", "method", "path", "descr"], "properties": {"name": S(), "method": S(), "path": S(), "descr": S()}},
  },
  "responses": {
   "E400": {"description": "Bad parameter (code 108)", "content": {"application/json": {"schema": ref("Error")}}},
   "E401": {"description": "Missing (104) or wrong (103) credentials", "headers": {"WWW-Authenticate": {"schema": S()}}, "content": {"application/json": {"schema": ref("Error")}}},
   "E404": {"description": "Unknown node (102) or client not online (112)", "content": {"application/json": {"schema": ref("Error")}}},
  },
 },
}
P = doc["paths"]
def get(path, summary, schema, params=(), extra=(400, 401), op=None):
    P.setdefault(path, {})["get"] = {"summary": summary, "operationId": op, "parameters": list(params), "responses": resp(schema, extra)}
node = pp("node", "Node name, as in /api/v4/nodes.")
cid = pp("clientid", "Client id (percent-encoded).")
un = pp("username", "User name (percent-encoded).")
get("/api/v4", "Endpoint catalogue", envelope(arr(ref("Endpoint"))), op="catalogue")
get("/api/v4/brokers", "Brokers", envelope(arr(ref("Broker"))), op="listBrokers")
get("/api/v4/brokers/{node}", "One broker", envelope(ref("Broker")), [node], (400, 401, 404), op="getBroker")
get("/api/v4/nodes", "Nodes", envelope(arr(ref("Node"))), op="listNodes")
get("/api/v4/nodes/{node}", "One node", envelope(ref("Node")), [node], (400, 401, 404), op="getNode")
get("/api/v4/clients", "Clients: paged, filtered, sorted", envelope(arr(ref("Client")), meta=True), client_filters, op="listClients")
get("/api/v4/nodes/{node}/clients", "Clients of a node", envelope(arr(ref("Client")), meta=True), [node] + client_filters, (400, 401, 404), op="listNodeClients")
get("/api/v4/clients/username/{username}", "Clients by user name", envelope(arr(ref("Client"))), [un], op="clientsByUsername")
get("/api/v4/clients/{clientid}", "One client ([] when unknown)", envelope(arr(ref("Client"))), [cid], op="getClient")
P["/api/v4/clients/{clientid}"]["delete"] = {"summary": "Disconnect a client (MQTT 5: DISCONNECT 0x98) and discard its session", "operationId": "kickClient", "parameters": [cid],
  "responses": {"200": {"description": "Kicked", "content": {"application/json": {"schema": {"type": "object", "required": ["code"], "properties": {"code": {"type": "integer", "enum": [0]}}}}}}, "400": {"$ref": "#/components/responses/E400"}, "401": {"$ref": "#/components/responses/E401"}, "404": {"$ref": "#/components/responses/E404"}}}
get("/api/v4/nodes/{node}/clients/{clientid}", "One client of a node", envelope(arr(ref("Client"))), [node, cid], (400, 401, 404), op="getNodeClient")
P["/api/v4/nodes/{node}/clients/{clientid}"]["delete"] = dict(P["/api/v4/clients/{clientid}"]["delete"], operationId="kickNodeClient", parameters=[node, cid])
get("/api/v4/subscriptions", "Subscriptions", envelope(arr(ref("Subscription")), meta=True), sub_filters, op="listSubscriptions")
get("/api/v4/subscriptions/{clientid}", "Subscriptions of a client", envelope(arr(ref("Subscription")), meta=True), [cid] + sub_filters, op="clientSubscriptions")
get("/api/v4/nodes/{node}/subscriptions", "Subscriptions on a node", envelope(arr(ref("Subscription")), meta=True), [node] + sub_filters, (400, 401, 404), op="nodeSubscriptions")
get("/api/v4/nodes/{node}/subscriptions/{clientid}", "Subscriptions of a client on a node", envelope(arr(ref("Subscription")), meta=True), [node, cid] + sub_filters, (400, 401, 404), op="nodeClientSubscriptions")
get("/api/v4/stats", "Gauges", envelope(arr(ref("Stats"))), op="stats")
get("/api/v4/metrics", "Counters", envelope(arr(ref("Metrics"))), op="metrics")
get("/api/v3/connections", "EMQX v3 connections", envelope(arr(ref("ConnectionV3")), meta=True), client_filters, op="listConnectionsV3")
get("/api/v3/nodes/{node}/connections", "EMQX v3 connections of a node", envelope(arr(ref("ConnectionV3")), meta=True), [node] + client_filters, (400, 401, 404), op="listNodeConnectionsV3")
get("/api/v3/connections/{clientid}", "EMQX v3 connection ([] when not connected)", envelope(arr(ref("ConnectionV3"))), [cid], op="getConnectionV3")
P["/api/v3/connections/{clientid}"]["delete"] = dict(P["/api/v4/clients/{clientid}"]["delete"], operationId="kickConnectionV3")
get("/api/v3/connection/username/{username}", "EMQX v3 connections by user name", envelope(arr(ref("ConnectionV3"))), [un], op="connectionsByUsernameV3")
P["/api/v4/openapi.json"] = {"get": {"summary": "This document", "operationId": "openapi", "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}, "401": {"$ref": "#/components/responses/E401"}}}}
P["/metrics"] = {"get": {"summary": "Prometheus text exposition", "operationId": "prometheus", "responses": {"200": {"description": "Prometheus text format 0.0.4", "content": {"text/plain": {"schema": {"type": "string"}}}}, "400": {"$ref": "#/components/responses/E400"}, "401": {"$ref": "#/components/responses/E401"}}}}

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "Broker", "Management", "OpenAPIDocument.swift")
SWIFT = """/// The OpenAPI 3 document of the management API, served at `/api/v4/openapi.json`.
/// Generated by scripts/openapi/generate.py: edit it there, then run it.
enum OpenAPIDocument {
    static let json = #\"\"\"
%s
\"\"\"#
}
"""

if __name__ == "__main__":
    import sys
    text = json.dumps(doc, indent=1)
    if "--print" in sys.argv:
        print(text)
    else:
        with open(OUT, "w") as f:
            f.write(SWIFT % text)

