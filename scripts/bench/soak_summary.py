#!/usr/bin/env python3
"""Reads soak.py's JSON line on standard input and prints it as the tables BENCHMARKS.md keeps."""
import json
import sys

line = next(l for l in sys.stdin if l.startswith("{"))
r = json.loads(line)
if "error" in r:
    sys.exit(f"the soak gave no result: {r['error']} (stuck in: {r['phase']})")
print(f"soak of {r['seconds'] / 60:.0f} min: {r['kicks']} kicks ({r['kickee_reconnects']} reconnects), "
      f"{r['bridge_restarts']} upstream restarts, dashboard drawn: {r['dashboard_drawn']}, broker alive: {r['broker_alive']}, exit {r['exit']}")
print()
print("| stream | QoS | acknowledged | received | missing | duplicates | out of order |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, s in r["streams"].items():
    print(f"| {name} | {s['qos']} | {s['acked']:,} | {s['received']:,} | {s['missing']} | {s['duplicates']} | {s['out_of_order']} |")
print()
print("| after warm-up | at warm-up | at the end | max | slope per hour |")
print("| --- | ---: | ---: | ---: | ---: |")
for key, unit in (("rss_kib", "RSS KiB"), ("fds", "open descriptors")):
    f = r.get(key)
    if f:
        print(f"| {unit} | {f['warm']:,} | {f['end']:,} | {f['max']:,} | {f['slope_per_hour']:+,.0f} |")
print(f"| store bytes at the end | | {r['store_bytes']:,} | | |")
