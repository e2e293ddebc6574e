#!/usr/bin/env python3
"""The durable store on a real, small file system (a tmpfs this script mounts, as root, and
unmounts), filled up, made read-only and removed under a running broker.

Publishers are raw clients (scripts/lib/mqttwire.py) so that exactly what the broker answered is
known: MQTT 5.0 at QoS 1 and 2 (PUBACK/PUBREC reason code and reason string) and 3.1.1 (no
failure acknowledgement: a refusal is the connection closed unacknowledged). Subscribers are
mosquitto_sub: a persistent 5.0 session that is offline while the disk fills (its messages are
what the store keeps) and a clean 3.1.1 session online the whole time (it sees whatever is
routed). Every message's topic names it, so both subscribers' streams can be compared with
what was acknowledged and what was refused.

Phases: fill (until the store refuses), drain (the persistent subscriber takes its queue),
resume (writing and accepting again without a restart) and removed (the store directory deleted).
With `--min-free 0` there is no reserve and SQLite itself runs into the full disk (SQLITE_FULL):
the failed-write path; `--ballast-mb` then stands for the operator's own files, deleted to make
room. Prints one JSON object; exit 0 means the run completed (the caller judges
the figures).
"""
import argparse, base64, json, os, re, shutil, signal, subprocess, sys, tempfile, time, urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "scripts", "lib"))
from harness import kill, stop, wait_port  # noqa: E402
from mqttwire import RawClient  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--aviary", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--api-port", type=int, required=True)
ap.add_argument("--size-mb", type=int, default=16)
ap.add_argument("--min-free", type=int, default=4 << 20)
ap.add_argument("--ballast-mb", type=int, default=0, help="a file filling part of the disk, deleted once the store refuses")
args = ap.parse_args()

PAYLOAD = b"x" * 65536
result = {"phases": {}}
mount = tempfile.mkdtemp(prefix="aviary-fulldisk-")
store = os.path.join(mount, "store")
broker = None
log_path = os.path.join(tempfile.gettempdir(), f"aviary-fulldisk-{os.getpid()}.log")


def phase(text):
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def metrics():
    request = urllib.request.Request(f"http://127.0.0.1:{args.api_port}/metrics")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"admin:public").decode())
    text = urllib.request.urlopen(request, timeout=5).read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(aviary_store_\w+) (\S+)$", text, re.M)}


def wait_metric(name, value, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metrics().get(name) == value:
            return True
        time.sleep(0.1)
    return False


def sub(*extra, timeout=20):
    """mosquitto_sub printing one topic per line; returns the topics."""
    command = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(args.port), "-F", "%t", *extra]
    out = subprocess.run(command, capture_output=True, text=True, timeout=timeout + 10).stdout
    return [line for line in out.splitlines() if line]


def keeper_drain(count):
    """The persistent subscriber takes `count` messages (and whatever else came first)."""
    if count == 0:
        return sub("-V", "5", "-i", "keeper", "-c", "-x", "3600", "-q", "2", "-t", "disk/#", "-W", "2", timeout=2)
    return sub("-V", "5", "-i", "keeper", "-c", "-x", "3600", "-q", "2", "-t", "disk/#", "-C", str(count), "-W", "20")


def publish_all(client, prefix, qos_cycle, limit, stop_after_refusals=None):
    outcome = {"ok": [], "refused": [], "closed": [], "reasons": set()}
    refusals = 0
    for n in range(limit):
        qos = qos_cycle[n % len(qos_cycle)]
        topic = f"disk/{prefix}-q{qos}-{n}"
        status, code, reason = client.publish(topic, PAYLOAD, qos=qos)
        outcome[status].append(topic)
        if status == "refused":
            outcome["reasons"].add(f"{code:#x} {reason}")
        if status != "ok":
            refusals += 1
            if stop_after_refusals and refusals >= stop_after_refusals:
                break
        if status == "closed":
            break
    outcome["reasons"] = sorted(outcome["reasons"])
    return outcome


def v3_publish(prefix, qos):
    """One 3.1.1 publish on a fresh connection: its topic and what happened."""
    client = RawClient(args.port, f"v3-{prefix}", version=4)
    topic = f"disk/{prefix}-v3-q{qos}"
    status, _, _ = client.publish(topic, PAYLOAD, qos=qos)
    client.close()
    return topic, status


try:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size_mb}m", "tmpfs", mount], check=True)
    os.makedirs(store)
    if args.ballast_mb:
        with open(os.path.join(mount, "ballast"), "wb") as f:
            f.write(b"\0" * (args.ballast_mb << 20))
    log = open(log_path, "w")
    broker = subprocess.Popen(
        [args.aviary, "serve", "--mqtt-port", str(args.port), "--api-port", str(args.api_port), "--persistence", "on",
         "--persistence-dir", store, "--persistence-min-free-bytes", str(args.min_free), "--persistence-sync", "always"],
        stdout=log, stderr=subprocess.STDOUT)
    wait_port(args.port, also=metrics)

    # The persistent subscriber subscribes once and goes offline; the watcher stays online.
    keeper_drain(0)
    watcher = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(args.port), "-V", "311", "-q", "2", "-t", "disk/#", "-F", "%t"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)

    phase("fill")
    acked, refused = [], []
    for qos in (1, 2):
        topic, status = v3_publish("before", qos)
        (acked if status == "ok" else refused).append(topic)
    result["phases"]["v3_before"] = len(acked)
    v5 = RawClient(args.port, "filler-v5", version=5)
    fill = publish_all(v5, "fill", [1, 2], 400, stop_after_refusals=6)
    acked += fill["ok"]
    refused += fill["refused"] + fill["closed"]
    during = metrics()
    v3_during = [v3_publish("during", qos) for qos in (1, 2)]
    acked += [t for t, s in v3_during if s == "ok"]
    refused += [t for t, s in v3_during if s != "ok"]
    files = {name: os.path.getsize(os.path.join(store, name)) for name in os.listdir(store)}
    result["phases"]["fill"] = {
        "acked": len(fill["ok"]), "refused": len(fill["refused"]), "closed": len(fill["closed"]), "reasons": fill["reasons"],
        "v3_during": [s for _, s in v3_during], "metrics": during, "files": files,
    }

    if args.ballast_mb:
        phase("space freed outside the store")
        os.unlink(os.path.join(mount, "ballast"))
        result["phases"]["freed_outside"] = wait_metric("aviary_store_refusing", 0)
    phase("drain")
    drained = keeper_drain(len(acked))
    result["phases"]["drain"] = {
        "expected": len(acked), "received": len(drained),
        "missing": sorted(set(acked) - set(drained)), "refused_delivered": sorted(set(refused) & set(drained)),
        "duplicates": len(drained) - len(set(drained)),
    }

    phase("resume")
    result["phases"]["drained_metrics"] = metrics()
    resumed = wait_metric("aviary_store_refusing", 0)
    after = publish_all(v5, "after", [1, 2], 4)
    topic, status = v3_publish("after", 1)
    after_drain = keeper_drain(len(after["ok"]) + (status == "ok"))
    result["phases"]["resume"] = {
        "refusing_cleared": resumed, "acked": len(after["ok"]), "v3": status,
        "delivered": sorted(after_drain) == sorted(after["ok"] + ([topic] if status == "ok" else [])), "metrics": metrics(),
    }
    acked += after["ok"] + ([topic] if status == "ok" else [])

    phase("removed")
    shutil.rmtree(store)
    refusing_gone = wait_metric("aviary_store_refusing", 1, timeout=5)
    gone = publish_all(v5, "gone", [1], 2)
    refused += gone["refused"] + gone["closed"]
    # Routing goes on for what the store need not keep: a clean subscriber on another topic.
    other = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(args.port), "-q", "1", "-t", "other/#", "-C", "1", "-W", "10", "-F", "%t"],
                             stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    plain = RawClient(args.port, "plain", version=5)
    plain_status = plain.publish("other/served", b"still serving", qos=1)
    other_out = other.communicate(timeout=15)[0].split()
    result["phases"]["removed"] = {
        "refusing": refusing_gone, "acked": len(gone["ok"]), "refused": len(gone["refused"]), "reasons": gone["reasons"],
        "other_topic": plain_status[0], "other_delivered": other_out == ["other/served"],
    }

    watcher.send_signal(signal.SIGTERM)
    watched = watcher.communicate(timeout=10)[0].splitlines()
    result["watcher"] = {
        "received": len(watched), "acked": len(acked),
        "missing": sorted(set(acked) - set(watched)), "refused_delivered": sorted(set(refused) & set(watched)),
    }
    result["metrics_end"] = metrics()
    result["exit"] = stop(broker, timeout=20)
    broker = None
    log.close()
    text = open(log_path).read()
    result["log"] = {
        "refusing": "refusing new messages" in text, "again": "taking new messages again" in text,
        "removed": "was removed or replaced" in text, "write_failed": "a batch could not be written" in text,
    }
    print(json.dumps(result))
finally:
    kill(broker)
    subprocess.run(["umount", "-l", mount], stderr=subprocess.DEVNULL)
    shutil.rmtree(mount, ignore_errors=True)
    if os.path.exists(log_path):
        os.unlink(log_path)
