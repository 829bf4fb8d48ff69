package engine

import (
	"math"
	"slices"

	"github.com/sensorlab/sensorlab/contract"
)

// Silence timeouts (Config.SilenceTimeout), an event-time timeout per sensor
// as with Spark's applyInPandasWithState and GroupStateTimeout.EventTimeTimeout:
// the state is each sensor's last event time (the max over its accepted
// readings) and whether it is silent.
//
//   - At the start of a batch with watermark W, a sensor that is not silent
//     and whose last + timeout <= W becomes silent: event sensor_silent with
//     TS = last + timeout. No on-time reading can fall in (last, last+timeout]
//     any more (it would be <= W), so the silence is certain.
//   - The next accepted reading of a silent sensor raises sensor_recovered
//     with TS = the reading's event time, and the sensor is no longer silent.
//
// Unlike windows, when a timeout fires depends on when the watermark
// advances, hence on batch boundaries, as in Spark. A sensor's entry is kept
// while the engine lives: a silent sensor must be remembered to recover.

// timeout is one sensor's silence-timeout state.
type timeout struct {
	last   int64 // event time of its latest accepted reading; noEventTime if none
	silent bool
}

// seen records an accepted reading of sensor s at ts.
func (e *Engine) seen(s int32, ts int64) {
	if int(s) >= len(e.tmo) {
		n := len(e.names)
		old := len(e.tmo)
		e.tmo = slices.Grow(e.tmo, n-old)[:n]
		for i := old; i < n; i++ {
			e.tmo[i] = timeout{last: noEventTime}
		}
	}
	t := &e.tmo[s]
	if t.silent {
		e.events = append(e.events, contract.Alert{Type: contract.AlertRecovered, SensorID: e.names[s], TS: ts, LastSeen: t.last})
		t.silent = false
	}
	t.last = max(t.last, ts)
}

// fireTimeouts marks silent the sensors the batch watermark times out.
func (e *Engine) fireTimeouts() {
	lim := e.wm - e.timeoutMs // wm >= 0: no overflow
	for s := range e.tmo {
		t := &e.tmo[s]
		if t.last != noEventTime && !t.silent && t.last <= lim {
			t.silent = true
			e.events = append(e.events, contract.Alert{Type: contract.AlertSilent, SensorID: e.names[s], TS: t.last + e.timeoutMs, LastSeen: t.last})
		}
	}
}

// nextTimeout is the least watermark that times a sensor out (math.MaxInt64 if none).
func (e *Engine) nextTimeout() int64 {
	next := int64(math.MaxInt64)
	for _, t := range e.tmo {
		if t.last != noEventTime && !t.silent && t.last <= math.MaxInt64-e.timeoutMs {
			next = min(next, t.last+e.timeoutMs)
		}
	}
	return next
}

// timeoutCounts returns the sensors in timeout state and the silent ones.
func (e *Engine) timeoutCounts() (tracked, silent int64) {
	for _, t := range e.tmo {
		if t.last != noEventTime {
			tracked++
			if t.silent {
				silent++
			}
		}
	}
	return tracked, silent
}
