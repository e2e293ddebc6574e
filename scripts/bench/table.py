#!/usr/bin/env python3
"""Turns scripts/bench.sh's JSON lines into the comparison table: medians per scenario and
broker, and the ratio aviary / Mosquitto (for throughput higher is better; for latency, CPU and
memory lower is better)."""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
# The other broker: Mosquitto, or an earlier aviary build (BENCH_BASELINE).
other = next((r["broker"] for r in rows if r.get("broker") not in (None, "aviary", "aviary1")), "mosquitto")
other_name = "Mosquitto" if other == "mosquitto" else "baseline aviary"
runs = defaultdict(lambda: defaultdict(list))
idle = {}
flood = {}
stuck = {}
lean = defaultdict(lambda: defaultdict(list))
floors = {}
transports = defaultdict(lambda: defaultdict(list))
ceilings = defaultdict(list)
for r in rows:
    if "ceiling" in r:
        ceilings[r["label"]].append(r)
    elif "transport" in r:
        transports[r["label"]][r["transport"]].append(r)
    elif "lean" in r:
        lean[r["label"]][r["broker"]].append(r["lean"])
    elif "floor" in r:
        floors[r["label"][: -len(" floor")]] = r["floor"]
    elif "bench" in r:
        runs[r["label"]][r["broker"]].append(r)
    elif r["label"] == "stuck":
        stuck[r["broker"]] = r
    elif r["label"].startswith("flood"):
        flood[(r["label"], r["broker"])] = r
    else:
        idle[(r["label"], r["broker"])] = r


def med(values):
    return statistics.median(values) if values else float("nan")


def ratio(a, b):
    return f"{a / b:.2f}" if b else "–"


if runs:
    print(f"| scenario | figure | aviary | {other_name} | aviary / {other_name} |")
    print("| --- | --- | ---: | ---: | ---: |")
for label, by in runs.items():
    a, m = by["aviary"], by[other]
    n = len(a)
    figures = []
    if a[0]["bench"]["scenario"] == "conns":
        figures.append(("connects/s", med([x["bench"]["connects_per_s"] for x in a]), med([x["bench"]["connects_per_s"] for x in m]), "{:,.0f}"))
        figures.append(("connected (min of runs)", min(x["bench"]["connected"] for x in a), min(x["bench"]["connected"] for x in m), "{:,.0f}"))
        conns = a[0]["bench"]["connections"]
        figures.append(("broker CPU µs per connection (connect, hold, close)", med([x["cpu_s"] for x in a]) * 1e6 / conns, med([x["cpu_s"] for x in m]) * 1e6 / conns, "{:.0f}"))
        if "client_cpu_s" in a[0]["bench"]:
            figures.append(("the lean client's own CPU µs per connection", med([x["bench"]["client_cpu_s"] for x in a]) * 1e6 / conns, med([x["bench"]["client_cpu_s"] for x in m]) * 1e6 / conns, "{:.0f}"))
        for name, va, vm, fmt in figures:
            print(f"| {label} ({n}×2 runs) | {name} | {fmt.format(va)} | {fmt.format(vm)} | {ratio(va, vm)} |")
        continue
    if "latency" in label:
        for key, name in (("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs"), ("max_us", "max µs")):
            figures.append((name, med([x["bench"][key] for x in a]), med([x["bench"][key] for x in m]), "{:.0f}"))
    else:
        figures.append(("msgs/s", med([x["bench"]["msgs_per_s"] for x in a]), med([x["bench"]["msgs_per_s"] for x in m]), "{:,.0f}"))
    if "acked" in a[0]["bench"]:
        figures.append(("PUBACKed by the broker", med([x["bench"]["acked"] for x in a]), med([x["bench"]["acked"] for x in m]), "{:,.0f}"))
        figures.append(("acknowledged, then lost (max of runs)", max(x["bench"]["acked_then_lost"] for x in a), max(x["bench"]["acked_then_lost"] for x in m), "{:,.0f}"))
    else:
        figures.append(("loss (max of runs)", max(x["bench"]["loss"] for x in a), max(x["bench"]["loss"] for x in m), "{:,.0f}"))
    if "latency" not in label and "p50_us" in a[0]["bench"] and "p50_us" in m[0]["bench"]:
        for key, name in (("p50_us", "message latency p50 ms"), ("p99_us", "message latency p99 ms")):
            figures.append((name, med([x["bench"][key] for x in a]) / 1000, med([x["bench"][key] for x in m]) / 1000, "{:,.1f}"))
    figures.append(("broker CPU s", med([x["cpu_s"] for x in a]), med([x["cpu_s"] for x in m]), "{:.2f}"))
    figures.append(("broker peak RSS MiB", med([x["peak_rss_kib"] for x in a]) / 1024, med([x["peak_rss_kib"] for x in m]) / 1024, "{:.1f}"))
    for name, va, vm, fmt in figures:
        print(f"| {label} ({n}×2 runs) | {name} | {fmt.format(va)} | {fmt.format(vm)} | {ratio(va, vm)} |")
for label, cs in ceilings.items():
    rate = med([c["ceiling"]["msgs_per_s"] for c in cs])
    busy = med([c["upstream_cpu_s"] / c["ceiling"]["seconds"] for c in cs if c["ceiling"]["seconds"]])
    bridged = med([x["bench"]["msgs_per_s"] for x in runs.get(label, {}).get(other, [])])
    print(f"| {label} ({len(cs)} runs) | ceiling: the publishers straight into the upstream, no edge (upstream busy {busy:.0%}), msgs/s | | {rate:,.0f} | |")
    print(f"| {label} ({len(cs)} runs) | ceiling / {other_name} bridge: the most any edge could reach | | | {ratio(rate, bridged)} |")
for label, by in lean.items():
    m = by[other]
    for variant, name_suffix in (("aviary", ""), ("aviary1", ", aviary with event_loops 1")):
        a = by.get(variant, [])
        if not a or not m:
            continue
        floor = floors.get(label, {}) if variant == "aviary" else {}
        for key, name in (("p50_us", "p50 µs"), ("p99_us", "p99 µs"), ("p999_us", "p99.9 µs"), ("max_us", "max µs")):
            va, vm = med([x[key] for x in a]), med([x[key] for x in m])
            note = f" (client floor {floor[key]:.0f})" if key in floor else ""
            print(f"| {label}{name_suffix} ({len(a)}×2 runs) | {name}{note} | {va:.0f} | {vm:.0f} | {ratio(va, vm)} |")
        print(f"| {label}{name_suffix} ({len(a)}×2 runs) | loss (max of runs) | {max(x['loss'] for x in a)} | {max(x['loss'] for x in m)} | – |")
if "aviary" in stuck and other in stuck:
    a, m = stuck["aviary"], stuck[other]
    for key, name in (("alone", "10 QoS 1 pairs alone, msgs/s"), ("during", "the same next to a stuck subscriber, msgs/s")):
        print(f"| stuck subscriber | {name} | {a[key]['msgs_per_s']:,.0f} | {m[key]['msgs_per_s']:,.0f} | {ratio(a[key]['msgs_per_s'], m[key]['msgs_per_s'])} |")
    share = lambda r: f"{r['during']['msgs_per_s'] / r['alone']['msgs_per_s']:.0%}" if r["alone"]["msgs_per_s"] else "–"
    print(f"| stuck subscriber | pairs keep (during / alone) | {share(a)} | {share(m)} | |")
    print(f"| stuck subscriber | pairs' loss | {a['during']['loss']} | {m['during']['loss']} | |")
    gone = lambda r: "yes" if r["stuck_disconnected_within_s"] else "no"
    print(f"| stuck subscriber | disconnected (max_stall 5 s) | {gone(a)} | {gone(m)} | |")
labels = sorted({label for label, _ in idle}, key=lambda s: int(s.split()[1]))
for label in labels:
    a, m = idle.get((label, "aviary")), idle.get((label, other))
    if not a or not m:
        continue
    print(f"| {label} connections | connected | {a['connected']:,} | {m['connected']:,} | {ratio(a['connected'], m['connected'])} |")
    print(f"| {label} connections | RSS bytes per connection | {a['per_conn_bytes']:,} | {m['per_conn_bytes']:,} | {ratio(a['per_conn_bytes'], m['per_conn_bytes'])} |")
for label in sorted({label for label, _ in flood}):
    a, m = flood.get((label, "aviary")), flood.get((label, other))
    if not a or not m:
        continue
    n = a["connections"]
    print(f"| {n:,} connection attempts | connected / refused | {a['connected']:,} / {a['failed']:,} | {m['connected']:,} / {m['failed']:,} | |")
    print(f"| {n:,} connection attempts | s until every attempt was answered (2 s held) | {a['seconds']} | {m['seconds']} | {ratio(a['seconds'], m['seconds'])} |")
    print(f"| {n:,} connection attempts | broker CPU s | {a['cpu_s']} | {m['cpu_s']} | {ratio(a['cpu_s'], m['cpu_s'])} |")

if transports:
    print()
    print("| aviary over WebSockets and TCP | figure | TCP | WebSocket | WebSocket / TCP |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, by in transports.items():
        tcp, ws = by["tcp"], by["ws"]
        n = len(tcp)
        for key, name, form in (("msgs_per_s", "msgs/s", "{:,.0f}"), ("p50_us", "message latency p50 ms", "{:.1f}"), ("p99_us", "message latency p99 ms", "{:.1f}")):
            scale = 1000 if key != "msgs_per_s" else 1
            a = med([x["result"][key] for x in tcp]) / scale
            b = med([x["result"][key] for x in ws]) / scale
            print(f"| {label} ({n}×2 runs) | {name} | {form.format(a)} | {form.format(b)} | {ratio(b, a)} |")
        print(f"| {label} ({n}×2 runs) | loss (max of runs) | {max(x['result']['loss'] for x in tcp)} | {max(x['result']['loss'] for x in ws)} | – |")
        a = med([x["cpu_s"] for x in tcp])
        b = med([x["cpu_s"] for x in ws])
        print(f"| {label} ({n}×2 runs) | broker CPU s | {a:.2f} | {b:.2f} | {ratio(b, a)} |")
