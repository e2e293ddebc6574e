#!/usr/bin/env bash
# Builds the libFuzzer target (packet decoder + property parser) with AddressSanitizer in its own
# scratch path and runs it for a bounded time: scripts/fuzz/run.sh [SECONDS] (default 300).
# Seeds: Fuzz/corpus (valid packets of every type and version, scripts/fuzz/make_seeds.py); a
# fixed finding is saved in Fuzz/regressions, which a test replays. New
# interesting inputs go to .build-fuzz/corpus; a crash or hang is saved in .build-fuzz/crashes.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-300}
export AVIARY_FUZZ=1
swift build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address --product aviary-fuzz
bin=$(swift build --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address --show-bin-path)/aviary-fuzz
mkdir -p .build-fuzz/corpus .build-fuzz/crashes
"$bin" .build-fuzz/corpus Fuzz/corpus \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
    -artifact_prefix=.build-fuzz/crashes/ -print_final_stats=1
