package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/envflag"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestDefaultsMatchTheSeed(t *testing.T) {
	cfg, err := Parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if cfg.Topic != "eventos_sensores" || cfg.Partitions != 3 || cfg.Sensors != 20 || cfg.Step != 200*time.Millisecond ||
		cfg.Rate != 5 || cfg.HTTPAddr != ":8081" || !slices.Equal(cfg.Brokers, []string{"localhost:9092"}) ||
		!cfg.StartTime.IsZero() || cfg.SeedSet || cfg.Count != 0 {
		t.Fatalf("unexpected defaults %+v", cfg)
	}
}

func TestFlagsOverrideEnvOverrideDefaults(t *testing.T) {
	cfg, err := Parse(
		[]string{"--rate", "0", "--count=5000", "--seed", "0", "--start-time", "2024-11-21T14:40:00Z", "--http", ""},
		env(map[string]string{
			"KAFKA_BROKERS": "kafka:29092, other:9092", "RATE": "100", "SENSORS": "5", "TOPIC": "t",
			"STEP": "1s", "INVALID_FRACTION": "0.25", "LOG_LEVEL": "debug", "HTTP_ADDR": ":9000",
		}),
		io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 11, 21, 14, 40, 0, 0, time.UTC)
	switch {
	case !slices.Equal(cfg.Brokers, []string{"kafka:29092", "other:9092"}):
		t.Errorf("brokers %q", cfg.Brokers)
	case cfg.Rate != 0:
		t.Errorf("flag --rate 0 did not override RATE=100: %v", cfg.Rate)
	case cfg.Count != 5000 || cfg.Sensors != 5 || cfg.Topic != "t" || cfg.Step != time.Second || cfg.InvalidFraction != 0.25:
		t.Errorf("env or flags not applied: %+v", cfg)
	case !cfg.SeedSet || cfg.Seed != 0:
		t.Errorf("--seed 0 is a seed: set=%v seed=%d", cfg.SeedSet, cfg.Seed)
	case !cfg.StartTime.Equal(want):
		t.Errorf("start time %v, want %v", cfg.StartTime, want)
	case cfg.HTTPAddr != "":
		t.Errorf("--http '' must disable the server, got %q", cfg.HTTPAddr)
	case cfg.LogLevel != slog.LevelDebug:
		t.Errorf("log level %v", cfg.LogLevel)
	}
}

func TestStartTimeAcceptsEpochMillis(t *testing.T) {
	cfg, err := Parse([]string{"--start-time", "1732200000123"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.StartTime.UnixMilli(); got != 1732200000123 {
		t.Fatalf("start time %d ms", got)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Parse([]string{
		"--rate", "-1", "--sensors", "1000", "--late-fraction", "1.5", "--duplicate-fraction", "-0.1",
		"--invalid-fraction", "2", "--step", "0", "--count", "-3", "--brokers", "nohostport",
		"--progress", "0", "--max-buffered-records", "0", "--start-time", "1732200000",
	}, env(map[string]string{"TOPIC": ""}), io.Discard)
	if err == nil {
		t.Fatal("accepted an invalid configuration")
	}
	for _, want := range []string{"rate", "sensors", "late-fraction", "duplicate-fraction", "invalid-fraction",
		"step", "count", "brokers", "progress", "max-buffered-records", "topic", "start-time"} {
		if !strings.Contains(err.Error(), want+":") {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if _, err := Parse([]string{"--sensors", "0"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "sensors") {
		t.Errorf("sensors 0 accepted: %v", err)
	}
}

func TestBackfillNeedsTheWallClockOrigin(t *testing.T) {
	if _, err := Parse([]string{"--backfill", "2m"}, env(nil), io.Discard); err != nil {
		t.Fatalf("--backfill 2m rejected: %v", err)
	}
	_, err := Parse([]string{"--backfill", "2m", "--start-time", "2024-11-21T14:40:00Z"}, env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "backfill") {
		t.Fatalf("--backfill with --start-time accepted: %v", err)
	}
}

func TestEnvParseErrorsAreAllReported(t *testing.T) {
	_, err := Parse(nil, env(map[string]string{"RATE": "fast", "STEP": "soon", "SEED": "-1"}), io.Discard)
	for _, want := range []string{"RATE", "STEP", "SEED"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	var out strings.Builder
	_, err := Parse([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h returned %v", err)
	}
	if !strings.Contains(out.String(), "-duplicate-fraction") || !strings.Contains(out.String(), "DUPLICATE_FRACTION") {
		t.Fatalf("usage lacks flags or env names:\n%s", out.String())
	}
}

// The README's config table is the user's reference: it must list every option.
func TestReadmeListsEveryOption(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	for _, o := range cfg.vars() {
		row := "| `--" + o.Flag + "` | `" + o.Env + "` | " + o.Default + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README has no row starting %q", row)
		}
	}
}

func TestHealthcheckURLFollowsHTTPAddr(t *testing.T) {
	cfg, err := Parse([]string{"healthcheck"}, env(map[string]string{"HTTP_ADDR": ":9090", "RATE": "not read"}), io.Discard)
	if err != nil || cfg.Command != CommandHealthcheck || cfg.Healthcheck.URL != "http://127.0.0.1:9090/readyz" || cfg.Healthcheck.Timeout != 3*time.Second {
		t.Fatalf("got %+v, %v", cfg, err)
	}
	cfg, err = Parse([]string{"healthcheck"}, env(nil), io.Discard)
	if err != nil || cfg.Healthcheck.URL != "http://127.0.0.1:8081/readyz" {
		t.Fatalf("default: got %+v, %v", cfg.Healthcheck, err)
	}
	cfg, err = Parse([]string{"healthcheck", "--url", "http://x:1/readyz", "--timeout", "1s"}, env(nil), io.Discard)
	if err != nil || cfg.Healthcheck.URL != "http://x:1/readyz" || cfg.Healthcheck.Timeout != time.Second {
		t.Fatalf("flags: got %+v, %v", cfg.Healthcheck, err)
	}
	// HTTP_ADDR= turns the server off: there is nothing to probe unless --url says where.
	if _, err := Parse([]string{"healthcheck"}, env(map[string]string{"HTTP_ADDR": ""}), io.Discard); err == nil || !strings.Contains(err.Error(), "healthcheck url") {
		t.Fatalf("HTTP_ADDR= without --url: %v", err)
	}
	if _, err := Parse([]string{"healthcheck", "--url", "ftp://x", "--timeout", "0s"}, env(nil), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "healthcheck url") || !strings.Contains(err.Error(), "healthcheck timeout") {
		t.Fatalf("bad --url and --timeout: %v", err)
	}
	if _, err := Parse([]string{"healthcheck", "--rate", "1"}, env(nil), io.Discard); err == nil {
		t.Fatal("healthcheck accepted a flag of the run")
	}
}

// A variable set to the empty string counts as set. Every variable is in
// this table with what its empty value does, as docs/configuration.md says.
func TestEmptyVariables(t *testing.T) {
	def := Default()
	cases := map[string]func(Config, error) string{
		"HTTP_ADDR": func(c Config, err error) string { // disables the HTTP server
			if err != nil || c.HTTPAddr != "" {
				return fmt.Sprintf("want the server off, got %q, %v", c.HTTPAddr, err)
			}
			return ""
		},
		"SEED": func(c Config, err error) string { // a random seed, as unset
			if err != nil || c.SeedSet {
				return fmt.Sprintf("want a random seed, got set=%v, %v", c.SeedSet, err)
			}
			return ""
		},
		"START_TIME": func(c Config, err error) string { // now, as unset
			if err != nil || !c.StartTime.IsZero() {
				return fmt.Sprintf("want now, got %v, %v", c.StartTime, err)
			}
			return ""
		},
		"KAFKA_BROKERS": wantError("brokers: at least one"),
		"TOPIC":         wantError("topic: must not be empty"),
	}
	for _, name := range []string{"PARTITIONS", "RATE", "COUNT", "SENSORS", "STEP", "BACKFILL", "LATE_FRACTION", "LATE_BY",
		"DUPLICATE_FRACTION", "INVALID_FRACTION", "PROGRESS", "MAX_BUFFERED_RECORDS", "SHUTDOWN_TIMEOUT", "LOG_LEVEL", "KEY_BY_SENSOR"} {
		cases[name] = wantError(name + `=""`)
	}
	for _, v := range def.vars() {
		check, ok := cases[v.Env]
		if !ok {
			t.Errorf("%s= has no expectation here: say what an empty %s does", v.Env, v.Env)
			continue
		}
		cfg, err := Parse(nil, env(map[string]string{v.Env: ""}), io.Discard)
		if msg := check(cfg, err); msg != "" {
			t.Errorf("%s=: %s", v.Env, msg)
		}
	}
}

func wantError(substr string) func(Config, error) string {
	return func(_ Config, err error) string {
		if err == nil || !strings.Contains(err.Error(), substr) {
			return fmt.Sprintf("want an error mentioning %q, got %v", substr, err)
		}
		return ""
	}
}

// The documented defaults are the defaults: setting each option to its
// documented default changes nothing (defaults that are descriptions, such
// as "random (logged)", are skipped).
func TestDocumentedDefaultsAreTheDefaults(t *testing.T) {
	want := Default()
	for _, v := range want.vars() {
		if strings.ContainsAny(v.Default, "( <") {
			continue
		}
		got := Default()
		if err := got.varNamed(t, v.Flag).Value.Set(v.Default); err != nil {
			t.Errorf("--%s: documented default %q does not parse: %v", v.Flag, v.Default, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("--%s: documented default %q is not the default", v.Flag, v.Default)
		}
	}
}

func (c *Config) varNamed(t *testing.T, flag string) envflag.Var {
	for _, v := range c.vars() {
		if v.Flag == flag {
			return v
		}
	}
	t.Fatalf("no --%s", flag)
	return envflag.Var{}
}
