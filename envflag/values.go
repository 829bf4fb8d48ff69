package envflag

import (
	"errors"
	"flag"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// The Values below write straight into the variable they are given. Set
// receives the text exactly as the environment or the command line holds
// it; every String tolerates a zero receiver, as the flag package requires.

// String binds p. Any text is accepted; the empty string included.
func String(p *string) flag.Value { return stringValue{p} }

type stringValue struct{ p *string }

func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

// List binds p to a comma-separated list; blanks around items and empty
// items are dropped, so the empty string is the empty list.
func List(p *[]string) flag.Value { return listValue{p} }

type listValue struct{ p *[]string }

func (v listValue) Set(s string) error {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*v.p = out
	return nil
}

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

// Int binds p to a decimal integer.
func Int(p *int) flag.Value { return intValue{p} }

type intValue struct{ p *int }

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want an integer")
	}
	*v.p = n
	return nil
}

func (v intValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

// Int64 binds p to a decimal integer.
func Int64(p *int64) flag.Value { return int64Value{p} }

type int64Value struct{ p *int64 }

func (v int64Value) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return errors.New("want an integer")
	}
	*v.p = n
	return nil
}

func (v int64Value) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatInt(*v.p, 10)
}

// Float64 binds p to a number.
func Float64(p *float64) flag.Value { return floatValue{p} }

type floatValue struct{ p *float64 }

func (v floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return errors.New("want a number")
	}
	*v.p = f
	return nil
}

func (v floatValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

// Duration binds p to a Go duration (200ms, 1m30s); a bare 0 is zero.
func Duration(p *time.Duration) flag.Value { return durationValue{p} }

type durationValue struct{ p *time.Duration }

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a duration such as 200ms, 10s or 1m30s")
	}
	*v.p = d
	return nil
}

func (v durationValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

// Bool binds p to true/false/1/0 (strconv.ParseBool). As a flag it may be
// given without a value: --console means --console=true.
func Bool(p *bool) flag.Value { return boolValue{p} }

type boolValue struct{ p *bool }

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want true or false")
	}
	*v.p = b
	return nil
}

func (v boolValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatBool(*v.p)
}

// IsBoolFlag lets the flag package accept the flag without a value.
func (boolValue) IsBoolFlag() bool { return true }

// Level binds p to a log level: debug, info, warn or error.
func Level(p *slog.Level) flag.Value { return levelValue{p} }

type levelValue struct{ p *slog.Level }

func (v levelValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		*v.p = slog.LevelDebug
	case "info":
		*v.p = slog.LevelInfo
	case "warn":
		*v.p = slog.LevelWarn
	case "error":
		*v.p = slog.LevelError
	default:
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

func (v levelValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.ToLower(v.p.String())
}

// Func is a Value of the caller's: set parses and stores, get shows the
// current value.
func Func(set func(string) error, get func() string) flag.Value { return funcValue{set, get} }

type funcValue struct {
	set func(string) error
	get func() string
}

func (v funcValue) Set(s string) error { return v.set(s) }
func (v funcValue) String() string {
	if v.get == nil {
		return ""
	}
	return v.get()
}
