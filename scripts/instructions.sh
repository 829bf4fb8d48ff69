#!/usr/bin/env bash
# Counts the instructions the streamer's hot path executes per reading: one
# pass of BenchmarkPipeline20Sensors (1,000,000 readings: decode, windows,
# aggregates) under valgrind's callgrind, counting only inside pipelinePass so
# that generating the records is left out. Unlike a timing, the count does not
# move with the machine's load, so it tells two builds apart on a noisy host;
# it is a guide, not a speed (see docs/performance.md, "Engine vs DuckDB").
#
#   scripts/instructions.sh             # the checkout
#   scripts/instructions.sh BIN         # a prebuilt go test -c ./internal/decode/ binary
#
# Needs valgrind (Debian: apt-get install valgrind). Go's asynchronous
# preemption signals trip callgrind, hence asyncpreemptoff.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bin=${1:-}
if [[ -z $bin ]]; then
	bin=$work/decode.test
	(cd "$root/services/streamer" && go test -c -o "$bin" ./internal/decode/)
fi

GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind \
	--toggle-collect='*decode.pipelinePass*' --callgrind-out-file="$work/cg.out" \
	"$bin" -test.run '^$' -test.bench '^BenchmarkPipeline20Sensors$' -test.benchtime 1x >/dev/null 2>"$work/valgrind.log" ||
	{ cat "$work/valgrind.log" >&2; exit 1; }

callgrind_annotate "$work/cg.out" | awk '
	/PROGRAM TOTALS/ { gsub(",", "", $1); printf "instructions per reading: %.0f\n", $1 / 1e6; top = 1; next }
	top && /^ *[0-9,]+ \(/ && n < 12 {
		ir = $1; gsub(",", "", ir)
		name = $0; sub(/^[^)]*\) */, "", name); sub(/ \[.*/, "", name); sub(/^[^:]*:/, "", name)
		sub(/^github.com\/sensorlab\/sensorlab\/services\/streamer\/internal\//, "", name)
		printf "%8.0f  %s\n", ir / 1e6, name; n++
	}'
