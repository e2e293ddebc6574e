# Convenience targets; the README's Quick start uses the scripts directly.
.PHONY: run test build fuzz sanitize bench crash
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
# the durability crash test, longer than CI's 20 kills: make crash CRASH_KILLS=200 (QoS 1 paho, then QoS 2)
CRASH_KILLS ?= 200
crash:
	swift build --product aviary
	for qos in 1 2; do d=$$(mktemp -d); python3 Tests/EndToEndTests/Scripts/crash_durability.py --aviary .build/debug/aviary \
		--dir $$d --port 22883 --qos $$qos --kills $(CRASH_KILLS) --seed $$RANDOM || exit 1; echo; rm -rf $$d; done
