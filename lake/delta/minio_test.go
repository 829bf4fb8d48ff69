package delta_test

import (
	"testing"

	"github.com/sensorlab/sensorlab/lake/delta"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

// TestOnMinIO runs what depends on the store against a real S3 server:
// racing writers (PutIfAbsent with If-None-Match), checkpoints written and
// read back through the S3 store, the log listed in blocks, OPTIMIZE
// racing a streaming append, and VACUUM listing and deleting.
func TestOnMinIO(t *testing.T) {
	m := laketest.StartMinIO(t)
	t.Run("optimize races an append", func(t *testing.T) {
		optimizeRacesAppend(t, m.Bucket(t, "optimize"))
	})
	t.Run("vacuum", func(t *testing.T) {
		vacuumByClock(t, m.Bucket(t, "vacuum"))
	})
	s := m.Bucket(t, "delta")
	racingWriters(t, s, 3, 4) // 12 commits with checkpoint interval 5
	tbl := delta.NewTable(s, "race")
	snap := mustSnapshot(t, tbl)
	hint, err := s.Get(t.Context(), "race/_delta_log/_last_checkpoint")
	if err != nil {
		t.Fatalf("no _last_checkpoint on S3: %v", err)
	}
	// Read again with the commits the checkpoint covers gone.
	for v := int64(0); v < 10; v++ {
		if err := s.Delete(t.Context(), "race/_delta_log/"+commitName(v)); err != nil {
			t.Fatal(err)
		}
	}
	again := mustSnapshot(t, tbl)
	if again.Version() != snap.Version() || again.NumFiles() != snap.NumFiles() || len(again.Txns()) != 3 {
		t.Fatalf("from the checkpoint (%s): version %d, %d files; from the log: %d, %d", hint, again.Version(), again.NumFiles(), snap.Version(), snap.NumFiles())
	}
}
