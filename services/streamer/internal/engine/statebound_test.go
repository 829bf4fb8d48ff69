package engine

import (
	"fmt"
	"testing"
	"time"
)

// TestStateStaysBounded runs a long stream (2 million readings, event time
// advancing, out of order within the watermark, duplicates, sensors pausing)
// through every window kind with dedup and silence timeouts, and checks that
// the state rows (windows or sessions, dedup keys, timeout entries) stay under
// a bound set by the configuration, not by the stream's length.
func TestStateStaysBounded(t *testing.T) {
	const (
		nSensors  = 200
		nParts    = 4
		perMs     = 2      // readings per ms of event time
		batchSize = 20_000 // readings per micro-batch: 10s of event time
		jitterMs  = 3_000  // readings arrive up to 3s out of order
	)
	n := 2_000_000
	if testing.Short() {
		n = 200_000
	}
	delay := 5 * time.Second
	tests := []Config{
		{Window: 10 * time.Second, Watermark: delay, Dedup: true, SilenceTimeout: 5 * time.Second},
		{Window: 30 * time.Second, Slide: 10 * time.Second, Watermark: delay, Dedup: true, SilenceTimeout: 5 * time.Second},
		{SessionGap: 2 * time.Second, Watermark: delay, Dedup: true, SilenceTimeout: 5 * time.Second},
	}
	ids := make([][]byte, nSensors)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "sensor-%03d", i)
	}
	for _, cfg := range tests {
		t.Run(cfg.String(), func(t *testing.T) {
			e := mustNew(t, cfg)
			// The state spans at most the watermark delay, the jitter, one
			// batch of event time and one window (or gap) behind the max.
			spanMs := delay.Milliseconds() + jitterMs + batchSize/perMs + max(cfg.Window, cfg.SessionGap).Milliseconds()
			var rowBound int64
			switch cfg.kind() {
			case kindSession: // a session per sensor and partition per gap-long stretch, at most
				rowBound = nSensors * nParts * (spanMs/cfg.SessionGap.Milliseconds() + 1)
			default: // a row per sensor, partition and window start in the span
				rowBound = nSensors * nParts * (spanMs/e.slideMs + 1)
			}
			dedupBound := spanMs * perMs
			const t0 = int64(1_732_200_000_000)
			wm := int64(0)
			var maxRows, maxKeys, maxTmo, appended, events, dups int64
			var firstHalfState, secondHalfState int64
			for lo := 0; lo < n; lo += batchSize {
				e.StartBatch(wm)
				for i := lo; i < lo+batchSize; i++ {
					s := i % nSensors
					ts := t0 + int64(i/perMs) - int64(uint64(i)*0x9E3779B97F4A7C15>>40)%jitterMs
					// Each sensor pauses 20s in every 100s: sessions close, timeouts fire.
					if (ts/20_000+int64(s))%5 == 0 {
						continue
					}
					p := int32(s % nParts)
					e.AddRaw(p, ids[s], ts, 20, 50, true)
					if i%50 == 0 {
						e.AddRaw(p, ids[s], ts, 99, 99, true) // a duplicate
					}
				}
				res := e.FinishBatch()
				wm = res.NextWatermark
				st := res.Stats
				maxRows, maxKeys, maxTmo = max(maxRows, st.NumRowsTotal), max(maxKeys, st.NumDedupKeys), max(maxTmo, st.NumTimeoutKeys)
				appended += int64(len(res.Append))
				events += int64(len(res.Events))
				dups += st.NumDuplicatesDropped
				total := st.NumRowsTotal + st.NumDedupKeys + st.NumTimeoutKeys
				if lo < n/2 {
					firstHalfState = max(firstHalfState, total)
				} else {
					secondHalfState = max(secondHalfState, total)
				}
			}
			t.Logf("max state: %d rows (bound %d), %d dedup keys (bound %d), %d timeout entries; %d rows appended, %d events, %d duplicates",
				maxRows, rowBound, maxKeys, dedupBound, maxTmo, appended, events, dups)
			if maxRows > rowBound || maxKeys > dedupBound || maxTmo > nSensors {
				t.Errorf("state exceeded its bound: %d rows (bound %d), %d dedup keys (bound %d), %d timeout entries (bound %d)",
					maxRows, rowBound, maxKeys, dedupBound, maxTmo, nSensors)
			}
			if secondHalfState > firstHalfState*11/10 {
				t.Errorf("state grows with the stream: max %d state rows in the first half, %d in the second", firstHalfState, secondHalfState)
			}
			if appended == 0 || events == 0 || dups == 0 {
				t.Errorf("%d rows appended, %d events, %d duplicates: the stream exercises too little", appended, events, dups)
			}
		})
	}
}
