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

// Config shapes the windowing. Both durations must be whole milliseconds:
// event times are epoch milliseconds.
type Config struct {
	Window    time.Duration // tumbling window length (default 10s); > 0, whole milliseconds
	Watermark time.Duration // watermark delay (default 1m); >= 0, whole milliseconds
}

// DefaultConfig returns the defaults: 10s windows, 1m watermark delay.
func DefaultConfig() Config {
	return Config{Window: DefaultWindow, Watermark: DefaultWatermark}
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	switch {
	case c.Window <= 0:
		errs = append(errs, fmt.Errorf("window length %v: must be > 0", c.Window))
	case c.Window%time.Millisecond != 0:
		errs = append(errs, fmt.Errorf("window length %v: must be whole milliseconds", c.Window))
	}
	switch {
	case c.Watermark < 0:
		errs = append(errs, fmt.Errorf("watermark delay %v: must be >= 0", c.Watermark))
	case c.Watermark%time.Millisecond != 0:
		errs = append(errs, fmt.Errorf("watermark delay %v: must be whole milliseconds", c.Watermark))
	}
	if len(errs) > 0 {
		return fmt.Errorf("engine config: %w", errors.Join(errs...))
	}
	return nil
}
