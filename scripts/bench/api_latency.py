"""Latency of one management API request, repeated: prints p50/p99/max in milliseconds.

Usage: api_latency.py PORT PATH COUNT   (Basic Auth admin:public, one keep-alive connection)
"""
import base64
import http.client
import json
import sys
import time

port, path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
auth = {"Authorization": "Basic " + base64.b64encode(b"admin:public").decode()}
conn = http.client.HTTPConnection("127.0.0.1", port)
times = []
rows = 0
for i in range(count + 5):
    start = time.perf_counter()
    conn.request("GET", path, headers=auth)
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 200:
        sys.exit(f"HTTP {response.status}: {body[:200]!r}")
    if i >= 5:  # warm-up
        times.append(elapsed)
        rows = len(json.loads(body)["data"])
times.sort()
pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
print(json.dumps({"path": path, "requests": count, "rows": rows, "p50_ms": round(pick(0.50), 2),
                  "p99_ms": round(pick(0.99), 2), "max_ms": round(times[-1], 2)}))
