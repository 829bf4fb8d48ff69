package config

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
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
	for _, o := range cfg.Options() {
		row := "| `--" + o.Flag + "` | `" + o.Env + "` | " + o.Default + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README has no row starting %q", row)
		}
	}
}

func TestHealthcheckURLFollowsHTTPAddr(t *testing.T) {
	h, err := ParseHealthcheck(nil, env(map[string]string{"HTTP_ADDR": ":9090"}), io.Discard)
	if err != nil || h.URL != "http://127.0.0.1:9090/readyz" {
		t.Fatalf("got %+v, %v", h, err)
	}
	h, err = ParseHealthcheck([]string{"--url", "http://x:1/readyz"}, env(nil), io.Discard)
	if err != nil || h.URL != "http://x:1/readyz" {
		t.Fatalf("got %+v, %v", h, err)
	}
}
