package checkpoint

import (
	"context"
	"errors"
	"testing"
)

// The first batch after a data loss the user allowed (--fail-on-data-loss=
// false) starts where Kafka's log now starts, not where the previous batch
// ended. A crash before its commit must replay it, not refuse the checkpoint
// as damaged; an entry that does not continue its predecessor without the
// mark is still refused.
func TestRecoverReplaysABatchStartedPastADataLoss(t *testing.T) {
	ctx := context.Background()
	for _, marked := range []bool{true, false} {
		cp := open(t, fileStore(t))
		run(t, cp, 0, 2)
		e := entry(2)
		for p := range e.Start {
			e.Start[p], e.End[p] = 0, 5 // the topic was recreated
		}
		e.DataLossReset = marked
		if err := cp.WriteOffsets(ctx, e); err != nil {
			t.Fatal(err)
		}
		rec, err := cp.Recover(ctx)
		if !marked {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("unmarked discontinuous entry: Recover = %v, want ErrDamaged", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("marked entry: Recover = %v", err)
		}
		if rec.LastCommit == nil || rec.LastCommit.BatchID != 1 || len(rec.Replay) != 1 || rec.Replay[0].BatchID != 2 {
			t.Fatalf("resumes from %+v replaying %+v; want commit 1 and a replay of batch 2", rec.LastCommit, rec.Replay)
		}
		if !rec.Replay[0].DataLossReset || rec.Replay[0].Start[0] != 0 {
			t.Fatalf("replay %+v: want the recorded reset entry", rec.Replay[0])
		}
	}
}
