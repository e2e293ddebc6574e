#!/usr/bin/env bash
# Builds the lean latency client (mqtt_latency.c) once into .build/lean and prints its path.
# clang ships with the Swift toolchain; cc is the fallback.
set -euo pipefail
cd "$(dirname "$0")"
out=../../../.build/lean/mqtt_latency
mkdir -p "$(dirname "$out")"
if [ ! -x "$out" ] || [ mqtt_latency.c -nt "$out" ]; then
    compiler=$(command -v clang || command -v cc)
    "$compiler" -O2 -Wall -o "$out" mqtt_latency.c
fi
cd "$(dirname "$out")" && echo "$PWD/$(basename "$out")"
