package engine

import "slices"

// foldSliding adds an on-time reading to every sliding window of partition pt
// that holds it: the windows [k·S, k·S+L) with k·S <= ts < k·S+L, L/S of them.
// Each window's rows are folded in arrival order, as for tumbling windows, so
// the sums do not depend on batch boundaries. Window starts may be negative
// for event times below L (as Spark's are); they are closed like any other,
// since the cut is wm - L >= -L.
//
// The windows of a partition are sorted and their starts are multiples of S,
// so the windows holding ts are adjacent: one binary search finds the newest,
// and the older ones are its left neighbours (or are inserted there).
func (e *Engine) foldSliding(pt *partition, s int32, ts int64, temp, hum float64, ok bool) {
	start := windowStart(ts, e.slideMs)
	i, _ := slices.BinarySearchFunc(pt.wins, start, func(w *window, s int64) int { return cmpInt(w.start, s) })
	for st := start; st > ts-e.winMs; st -= e.slideMs {
		if i >= len(pt.wins) || pt.wins[i].start != st {
			e.insertWindow(pt, i, st)
		}
		r := pt.wins[i].getOrAdd(s)
		if r.batch != e.seq {
			r.batch = e.seq
			e.stats.NumRowsUpdated++
		}
		r.fold(temp, hum, ok)
		if i > 0 && pt.wins[i-1].start == st-e.slideMs {
			i--
		}
	}
}
