package sql

import (
	"math"
	"testing"
)

func TestParseDuration(t *testing.T) {
	const (
		us  = int64(1)
		ms  = 1000 * us
		sec = 1000 * ms
		min = 60 * sec
		hr  = 60 * min
		day = 24 * hr
	)
	cases := []struct {
		in   string
		want int64
	}{
		{"10 seconds", 10 * sec},
		{"1 second", sec},
		{"1 minute", min},
		{"10 minutes", 10 * min},
		{"5 minutes 30 seconds", 5*min + 30*sec},
		{"1 hour", hr},
		{"2 hours", 2 * hr},
		{"500 milliseconds", 500 * ms},
		{"250 microseconds", 250 * us},
		{"2 days", 2 * day},
		{"1 week", 7 * day},
		{"  10   SECONDS  ", 10 * sec},
		{"interval 10 seconds", 10 * sec},
		{"INTERVAL 1 Minute", min},
		{"1.5 seconds", 1500 * ms},
		{"0.000001 second", us},
		{".5 second", 500 * ms},
		{"10seconds", 10 * sec},
		{"-1 minute", -min},
		{"1 hour -30 minutes", 30 * min},
		{"+2 days", 2 * day},
		{"0 seconds", 0},
		{"1 minute 1 minute", 2 * min},
	}
	for _, c := range cases {
		got, err := ParseDuration(c.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseDuration(%q) = %d µs, want %d", c.in, got, c.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	const units = "microseconds, milliseconds, seconds, minutes, hours, days or weeks"
	cases := []struct{ in, want string }{
		{"", "invalid interval '': it is empty; write e.g. '10 seconds'"},
		{"interval", "invalid interval 'interval': expected a number but found 'interval'"},
		{"seconds", "invalid interval 'seconds': expected a number but found 'seconds'"},
		{"10", "invalid interval '10': '10' has no unit; use " + units},
		{"10 secs", "invalid interval '10 secs': unknown unit 'secs'; use " + units},
		{"1 month", "invalid interval '1 month': MONTH intervals are not supported in streaming queries: use days, hours, minutes or seconds"},
		{"2 YEARS", "invalid interval '2 YEARS': YEAR intervals are not supported in streaming queries: use days, hours, minutes or seconds"},
		{"1.5 minutes", "invalid interval '1.5 minutes': '1.5 minutes' has a fractional part: only seconds may have one"},
		{"1.0000001 seconds", "invalid interval '1.0000001 seconds': '1.0000001 seconds' has more than 6 fractional digits: the finest unit is the microsecond"},
		{"1.2.3 seconds", "invalid interval '1.2.3 seconds': invalid interval value '1.2.3'"},
		{". seconds", "invalid interval '. seconds': expected a number but found '.'"},
		{"99999999999999999999 seconds", "invalid interval '99999999999999999999 seconds': out of range"},
		{"100000000 weeks", "invalid interval '100000000 weeks': out of range"},
		{"9223372036854775807 microseconds 1 microsecond", "invalid interval '9223372036854775807 microseconds 1 microsecond': out of range"},
		{"10 seconds and", "invalid interval '10 seconds and': expected a number but found 'and'"},
	}
	for _, c := range cases {
		_, err := ParseDuration(c.in)
		if err == nil || err.Error() != c.want {
			t.Errorf("ParseDuration(%q):\n got %v\nwant %s", c.in, err, c.want)
		}
	}
	if got, err := ParseDuration("9223372036854775807 microseconds"); err != nil || got != math.MaxInt64 {
		t.Errorf("largest interval: %d, %v", got, err)
	}
}
