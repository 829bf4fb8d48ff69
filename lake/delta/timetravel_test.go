package delta_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake/delta"
)

func TestTimeTravelByTimestamp(t *testing.T) {
	s, dir := fileStore(t)
	tbl, _ := newStreamTable(t, s, "t", nil)
	commitN(t, tbl, 4, "f") // versions 1..4
	T := time.Date(2024, 11, 21, 12, 0, 0, 0, time.UTC)
	// File times as a store may give them: equal, and going backwards.
	mtimes := []time.Time{T, T.Add(10 * time.Minute), T.Add(20 * time.Minute), T.Add(20 * time.Minute), T.Add(15 * time.Minute)}
	for v, m := range mtimes {
		setModTime(t, dir, "t", commitName(int64(v)), m)
	}
	ms := time.Millisecond
	cases := []struct {
		at   time.Time
		want int64
	}{
		{T, 0}, {T.Add(5 * time.Minute), 0}, {T.Add(10 * time.Minute), 1}, {T.Add(19 * time.Minute), 1},
		{T.Add(20 * time.Minute), 2},
		{T.Add(20*time.Minute + ms), 3}, // equal times: one millisecond later
		{T.Add(20*time.Minute + 2*ms), 4},
	}
	for _, tc := range cases {
		v, err := tbl.VersionAsOf(t.Context(), tc.at)
		if err != nil || v != tc.want {
			t.Errorf("VersionAsOf(%s) = %d, %v; want %d", tc.at.Format(time.RFC3339Nano), v, err, tc.want)
		}
	}
	for _, bad := range []time.Time{T.Add(-time.Second), T.Add(20*time.Minute + 3*ms)} {
		if v, err := tbl.VersionAsOf(t.Context(), bad); !errors.Is(err, delta.ErrTimestampOutOfRange) {
			t.Errorf("VersionAsOf(%s) = %d, %v; want ErrTimestampOutOfRange", bad.Format(time.RFC3339Nano), v, err)
		}
	}
	snap, err := tbl.SnapshotAsOf(t.Context(), T.Add(12*time.Minute))
	if err != nil || snap.Version() != 1 || snap.NumFiles() != 1 {
		t.Fatalf("SnapshotAsOf(T+12m): %v; want version 1 with one file", err)
	}
	// Versions whose commits are gone are not a time-travel target, even
	// where the file times would say so: only from a checkpoint on.
	for v := range int64(2) {
		if err := s.Delete(t.Context(), "t/_delta_log/"+commitName(v)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tbl.VersionAsOf(t.Context(), T.Add(21*time.Minute)); err == nil {
		t.Fatal("VersionAsOf with the log's start gone and no checkpoint: want an error")
	}
}

// TestInCommitTimestamps: with delta.enableInCommitTimestamps the protocol
// gets the writer feature, every commitInfo (first in its commit) carries
// an increasing inCommitTimestamp, and time travel goes by those, not by
// file times.
func TestInCommitTimestamps(t *testing.T) {
	s, dir := fileStore(t)
	T := time.Date(2024, 11, 21, 12, 0, 0, 0, time.UTC)
	clk := newClock(T, 0)
	tbl, snap := newStreamTable(t, s, "t", map[string]string{delta.PropEnableInCommitTimestamps: "true"}, delta.WithClock(clk.Now))
	if p := snap.Protocol(); p.MinWriterVersion != 7 || !slices.Contains(p.WriterFeatures, "inCommitTimestamp") || p.MinReaderVersion != 1 {
		t.Fatalf("protocol %+v: want writer 7 with inCommitTimestamp, reader 1", p)
	}
	for i, at := range []time.Time{T.Add(time.Minute), T.Add(2 * time.Minute), T.Add(time.Minute) /* a clock going back */} {
		clk.Set(at)
		commitN(t, tbl, 1, fmt.Sprintf("c%d", i))
	}
	hist, err := tbl.History(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	wantICT := []time.Time{T.Add(2*time.Minute + time.Millisecond), T.Add(2 * time.Minute), T.Add(time.Minute), T}
	for i, h := range hist {
		if !h.Timestamp.Equal(wantICT[i]) || h.CommitInfo.InCommitTimestamp == nil {
			t.Errorf("version %d: timestamp %s, want %s (in-commit)", h.Version, h.Timestamp, wantICT[i])
		}
		raw, _ := s.Get(t.Context(), "t/_delta_log/"+commitName(h.Version))
		if !strings.HasPrefix(string(raw), `{"commitInfo":{"timestamp":`) || !strings.Contains(strings.SplitN(string(raw), "\n", 2)[0], `"inCommitTimestamp"`) {
			t.Errorf("version %d does not start with a commitInfo holding inCommitTimestamp: %.120s", h.Version, raw)
		}
	}
	// File times now say nothing useful.
	for v := range int64(4) {
		setModTime(t, dir, "t", commitName(v), T.Add(-time.Hour))
	}
	for _, tc := range []struct {
		at   time.Time
		want int64
	}{{T, 0}, {T.Add(90 * time.Second), 1}, {T.Add(2 * time.Minute), 2}, {T.Add(2*time.Minute + time.Millisecond), 3}} {
		if v, err := tbl.VersionAsOf(t.Context(), tc.at); err != nil || v != tc.want {
			t.Errorf("VersionAsOf(%s) = %d, %v; want %d", tc.at.Format(time.RFC3339Nano), v, err, tc.want)
		}
	}
	if _, err := tbl.VersionAsOf(t.Context(), T.Add(-time.Millisecond)); !errors.Is(err, delta.ErrTimestampOutOfRange) {
		t.Errorf("before the first in-commit timestamp: %v, want ErrTimestampOutOfRange", err)
	}
	if got := mustSnapshot(t, tbl).Timestamp(); !got.Equal(wantICT[0]) {
		t.Errorf("Snapshot.Timestamp = %s, want the in-commit timestamp %s", got, wantICT[0])
	}
}
