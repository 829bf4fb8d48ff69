package envflag

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

type settings struct {
	topic   string
	brokers []string
	n       int
	n64     int64
	f       float64
	d       time.Duration
	b       bool
	level   slog.Level
	secret  string
	url     string
}

func defaults() settings {
	return settings{topic: "alerts", brokers: []string{"localhost:9092"}, n: 8, n64: 9, f: 39.5,
		d: time.Second, b: true, level: slog.LevelInfo, url: "http://x/readyz"}
}

func (s *settings) vars() []Var {
	return []Var{
		{Flag: "topic", Env: "TOPIC", Default: "alerts", Usage: "topic; empty disables", Value: String(&s.topic)},
		{Flag: "brokers", Env: "BROKERS", Default: "localhost:9092", Usage: "brokers", Value: List(&s.brokers)},
		{Flag: "n", Env: "N", Default: "8", Usage: "n", Value: Int(&s.n)},
		{Flag: "n64", Env: "N64", Default: "9", Usage: "n64", Value: Int64(&s.n64)},
		{Flag: "f", Env: "F", Default: "39.5", Usage: "f", Value: Float64(&s.f)},
		{Flag: "d", Env: "D", Default: "1s", Usage: "d", Value: Duration(&s.d)},
		{Flag: "b", Env: "B", Default: "true", Usage: "b", Value: Bool(&s.b)},
		{Flag: "log-level", Env: "LOG_LEVEL", Default: "info", Usage: "level", Value: Level(&s.level)},
		{Env: "SECRET", Usage: "environment only", Value: String(&s.secret)},
		{Flag: "url", Default: "http://x/readyz", Usage: "flag only", Value: String(&s.url)},
	}
}

func parse(args []string, kv map[string]string) (settings, error) {
	s := defaults()
	err := Parse("test", s.vars(), args, env(kv), io.Discard)
	return s, err
}

// A variable set to the empty string is the flag given the empty string:
// an empty String or List, an error for anything that must be parsed.
func TestSetButEmptyIsTheEmptyValue(t *testing.T) {
	for _, tc := range []struct {
		env     string
		check   func(settings) bool
		wantErr bool
	}{
		{env: "TOPIC", check: func(s settings) bool { return s.topic == "" }},
		{env: "BROKERS", check: func(s settings) bool { return len(s.brokers) == 0 }},
		{env: "SECRET", check: func(s settings) bool { return s.secret == "" }},
		{env: "N", wantErr: true},
		{env: "N64", wantErr: true},
		{env: "F", wantErr: true},
		{env: "D", wantErr: true},
		{env: "B", wantErr: true},
		{env: "LOG_LEVEL", wantErr: true},
	} {
		t.Run(tc.env, func(t *testing.T) {
			kv := map[string]string{tc.env: ""}
			if tc.env == "SECRET" {
				kv = map[string]string{"SECRET": "s3cret"}
				s, err := parse(nil, kv)
				if err != nil || s.secret != "s3cret" {
					t.Fatalf("SECRET=s3cret: %q, %v", s.secret, err)
				}
				kv = map[string]string{"SECRET": ""}
			}
			s, err := parse(nil, kv)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.env+`=""`) {
					t.Fatalf("%s= accepted or not named in the error: %v", tc.env, err)
				}
				return
			}
			if err != nil || !tc.check(s) {
				t.Fatalf("%s=: settings %+v, err %v", tc.env, s, err)
			}
		})
	}
	// Unset leaves every default.
	if s, err := parse(nil, nil); err != nil || !equal(s, defaults()) {
		t.Fatalf("nothing set: %+v, %v", s, err)
	}
}

func TestFlagsWinOverEnvironmentOverDefaults(t *testing.T) {
	s, err := parse([]string{"--n", "3", "-b=false", "--topic="},
		map[string]string{"N": "5", "N64": "6", "TOPIC": "t", "D": "1m30s", "F": " 1.5 ", "BROKERS": " a:1, ,b:2 ", "LOG_LEVEL": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.n, want.n64, want.topic, want.d, want.f, want.b, want.level = 3, 6, "", 90*time.Second, 1.5, false, slog.LevelDebug
	want.brokers = []string{"a:1", "b:2"}
	if !equal(s, want) {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	if s, err := parse([]string{"--b"}, map[string]string{"B": "false"}); err != nil || !s.b {
		t.Fatalf("--b without a value over B=false: %v, %v", s.b, err)
	}
}

func TestEveryBadVariableIsReported(t *testing.T) {
	_, err := parse([]string{"--d", "1s"}, map[string]string{"N": "eight", "D": "soon", "B": "maybe", "LOG_LEVEL": "loud"})
	if err == nil {
		t.Fatal("bad variables accepted")
	}
	// D is reported although the flag replaces it: the environment is wrong.
	for _, want := range []string{`N="eight"`, `D="soon"`, `B="maybe"`, `LOG_LEVEL="loud"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %s:\n%v", want, err)
		}
	}
	_, err = parse([]string{"--n", "x"}, map[string]string{"F": "y"})
	if err == nil || !strings.Contains(err.Error(), "-n") || !strings.Contains(err.Error(), `F="y"`) {
		t.Fatalf("a bad flag and a bad variable: %v", err)
	}
}

func TestEnvironmentOnlyAndFlagOnly(t *testing.T) {
	if _, err := parse([]string{"--secret", "x"}, nil); err == nil {
		t.Fatal("an environment-only setting was accepted as a flag")
	}
	s, err := parse([]string{"--url", "http://y/readyz"}, map[string]string{"URL": "http://z"})
	if err != nil || s.url != "http://y/readyz" {
		t.Fatalf("flag-only --url: %q, %v", s.url, err)
	}
	if s, _ := parse(nil, map[string]string{"URL": "http://z"}); s.url != "http://x/readyz" {
		t.Fatalf("a flag-only setting read the environment: %q", s.url)
	}
}

func TestStrayArgumentsAreAnError(t *testing.T) {
	if _, err := parse([]string{"--n", "1", "extra"}, nil); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("stray argument: %v", err)
	}
	if _, err := parse([]string{"--nope"}, nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown flag: %v", err)
	}
}

func TestHelpPrintsEveryFlagAndVariable(t *testing.T) {
	var out strings.Builder
	s := defaults()
	err := Parse("test", s.vars(), []string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-topic\n", "topic; empty disables (env TOPIC, default alerts)", "-url\n", "flag only (default http://x/readyz)",
		"env SECRET\n", "environment only\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
}

// Func hands the text to the caller's parser, empty included.
func TestFunc(t *testing.T) {
	var got []string
	v := Func(func(s string) error {
		if s == "bad" {
			return errors.New("want good")
		}
		got = append(got, s)
		return nil
	}, func() string { return strings.Join(got, "|") })
	err := Parse("test", []Var{{Flag: "x", Env: "X", Value: v}}, []string{"--x", "flag"}, env(map[string]string{"X": ""}), io.Discard)
	if err != nil || v.String() != "|flag" {
		t.Fatalf("got %q, %v", v.String(), err)
	}
	err = Parse("test", []Var{{Flag: "x", Env: "X", Value: v}}, nil, env(map[string]string{"X": "bad"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), `X="bad": want good`) {
		t.Fatalf("X=bad: %v", err)
	}
}

func equal(a, b settings) bool {
	return a.topic == b.topic && slices.Equal(a.brokers, b.brokers) && a.n == b.n && a.n64 == b.n64 && a.f == b.f &&
		a.d == b.d && a.b == b.b && a.level == b.level && a.secret == b.secret && a.url == b.url
}
