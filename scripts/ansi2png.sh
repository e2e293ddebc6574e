#!/usr/bin/env bash
# ANSI screen capture (tmux capture-pane -e -N) -> PNG, via aha and headless Chromium.
# Usage: scripts/ansi2png.sh screen.ans out.png [COLS] [ROWS]
set -euo pipefail
in=$1 out=$2 cols=${3:-120} rows=${4:-30}
font_px=16 line_px=19 pad=10        # DejaVu Sans Mono advance = 0.602 em
w=$(( (cols * font_px * 602 + 999) / 1000 + 2 * pad )); h=$(( rows * line_px + 2 * pad ))
html=$(mktemp --suffix=.html)
{ cat <<CSS
<!doctype html><html><head><meta charset="utf-8"><style>
html,body{margin:0;background:#1e1e1e}
pre{margin:0;padding:${pad}px;font:${font_px}px/${line_px}px "DejaVu Sans Mono",monospace;color:#d4d4d4}
.dimgray{color:#1e1e1e}.red{color:#f14c4c}.green{color:#23d18b}.yellow{color:#f5f543}.blue{color:#3b8eea}
.purple{color:#d670d6}.cyan{color:#29b8db}.white{color:#e5e5e5}.bg-black{background:#1e1e1e}
.bg-red{background:#cd3131}.bg-green{background:#0dbc79}.bg-yellow{background:#e5e510}.bg-blue{background:#2472c8}
.bg-purple{background:#bc3fbc}.bg-cyan{background:#11a8cd}.bg-white{background:#e5e5e5}
.inverted{color:#1e1e1e}.bg-inverted{background:#d4d4d4}.bold{font-weight:bold}.underline{text-decoration:underline}
</style></head><body><pre>
CSS
  aha --black --stylesheet --no-header < "$in"
  echo '</pre></body></html>'; } > "$html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --window-size="$w,$h" --screenshot="$out" "file://$html" 2>/dev/null >/dev/null
rm -f "$html"
