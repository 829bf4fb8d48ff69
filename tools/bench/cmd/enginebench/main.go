// Command enginebench times an engine and DuckDB (one thread) computing
// the same query from the same input file, in the same run.
//
// Without -query: the streamer's specialised decode+engine hot path against
// DuckDB's read_json + GROUP BY, for the seed's 10-second windows per
// sensor (-sensors N):
//
//	go run ./tools/bench/cmd/enginebench -readings 2000000 -sensors 20
//
// With -query: the general SQL engine (query/plan) running a query file's
// sink, in process, against DuckDB computing the same query: seed,
// wordcount, customers, telemetry, fraud, sessions (queries/), or a .sql
// file whose source reads one of their topics; -keys N distinct keys
// (-sensors is the same), -sink another sink of the file, -cpuprofile a
// profile of the engine's passes:
//
//	go run ./tools/bench/cmd/enginebench -query seed -keys 1000000 -readings 2000000 -runs 3
//
// See docs/performance.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/sensorlab/sensorlab/tools/bench/internal/enginebench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := enginebench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
