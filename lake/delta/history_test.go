package delta_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sensorlab/sensorlab/lake/delta"
)

func TestHistoryAndDetailOfSparkLog(t *testing.T) {
	s, _ := fileStore(t)
	writeLog(t, s, "tbl", sparkLog)
	tbl := delta.NewTable(s, "tbl")
	hist, err := tbl.History(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, h := range hist {
		ops = append(ops, h.CommitInfo.Operation)
	}
	if want := []string{"DELETE", "STREAMING UPDATE", "ADD COLUMNS", "OPTIMIZE", "DELETE", "WRITE"}; !slices.Equal(ops, want) {
		t.Fatalf("history operations %q, want %q (newest first)", ops, want)
	}
	if h := hist[5]; h.Version != 0 || h.CommitInfo.OperationParameters["partitionBy"] != `["region"]` ||
		h.CommitInfo.OperationMetrics["numFiles"] != "4" || h.CommitInfo.EngineInfo != "Apache-Spark/3.5.3 Delta-Lake/3.2.1" {
		t.Fatalf("version 0's history entry %+v", h)
	}
	if h := hist[1]; h.CommitInfo.ReadVersion == nil || *h.CommitInfo.ReadVersion != 3 || h.CommitInfo.OperationParameters["epochId"] != "8" {
		t.Fatalf("version 4's history entry %+v", h.CommitInfo)
	}
	for i := 1; i < len(hist); i++ {
		if !hist[i].Timestamp.Before(hist[i-1].Timestamp) {
			t.Fatalf("history timestamps not decreasing: %v then %v", hist[i-1].Timestamp, hist[i].Timestamp)
		}
	}
	if two, err := tbl.History(t.Context(), 2); err != nil || len(two) != 2 || two[0].Version != 5 {
		t.Fatalf("History(limit 2) = %d entries, %v", len(two), err)
	}
	d, err := tbl.Detail(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Format != "delta" || d.ID != "a1b2c3d4-0000-4000-8000-000000000000" || d.NumFiles != 2 || d.SizeInBytes != 2050 ||
		!slices.Equal(d.PartitionColumns, []string{"region"}) || d.MinReaderVersion != 3 || d.MinWriterVersion != 7 ||
		d.Properties["owner"] != "lab" || d.CreatedAt.UnixMilli() != 1732199999000 || d.Version != 5 ||
		!slices.Equal(d.TableFeatures, []string{"appendOnly", "invariants", "timestampNtz"}) ||
		!strings.HasPrefix(d.Location, "file://") || !strings.HasSuffix(d.Location, "/tbl") {
		t.Fatalf("Detail = %+v", d)
	}
}

// TestHistoryAndDetailRefuseWhatCannotBeRead: DESCRIBE HISTORY and DETAIL
// of a table this package cannot read are refused as reading it is.
func TestHistoryAndDetailRefuseWhatCannotBeRead(t *testing.T) {
	s, _ := fileStore(t)
	writeLog(t, s, "t", protocolLog(`{"minReaderVersion":3,"minWriterVersion":7,"readerFeatures":["deletionVectors"],"writerFeatures":["deletionVectors"]}`, `{}`))
	tbl := delta.NewTable(s, "t")
	if _, err := tbl.History(t.Context(), 0); !errors.Is(err, delta.ErrUnsupportedFeature) || !strings.Contains(err.Error(), "deletionVectors") {
		t.Errorf("History = %v, want it refused, naming deletionVectors", err)
	}
	if _, err := tbl.Detail(t.Context()); !errors.Is(err, delta.ErrUnsupportedFeature) {
		t.Errorf("Detail = %v, want it refused", err)
	}
}
