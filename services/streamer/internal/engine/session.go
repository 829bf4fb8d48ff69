package engine

import (
	"math"
	"slices"

	"github.com/sensorlab/sensorlab/contract"
)

// session is one sensor's session window in one partition: readings whose
// gaps (in event-time order) are all < the session gap. Its window is
// [first, last+gap).
type session struct {
	agg
	first, last int64  // event times of its first and last readings
	batch       uint32 // sequence number of the last batch that changed it
	dead        bool   // set by finishSessions on sessions it evicts
}

// sessRef points at one partition's session while finishSessions groups a
// sensor's sessions over partitions.
type sessRef struct {
	first, last int64
	p, i        int32 // index in e.parts, index in its sess list
}

// foldSession adds an on-time reading to sensor s's sessions in partition
// pt. The reading joins the session it falls in or within a gap of; if it
// bridges two sessions they merge (the later into the earlier); else it
// opens a session. The state of a partition therefore depends only on the
// order of its readings, not on batch boundaries: a closed session (last+gap
// <= watermark) is never touched again, since a reading that would join it
// has ts < last+gap <= watermark and is late.
func (e *Engine) foldSession(pt *partition, s int32, ts int64, temp, hum float64, ok bool) {
	if int(s) >= len(pt.sess) {
		n := int(s) + 1
		old := len(pt.sess)
		pt.sess = slices.Grow(pt.sess, n-old)[:n]
		clear(pt.sess[old:])
	}
	ss := pt.sess[s]
	n := len(ss)
	i := n // the first session starting after ts; in-order readings skip the search
	if n > 0 && ts < ss[n-1].first {
		i, _ = slices.BinarySearchFunc(ss, ts, func(x session, t int64) int {
			if x.first <= t {
				return -1
			}
			return 1
		})
	}
	joinPrev := i > 0 && ts-ss[i-1].last < e.gapMs // also when ts <= last: inside it
	joinNext := i < n && ss[i].first-ts < e.gapMs
	var x *session
	switch {
	case joinPrev:
		x = &ss[i-1]
		x.fold(temp, hum, ok)
		x.last = max(x.last, ts)
		if joinNext { // the reading bridges two sessions
			x.merge(&ss[i].agg)
			x.last = ss[i].last
			ss = slices.Delete(ss, i, i+1)
			e.stats.NumRowsRemoved++
		}
	case joinNext:
		x = &ss[i]
		x.fold(temp, hum, ok)
		x.first = ts
	default:
		ss = slices.Insert(ss, i, session{first: ts, last: ts})
		x = &ss[i]
		x.fold(temp, hum, ok)
	}
	if x.batch != e.seq {
		x.batch = e.seq
		e.stats.NumRowsUpdated++
	}
	pt.sess[s] = ss
}

// finishSessions emits the session rows of the batch into res and evicts the
// closed sessions (unless RetainAll). It returns the least end of the
// sessions not yet closed (math.MaxInt64 if none).
//
// A sensor's sessions in different partitions merge here: sorted by first
// reading, a session joins the group before it when its first reading is
// within a gap of the group's last. A group's row spans [first, last+gap) and
// merges its sessions' aggregates in (first, partition) order. A group is
// closed once its end <= the watermark: no on-time reading can join it any
// more, in any partition, so its row is final. Rows are sorted by
// (win_start, sensor_id).
func (e *Engine) finishSessions(res *BatchResult) int64 {
	_, order := e.sensorRanks()
	nextClose := int64(math.MaxInt64)
	from := int64(math.MinInt64) // Append takes the groups ending in (from, wm]
	if e.cfg.RetainAll {
		from = e.emittedWm
	}
	evict := false
	refs := e.scratchRefs[:0]
	for _, s := range order {
		refs = refs[:0]
		nParts := 0
		for pi, p := range e.parts {
			if int(s) >= len(p.sess) || len(p.sess[s]) == 0 {
				continue
			}
			nParts++
			for i, x := range p.sess[s] {
				refs = append(refs, sessRef{first: x.first, last: x.last, p: int32(pi), i: int32(i)})
			}
		}
		if nParts > 1 { // one partition's sessions are sorted already
			slices.SortFunc(refs, func(a, b sessRef) int {
				if c := cmpInt(a.first, b.first); c != 0 {
					return c
				}
				return cmpInt(a.p, b.p)
			})
		}
		for g := 0; g < len(refs); {
			h, last := g+1, refs[g].last
			for h < len(refs) && refs[h].first-last < e.gapMs {
				last = max(last, refs[h].last)
				h++
			}
			start, end := refs[g].first, last+e.gapMs
			var a agg
			touched := false
			for _, r := range refs[g:h] {
				x := &e.parts[r.p].sess[s][r.i]
				a.merge(&x.agg)
				touched = touched || x.batch == e.seq
			}
			closed := end <= e.wm
			if touched || (closed && end > from) || e.cfg.RetainAll {
				row := e.spanRow(start, end, s, &a)
				if touched {
					res.Update = append(res.Update, row)
				}
				if closed && end > from {
					res.Append = append(res.Append, row)
				}
				if e.cfg.RetainAll {
					res.Complete = append(res.Complete, row)
				}
			}
			switch {
			case !closed:
				nextClose = min(nextClose, end)
			case !e.cfg.RetainAll:
				evict = true
				for _, r := range refs[g:h] {
					e.parts[r.p].sess[s][r.i].dead = true
				}
			}
			g = h
		}
	}
	e.scratchRefs = refs[:0]
	if evict {
		for _, p := range e.parts {
			for s, ss := range p.sess {
				n := len(ss)
				if n == 0 {
					continue
				}
				ss = slices.DeleteFunc(ss, func(x session) bool { return x.dead })
				e.stats.NumRowsRemoved += int64(n - len(ss))
				p.sess[s] = ss
			}
		}
	}
	for _, rows := range [][]contract.WindowRow{res.Update, res.Append, res.Complete} {
		// Rows are in sensor id order, each sensor's by start: a stable sort
		// by start gives (win_start, sensor_id).
		slices.SortStableFunc(rows, func(a, b contract.WindowRow) int { return a.WinStart.Compare(b.WinStart) })
	}
	return nextClose
}
