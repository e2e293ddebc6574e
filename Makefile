# Convenience targets; the README's Quick start uses the scripts directly.
.PHONY: run test build fuzz sanitize bench crash install uninstall format lint rss-slope watchers crash-recovery soak
FUZZ_SECONDS ?= 300
run:
	scripts/run
test:
	scripts/test
build:
	swift build
# Lay the tree out as .swift-format says (swift-format ships with the toolchain); lint checks it
format:
	swift-format format --in-place --recursive --parallel Package.swift Sources Tests Fuzz Plugins scripts
lint:
	scripts/lint/format.sh
	python3 scripts/lint/layers.py > /dev/null
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
# memory over time with persistence on (RSS after each round, slope per 100,000 messages):
# make rss-slope RSS_ROUNDS=12 RSS_SECONDS=20
RSS_ROUNDS ?= 8
RSS_SECONDS ?= 10
rss-slope:
	scripts/bench/rss_slope.sh $(RSS_ROUNDS) $(RSS_SECONDS)
# many watchers: 10,000 clients, 50 API pollers, slowloris, unfinished WebSocket upgrades and idle
# API connections past the cap, with a QoS 1 stream; release build: make watchers WATCH_CLIENTS=10000
WATCH_CLIENTS ?= 10000
watchers:
	swift build -c release --product aviary
	python3 Tests/EndToEndTests/Scripts/many_watchers.py --aviary .build/release/aviary --port 25883 --api-port 25884 --ws-port 25885 \
		--clients $(WATCH_CLIENTS) --pollers 50 --slowloris 50 --ws 50 --idle 200 --max-connections 256 --idle-timeout 10 \
		--connect-timeout 10 --seconds 20 --rate 1000
# the long mixed soak (persistence on, QoS 0/1/2 pairs, fan-in, WebSockets, a bridge to a Mosquitto
# restarted every 3 minutes, churn, kicks, the dashboard in tmux): make soak SOAK_SECONDS=1800
SOAK_SECONDS ?= 1800
soak:
	swift build -c release --product aviary
	py=$$(/usr/bin/python3 -c 'import paho' 2>/dev/null && echo /usr/bin/python3 || echo python3); \
	$$py Tests/EndToEndTests/Scripts/soak.py --aviary .build/release/aviary --seconds $(SOAK_SECONDS) --warmup 120 \
		--rate 100 --bridge-restart 180 --kick 30 --dashboard | tee /tmp/aviary-soak.json | python3 scripts/bench/soak_summary.py
# SIGKILL while a large store loads (100,000 sessions x 10 queued messages), several times
RECOVERY_SESSIONS ?= 100000
RECOVERY_KILLS ?= 5
crash-recovery:
	swift build -c release --product aviary
	d=$$(mktemp -d); python3 Tests/EndToEndTests/Scripts/crash_recovery.py --aviary .build/release/aviary --dir $$d --port 26883 \
		--api-port 26884 --sessions $(RECOVERY_SESSIONS) --messages 10 --kills $(RECOVERY_KILLS) --seed $$(date +%s); s=$$?; rm -rf $$d; exit $$s
# the durability crash test, longer than CI's 20 kills: make crash CRASH_KILLS=200 (QoS 1 paho, then QoS 2)
CRASH_KILLS ?= 200
crash:
	swift build --product aviary
	for qos in 1 2; do d=$$(mktemp -d); python3 Tests/EndToEndTests/Scripts/crash_durability.py --aviary .build/debug/aviary \
		--dir $$d --port 22883 --qos $$qos --kills $(CRASH_KILLS) --seed $$(date +%s) || exit 1; echo; rm -rf $$d; done

# Install as an operator expects: stripped binaries, the systemd unit (pointing at them) and the
# sample config, which an existing one is never overwritten by.
#   make install                          release build, then into /usr/local (+ /etc/aviary)
#   make install PREFIX=/usr DESTDIR=pkg  staged, for a package
#   make install CONFIGURATION=debug SKIP_BUILD=1   what is built already (the test does this)
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
CONFIGURATION ?= release
install:
ifneq ($(SKIP_BUILD),1)
	swift build -c $(CONFIGURATION) --product aviary
	swift build -c $(CONFIGURATION) --product aviary-dashboard
endif
	install -d "$(DESTDIR)$(BINDIR)" "$(DESTDIR)$(UNITDIR)" "$(DESTDIR)$(SYSCONFDIR)/aviary"
	install -s -m 755 .build/$(CONFIGURATION)/aviary .build/$(CONFIGURATION)/aviary-dashboard "$(DESTDIR)$(BINDIR)/"
	sed -e 's|/usr/local/bin/aviary|$(BINDIR)/aviary|g' -e 's|/etc/aviary/aviary.conf|$(SYSCONFDIR)/aviary/aviary.conf|g' \
		contrib/aviary.service > "$(DESTDIR)$(UNITDIR)/aviary.service"
	chmod 644 "$(DESTDIR)$(UNITDIR)/aviary.service"
	if [ -e "$(DESTDIR)$(SYSCONFDIR)/aviary/aviary.conf" ]; then \
		install -m 640 contrib/aviary.conf "$(DESTDIR)$(SYSCONFDIR)/aviary/aviary.conf.new"; \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/aviary/aviary.conf; the sample is aviary.conf.new beside it"; \
	else install -m 640 contrib/aviary.conf "$(DESTDIR)$(SYSCONFDIR)/aviary/aviary.conf"; fi
uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/aviary" "$(DESTDIR)$(BINDIR)/aviary-dashboard" "$(DESTDIR)$(UNITDIR)/aviary.service"
	@echo "left $(DESTDIR)$(SYSCONFDIR)/aviary (configuration) and /var/lib/aviary (the store) in place"
