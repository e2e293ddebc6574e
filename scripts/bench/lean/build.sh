#!/usr/bin/env bash
# Builds a lean C client once into .build/lean and prints its path:
#   build.sh                 mqtt_latency (fixed-rate latency)
#   build.sh mqtt_connect    mqtt_connect (connect rate)
# clang ships with the Swift toolchain; cc is the fallback.
set -euo pipefail
cd "$(dirname "$0")"
name=${1:-mqtt_latency}
[ -f "$name.c" ] || { echo "build.sh: no client $name.c in scripts/bench/lean (expected mqtt_latency or mqtt_connect)" >&2; exit 2; }
out=../../../.build/lean/$name
mkdir -p "$(dirname "$out")"
if [ ! -x "$out" ] || [ "$name.c" -nt "$out" ]; then
    compiler=$(command -v clang || command -v cc)
    "$compiler" -O2 -Wall -o "$out" "$name.c"
fi
cd "$(dirname "$out")" && echo "$PWD/$(basename "$out")"
