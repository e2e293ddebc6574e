#!/usr/bin/env bash
# The tree as .swift-format lays it out (swift-format ships with the toolchain), and no source
# line over its 150 columns (swift-format cannot break a long string literal, so it does not
# flag one: wrap it with a `\` at the line ends of a """ string). `make format` fixes layout.
# Exits non-zero on a finding; run by scripts/test before the build. LINT_ROOT=DIR checks
# another tree (the test of this script does).
set -euo pipefail
cd "${LINT_ROOT:-$(dirname "$0")/../..}"
command -v swift-format > /dev/null || { echo "swift-format not found: it ships with the Swift toolchain (6.0 and later), beside swift" >&2; exit 1; }
paths=()
for path in Package.swift Sources Tests Fuzz Plugins scripts; do [ -e "$path" ] && paths+=("$path"); done
swift-format lint --strict --recursive --parallel "${paths[@]}"
python3 - "${paths[@]}" <<'PY'
import json, pathlib, sys
limit = json.load(open(".swift-format"))["lineLength"]
long = []
for root in sys.argv[1:]:
    files = [pathlib.Path(root)] if root.endswith(".swift") else sorted(pathlib.Path(root).rglob("*.swift"))
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if len(line) > limit:
                long.append(f"{path}:{number}: {len(line)} columns, over .swift-format's {limit}")
print("\n".join(long), file=sys.stderr)
sys.exit(1 if long else 0)
PY
