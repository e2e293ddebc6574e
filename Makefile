# Convenience targets; the README's Quick start uses the scripts directly.
.PHONY: run test build fuzz sanitize bench
FUZZ_SECONDS ?= 300
run:
	scripts/run
test:
	scripts/test
build:
	swift build
# libFuzzer over the packet decoder and property parser (ASan), bounded: make fuzz FUZZ_SECONDS=1800
fuzz:
	scripts/fuzz/run.sh $(FUZZ_SECONDS)
# the whole test suite under AddressSanitizer, then ThreadSanitizer
sanitize:
	scripts/sanitize.sh
# aviary and Mosquitto side by side (installs mosquitto if missing): make bench BENCH_PAIRS=3
BENCH_PAIRS ?= 3
bench:
	scripts/bench.sh $(BENCH_PAIRS)
