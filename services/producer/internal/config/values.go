package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// flag.Value implementations that write straight into a Config field. Each
// String tolerates a zero receiver, as the flag package requires.

type strVal struct{ p *string }

func (v strVal) Set(s string) error { *v.p = s; return nil }
func (v strVal) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

type listVal struct{ p *[]string }

func (v listVal) Set(s string) error {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	*v.p = out
	return nil
}

func (v listVal) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

type intVal struct{ p *int }

func (v intVal) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	*v.p = n
	return nil
}

func (v intVal) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

type int64Val struct{ p *int64 }

func (v int64Val) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	*v.p = n
	return nil
}

func (v int64Val) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatInt(*v.p, 10)
}

type floatVal struct{ p *float64 }

func (v floatVal) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	*v.p = f
	return nil
}

func (v floatVal) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

type durVal struct{ p *time.Duration }

func (v durVal) Set(s string) error {
	s = strings.TrimSpace(s)
	if s == "0" {
		*v.p = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (e.g. 200ms, 2m): %q", s)
	}
	*v.p = d
	return nil
}

func (v durVal) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

// seedVal records that a seed was given, so that 0 is a seed like any other.
type seedVal struct {
	p   *uint64
	set *bool
}

func (v seedVal) Set(s string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return fmt.Errorf("not an unsigned integer: %q", s)
	}
	*v.p, *v.set = n, true
	return nil
}

func (v seedVal) String() string {
	if v.p == nil || v.set == nil || !*v.set {
		return ""
	}
	return strconv.FormatUint(*v.p, 10)
}

// timeVal accepts RFC3339 (with optional fraction) or epoch milliseconds; an
// empty string or "now" means the wall clock.
type timeVal struct{ p *time.Time }

func (v timeVal) Set(s string) error {
	t, err := ParseStartTime(s)
	if err != nil {
		return err
	}
	*v.p = t
	return nil
}

func (v timeVal) String() string {
	if v.p == nil || v.p.IsZero() {
		return ""
	}
	return v.p.UTC().Format(time.RFC3339Nano)
}

// ParseStartTime parses a --start-time value: RFC3339 or epoch milliseconds.
// "" and "now" return the zero time, meaning the wall clock.
func ParseStartTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "now" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("not RFC3339 (2024-11-21T14:40:00Z) nor epoch milliseconds: " + strconv.Quote(s))
	}
	return t, nil
}

type levelVal struct{ p *slog.Level }

func (v levelVal) Set(s string) error {
	if err := v.p.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return fmt.Errorf("not a log level (debug, info, warn, error): %q", s)
	}
	return nil
}

func (v levelVal) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}
