package engine

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config, the seed lab's values.
const (
	DefaultWindow    = 10 * time.Second
	DefaultWatermark = time.Minute
)

// Config shapes the windowing. Every duration must be whole milliseconds:
// event times are epoch milliseconds.
//
// The window kind follows from the fields: SessionGap > 0 gives session
// windows (then Window and Slide must be 0); otherwise Slide == 0 or Slide ==
// Window gives tumbling windows of length Window, and 0 < Slide < Window gives
// sliding windows [k·Slide, k·Slide+Window). Spark only asks Slide <= Window;
// here Window must also be a multiple of Slide, so every window holds whole
// slides and a reading always falls in exactly Window/Slide windows.
type Config struct {
	Window    time.Duration // window length (default 10s); > 0 unless SessionGap is set
	Watermark time.Duration // watermark delay (default 1m); >= 0

	// Slide is the sliding windows' step; 0 means tumbling windows.
	Slide time.Duration
	// SessionGap > 0 selects session windows per sensor: a session extends
	// while the gaps between its readings are < SessionGap and ends at its
	// last reading + SessionGap.
	SessionGap time.Duration
	// Dedup drops a reading whose (sensor_id, ts) was already seen and is
	// still above the watermark (Spark's dropDuplicatesWithinWatermark).
	Dedup bool
	// RetainAll keeps every window for complete output mode: nothing is
	// evicted, BatchResult.Complete holds the whole result table each batch,
	// and Append still emits each window once, when the watermark closes it.
	// The state then grows with the stream, as Spark's does in complete mode.
	RetainAll bool
	// SilenceTimeout > 0 raises sensor_silent when a sensor's last reading
	// plus SilenceTimeout is <= the watermark, and sensor_recovered at its
	// next reading (an event-time timeout, as Spark's applyInPandasWithState).
	SilenceTimeout time.Duration
}

// Window kinds, as recorded in snapshots.
const (
	kindTumbling = 1
	kindSliding  = 2
	kindSession  = 3
)

// DefaultConfig returns the defaults: 10s tumbling windows, 1m watermark delay.
func DefaultConfig() Config {
	return Config{Window: DefaultWindow, Watermark: DefaultWatermark}
}

// kind is the window kind the configuration selects.
func (c Config) kind() byte {
	switch {
	case c.SessionGap > 0:
		return kindSession
	case c.Slide > 0 && c.Slide != c.Window:
		return kindSliding
	}
	return kindTumbling
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	wholeMs := func(what string, d time.Duration) bool {
		switch {
		case d < 0:
			errs = append(errs, fmt.Errorf("%s %v: must be >= 0", what, d))
		case d%time.Millisecond != 0:
			errs = append(errs, fmt.Errorf("%s %v: must be whole milliseconds", what, d))
		default:
			return true
		}
		return false
	}
	if c.SessionGap != 0 {
		if wholeMs("session gap", c.SessionGap) && (c.Window != 0 || c.Slide != 0) {
			errs = append(errs, fmt.Errorf("session gap %v with window %v and slide %v: session windows take no window length or slide (set them to 0)",
				c.SessionGap, c.Window, c.Slide))
		}
	} else {
		switch {
		case c.Window <= 0:
			errs = append(errs, fmt.Errorf("window length %v: must be > 0", c.Window))
		case c.Window%time.Millisecond != 0:
			errs = append(errs, fmt.Errorf("window length %v: must be whole milliseconds", c.Window))
		}
		if wholeMs("slide", c.Slide) && c.Slide > 0 && c.Window > 0 {
			switch {
			case c.Slide > c.Window:
				errs = append(errs, fmt.Errorf("slide %v: must be <= the window length %v", c.Slide, c.Window))
			case c.Window%c.Slide != 0:
				errs = append(errs, fmt.Errorf("slide %v: the window length %v must be a multiple of it", c.Slide, c.Window))
			}
		}
	}
	wholeMs("watermark delay", c.Watermark)
	wholeMs("silence timeout", c.SilenceTimeout)
	if len(errs) > 0 {
		return fmt.Errorf("engine config: %w", errors.Join(errs...))
	}
	return nil
}

// String describes the configuration's shape, as Restore's errors show it.
func (c Config) String() string {
	var s string
	switch c.kind() {
	case kindSession:
		s = fmt.Sprintf("session windows with gap %v", c.SessionGap)
	case kindSliding:
		s = fmt.Sprintf("sliding window %v every %v", c.Window, c.Slide)
	default:
		s = fmt.Sprintf("tumbling window %v", c.Window)
	}
	s += fmt.Sprintf(", watermark delay %v", c.Watermark)
	if c.Dedup {
		s += ", dedup"
	}
	if c.SilenceTimeout > 0 {
		s += fmt.Sprintf(", silence timeout %v", c.SilenceTimeout)
	}
	if c.RetainAll {
		s += ", retain all (complete mode)"
	}
	return s
}
