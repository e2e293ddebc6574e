# Convenience targets; the README's Quick start uses the scripts directly.
.PHONY: run test build
run:
	scripts/run
test:
	scripts/test
build:
	swift build
