package enginebench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/querygen"
)

// The general benchmark must time the engine and DuckDB computing the same
// thing: over a small input of every workload, the engine's sink holds as
// many rows as DuckDB's query gives, and some.
func TestEngineAndDuckDBAgree(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDuck()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range querygen.Names() {
		t.Run(name, func(t *testing.T) {
			g, err := loadQuery(root, name, "")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "input")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			info, err := g.w.Write(f, 20_000, 50, 3)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			now := info.MaxEventTime + 3_600_000_000
			recs, err := readRecords(path, g.w.Topic, now/1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 20_000 {
				t.Fatalf("read %d records back, wrote 20000", len(recs))
			}
			e, err := runEngine(g.q, recs, 3_000, now)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := g.w.DuckSQL(g.q.Name, path, info)
			d, err := runDuck(context.Background(), db, q)
			if err != nil {
				t.Fatal(err)
			}
			if d.rows < 20 {
				t.Fatalf("DuckDB computed %d rows: too few for the comparison to mean something", d.rows)
			}
			if err := sameRows(g.q.Sink.Mode, e.rows, d.rows); err != nil {
				t.Fatal(err)
			}
			if e.batches < 7 {
				t.Errorf("%d batches for 20000 records in batches of 3000", e.batches)
			}
		})
	}
}

// The seed's other sinks run too: alerts (append, HAVING) must agree, and
// the console (update mode) must emit every one of DuckDB's rows at least
// once.
func TestSeedSinksAgree(t *testing.T) {
	root, err := harness.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDuck()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(t.TempDir(), "input")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := querygen.Workloads["seed"]
	info, err := w.Write(f, 30_000, 20, 5)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	now := info.MaxEventTime + 3_600_000_000
	recs, err := readRecords(path, w.Topic, now/1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, sink := range []string{"alerts", "console"} {
		g, err := loadQuery(root, "seed", sink)
		if err != nil {
			t.Fatal(err)
		}
		e, err := runEngine(g.q, recs, 5_000, now)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := w.DuckSQL(sink, path, info)
		d, err := runDuck(context.Background(), db, q)
		if err != nil {
			t.Fatal(err)
		}
		if d.rows < 10 {
			t.Fatalf("sink %s: DuckDB computed %d rows, too few", sink, d.rows)
		}
		if err := sameRows(g.q.Sink.Mode, e.rows, d.rows); err != nil {
			t.Errorf("sink %s: %v", sink, err)
		}
	}
	// A sink the file lacks is refused with the ones it has.
	if _, err := loadQuery(root, "seed", "nope"); err == nil || !strings.Contains(err.Error(), "stream, console, alerts") {
		t.Errorf("unknown sink: %v", err)
	}
}

func TestSameRowsRefusesDifferentCounts(t *testing.T) {
	if sameRows("append", 10, 11) == nil || sameRows("complete", 3, 2) == nil || sameRows("update", 4, 5) == nil {
		t.Error("different row counts accepted")
	}
	if sameRows("append", 7, 7) != nil || sameRows("update", 9, 5) != nil {
		t.Error("agreeing counts refused")
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parse([]string{"-query", "seed", "-sensors", "100"}, io.Discard)
	if err != nil || c.Keys != 100 || c.Query != "seed" || c.Batch != 10_000 {
		t.Errorf("-sensors 100: %+v, %v; want 100 keys", c, err)
	}
	c, err = parse([]string{"-query", "fraud", "-keys", "7"}, io.Discard)
	if err != nil || c.Keys != 7 {
		t.Errorf("-keys 7: %+v, %v", c, err)
	}
	// Without -query it is the seed query, at -sensors keys.
	c, err = parse([]string{"-sink", "alerts", "-sensors", "50"}, io.Discard)
	if err != nil || c.Query != "seed" || c.Sink != "alerts" || c.Keys != 50 {
		t.Errorf("-sink alerts -sensors 50: %+v, %v; want the seed's alerts at 50 keys", c, err)
	}
	if _, err := parse([]string{"-query", "seed", "-keys", "-1"}, io.Discard); err == nil {
		t.Error("-keys -1 accepted")
	}
}
