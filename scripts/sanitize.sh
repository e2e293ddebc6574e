#!/usr/bin/env bash
# Runs the whole test suite under AddressSanitizer and ThreadSanitizer, each in its own scratch
# path (.build-address, .build-thread): scripts/sanitize.sh [address|thread ...].
# The spawned binaries (aviary, aviary-dashboard) come from the same sanitized build.
# A sanitizer report fails the run (halt_on_error); reports are kept in .build-SANITIZER/reports.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export LANG=C.UTF-8
sanitizers=("$@")
[ ${#sanitizers[@]} -eq 0 ] && sanitizers=(address thread)
status=0
for s in "${sanitizers[@]}"; do
    scratch=.build-$s
    mkdir -p "$scratch/reports"
    rm -f "$scratch"/reports/*
    # Under TSan the locks are pthread mutexes (Sources/AviaryLocks): the standard library's
    # Mutex is not instrumented on Linux and every access under it would be reported.
    flags=()
    [ "$s" = thread ] && flags=(-Xswiftc -DAVIARY_TSAN)
    echo "== $s: build"
    swift build --build-tests --sanitize="$s" --scratch-path "$scratch" "${flags[@]}"
    echo "== $s: test"
    export AVIARY_SANITIZER=$s  # tests skip their RSS bounds: shadow memory is not the broker's
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=0:log_path=$PWD/$scratch/reports/asan"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$PWD/$scratch/reports/tsan"
    # TSan slows everything 5-15x: one test at a time keeps each within its time limit.
    serial=()
    [ "$s" = thread ] && serial=(--no-parallel)
    if ! swift test --skip-build --sanitize="$s" --scratch-path "$scratch" "${flags[@]}" "${serial[@]}"; then status=1; fi
    if compgen -G "$scratch/reports/*" > /dev/null; then
        echo "== $s: reports"; cat "$scratch"/reports/*; status=1
    else
        echo "== $s: no reports"
    fi
done
exit $status
