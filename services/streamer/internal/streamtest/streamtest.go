// Package streamtest reads what a streamer wrote, as its users read it, for
// the streamer's tests: a topic as a read_committed consumer, the seed's
// stream table as a Delta reader, /metrics as Prometheus. Only tests import
// it.
package streamtest

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/delta"
)

// Committed reads topic to its last stable offset as a read_committed
// consumer and returns its records, control records left out.
func Committed(t testing.TB, ctx context.Context, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: not read to its end: %v", topic, pending)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := pending[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset == end-1 {
				delete(pending, r.Partition)
			}
		})
	}
	return out
}

// Header returns the value of r's header key ("" when it has none).
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// StreamRows reads the seed's stream table (path "stream") as a Delta
// reader does, the live files of its latest snapshot, sorted by window
// start and sensor; nil before the table exists.
func StreamRows(t testing.TB, ctx context.Context, st lake.Store) []contract.WindowRow {
	t.Helper()
	snap, err := delta.NewTable(st, "stream").Snapshot(ctx)
	if errors.Is(err, delta.ErrNotATable) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var rows []contract.WindowRow
	for _, f := range snap.Files() {
		key, err := snap.Table().DataKey(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parquet.Read[contract.WindowRow](bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		rows = append(rows, got...)
	}
	slices.SortFunc(rows, func(a, b contract.WindowRow) int {
		if c := a.WinStart.Compare(b.WinStart); c != 0 {
			return c
		}
		return strings.Compare(a.SensorID, b.SensorID)
	})
	return rows
}

// Scrape GETs /metrics from h as Prometheus does and returns its samples
// keyed by series (name and labels, as model.Metric prints them), through
// the client library's own text parser.
func Scrape(t testing.TB, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, slices.Collect(maps.Values(families))...)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		out[s.Metric.String()] = float64(s.Value)
	}
	return out
}
