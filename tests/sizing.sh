#!/bin/bash
# Usage: tests/sizing.sh [FORAGE_BIN]   (docs/BENCHMARKS.md, "Serving many agents")
# Sizing of one HTTP daemon serving many sessions: RSS and searches/s for 1, 8 and 32 sessions.
set -e
F=${1:-target/release/forage}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
echo "" > $D/c.toml
FORAGE_DATA_DIR=$D/data $F --config $D/c.toml serve --http 127.0.0.1:$PORT 2>/dev/null &
PID=$!
sleep 1
rss() { grep VmRSS /proc/$PID/status | awk '{print $2}'; }
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
echo "idle_rss_kib=$(rss)"
for n in 1 8 32; do
  c0=$(cpu)
  out=$(python3 $ROOT/tests/python/search_swap.py --url http://127.0.0.1:$PORT/mcp --query "convert a time between zones" --expect nothing-matches-this --sessions $n --seconds 15)
  c1=$(cpu)
  echo "sessions=$n rss_kib=$(rss) daemon_cpu_s=$(echo "($c1-$c0)/$(getconf CLK_TCK)" | bc -l) $out"
done
kill $PID; rm -rf "$D"
