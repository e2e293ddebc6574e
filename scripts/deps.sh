#!/usr/bin/env bash
# Installs what building and testing aviary need, only when missing:
# Debian packages (ncurses and SQLite headers, Mosquitto and its clients, tmux, paho-mqtt for Python,
# openssl)
# and schemathesis from PyPI.
set -euo pipefail

need=()
# (the mosquitto broker: tests check that files aviary writes work in it; systemd for
# systemd-analyze, which checks contrib/aviary.service; iproute2 for ss, which reads socket buffers)
for pkg in libncurses-dev libsqlite3-dev mosquitto mosquitto-clients tmux python3-paho-mqtt pkg-config curl openssl systemd iproute2; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing: ${need[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root or sudo to apt-get install ${need[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The tests look for paho-mqtt in /usr/bin/python3 (Debian's package) and then in python3.
if ! /usr/bin/python3 -c 'import paho.mqtt.client' 2>/dev/null && ! python3 -c 'import paho.mqtt.client' 2>/dev/null; then
    echo "==> installing paho-mqtt from PyPI"
    python3 -m pip install -q paho-mqtt
fi

# schemathesis (PyPI) checks the live management API against its OpenAPI document.
if ! python3 -m schemathesis.cli --version >/dev/null 2>&1; then
    echo "==> installing schemathesis from PyPI"
    python3 -m pip install -q schemathesis || /usr/bin/python3 -m pip install -q --break-system-packages schemathesis
fi
