package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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

// lakeEnv is the least a run needs.
var lakeEnv = map[string]string{"LAKE": "file:///tmp/lake"}

func with(base map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestDefaultsThenEnvThenFlags(t *testing.T) {
	cfg, err := Parse(nil, env(lakeEnv), io.Discard)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Command != CommandRun || cfg.Checkpoint != "file:///tmp/lake/_checkpoints/streamer" || cfg.AlertsTopic != "alertas_sensores" ||
		cfg.HTTPAddr != ":8082" || cfg.Trigger != TriggerContinuous || cfg.LogLevel != slog.LevelInfo || !cfg.FailOnDataLoss {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = Parse([]string{"--trigger", "5s", "--alerts-topic", "a2", "--dedup", "--log-level", "warn"}, env(with(lakeEnv,
		"KAFKA_BROKERS", "k1:9092, k2:9092", "TRIGGER", "available-now", "ALERTS_TOPIC", "a1", "WINDOW", "30s", "SLIDE", "10s",
		"FAIL_ON_DATA_LOSS", "false", "S3_USE_SSL", "true", "LOG_LEVEL", "debug", "ALERT_MAX_TEMP", "41")), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !slices.Equal(cfg.Brokers, []string{"k1:9092", "k2:9092"}):
		t.Errorf("brokers %q", cfg.Brokers)
	case cfg.Trigger != TriggerInterval || cfg.TriggerInterval != 5*time.Second:
		t.Errorf("--trigger 5s over TRIGGER=available-now: %s %v", cfg.Trigger, cfg.TriggerInterval)
	case cfg.AlertsTopic != "a2" || cfg.LogLevel != slog.LevelWarn || !cfg.Dedup:
		t.Errorf("flags did not win: %+v", cfg)
	case cfg.Window != 30*time.Second || cfg.Slide != 10*time.Second || cfg.FailOnDataLoss || !cfg.S3.UseSSL || cfg.AlertMaxTemp != 41:
		t.Errorf("environment not applied: %+v", cfg)
	}
}

// A variable set to the empty string counts as set. Every variable is in
// this table with what its empty value does, as docs/configuration.md says.
func TestEmptyVariables(t *testing.T) {
	is := func(what string, ok func(Config) bool) func(Config, error) string {
		return func(c Config, err error) string {
			if err != nil || !ok(c) {
				return fmt.Sprintf("want %s, got %+v, %v", what, c, err)
			}
			return ""
		}
	}
	cases := map[string]func(Config, error) string{
		"QUERY_FILE":         is("the built-in windowing", func(c Config) bool { return c.Query == "" }),
		"ALERTS_TOPIC":       is("alerts off", func(c Config) bool { return c.AlertsTopic == "" }),
		"LATE_TOPIC":         is("no late topic", func(c Config) bool { return c.LateTopic == "" }),
		"WINDOWS_TOPIC":      is("no windows topic", func(c Config) bool { return c.WindowsTopic == "" }),
		"HTTP_ADDR":          is("the HTTP server off", func(c Config) bool { return c.HTTPAddr == "" }),
		"CHECKPOINT":         is("the checkpoint under the lake", func(c Config) bool { return c.Checkpoint == "file:///tmp/lake/_checkpoints/streamer" }),
		"S3_ENDPOINT":        is("no endpoint", func(c Config) bool { return c.S3.Endpoint == "" }),
		"S3_ACCESS_KEY":      is("no access key", func(c Config) bool { return c.S3.AccessKey == "" }),
		"S3_SECRET_KEY":      is("no secret key", func(c Config) bool { return c.S3.SecretKey == "" }),
		"S3_REGION":          is("no region", func(c Config) bool { return c.S3.Region == "" }),
		"KAFKA_BROKERS":      wantError("--brokers: at least one"),
		"TOPIC":              wantError("--topic: required"),
		"DLQ_TOPIC":          wantError("--dlq-topic"),
		"LAKE":               wantError("--lake (LAKE): required"),
		"STARTING_OFFSETS":   wantError("--starting-offsets"),
		"OUTPUT_MODE":        wantError("--output-mode"),
		"CONSOLE_MODE":       wantError("--console-mode"),
		"WINDOWS_TOPIC_MODE": wantError("--windows-topic-mode"),
	}
	for _, name := range []string{"WINDOW", "WATERMARK", "SLIDE", "SESSION_GAP", "DEDUP", "SILENCE_TIMEOUT", "TRIGGER",
		"MAX_OFFSETS_PER_TRIGGER", "FAIL_ON_DATA_LOSS", "CONSOLE", "ALERT_MAX_TEMP", "LOG_LEVEL", "SHUTDOWN_TIMEOUT", "S3_USE_SSL"} {
		cases[name] = wantError(name + `=""`)
	}
	def := Default()
	for _, v := range def.vars() {
		check, ok := cases[v.Env]
		if !ok {
			t.Errorf("%s= has no expectation here: say what an empty %s does", v.Env, v.Env)
			continue
		}
		cfg, err := Parse(nil, env(with(lakeEnv, v.Env, "")), io.Discard)
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

// ALERTS_TOPIC= disables alerts even where a flag could not: the value
// reaches the Config, and the lake and the rest still validate.
func TestEmptyAlertsTopicDisablesAlerts(t *testing.T) {
	cfg, err := Parse(nil, env(with(lakeEnv, "ALERTS_TOPIC", "", "LATE_TOPIC", "", "WINDOWS_TOPIC", "", "HTTP_ADDR", "")), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AlertsTopic != "" || cfg.LateTopic != "" || cfg.WindowsTopic != "" || cfg.HTTPAddr != "" {
		t.Fatalf("empty variables ignored: alerts %q late %q windows %q http %q", cfg.AlertsTopic, cfg.LateTopic, cfg.WindowsTopic, cfg.HTTPAddr)
	}
	// A flag still wins over the empty variable.
	cfg, err = Parse([]string{"--alerts-topic", "a"}, env(with(lakeEnv, "ALERTS_TOPIC", "")), io.Discard)
	if err != nil || cfg.AlertsTopic != "a" {
		t.Fatalf("--alerts-topic a over ALERTS_TOPIC=: %q, %v", cfg.AlertsTopic, err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Parse([]string{"--window", "7s", "--slide", "2s", "--output-mode", "update", "--http", "nonsense"},
		env(map[string]string{"LAKE": "s3://lake", "WATERMARK": "soon", "MAX_OFFSETS_PER_TRIGGER": "-1"}), io.Discard)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{`WATERMARK="soon"`, "--slide 2s", "--output-mode", "--http", "S3_ENDPOINT", "--max-offsets-per-trigger -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestTriggerValues(t *testing.T) {
	for _, tc := range []struct {
		in       string
		kind     string
		interval time.Duration
	}{{"0", TriggerContinuous, 0}, {"0s", TriggerContinuous, 0}, {"5s", TriggerInterval, 5 * time.Second},
		{"available-now", TriggerAvailableNow, 0}, {"availableNow", TriggerAvailableNow, 0}} {
		cfg, err := Parse([]string{"--trigger", tc.in}, env(lakeEnv), io.Discard)
		if err != nil || cfg.Trigger != tc.kind || cfg.TriggerInterval != tc.interval {
			t.Errorf("--trigger %s: %s %v, %v", tc.in, cfg.Trigger, cfg.TriggerInterval, err)
		}
	}
	for _, bad := range []string{"", "-1s", "soon"} {
		if _, err := Parse([]string{"--trigger", bad}, env(lakeEnv), io.Discard); err == nil {
			t.Errorf("--trigger %q accepted", bad)
		}
	}
}

func TestHealthcheckCommand(t *testing.T) {
	cfg, err := Parse([]string{"healthcheck"}, env(map[string]string{"HTTP_ADDR": "0.0.0.0:9100", "WINDOW": "not read"}), io.Discard)
	if err != nil || cfg.Command != CommandHealthcheck || cfg.Healthcheck.URL != "http://127.0.0.1:9100/readyz" || cfg.Healthcheck.Timeout != 3*time.Second {
		t.Fatalf("got %+v, %v", cfg.Healthcheck, err)
	}
	cfg, err = Parse([]string{"healthcheck"}, env(nil), io.Discard)
	if err != nil || cfg.Healthcheck.URL != "http://127.0.0.1:8082/readyz" {
		t.Fatalf("default: %+v, %v", cfg.Healthcheck, err)
	}
	cfg, err = Parse([]string{"healthcheck", "--url", "http://streamer:8082/healthz", "--timeout", "1s"}, env(nil), io.Discard)
	if err != nil || cfg.Healthcheck.URL != "http://streamer:8082/healthz" || cfg.Healthcheck.Timeout != time.Second {
		t.Fatalf("flags: %+v, %v", cfg.Healthcheck, err)
	}
	if _, err := Parse([]string{"healthcheck"}, env(map[string]string{"HTTP_ADDR": ""}), io.Discard); err == nil {
		t.Fatal("HTTP_ADDR= (no server) without --url: nothing to probe, yet accepted")
	}
	if _, err := Parse([]string{"healthcheck", "--url", "ftp://x"}, env(nil), io.Discard); err == nil {
		t.Fatal("a non-http URL accepted")
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	var out strings.Builder
	if _, err := Parse([]string{"-h"}, env(nil), &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-alerts-topic", "ALERTS_TOPIC", "env S3_ENDPOINT"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %s:\n%s", want, out.String())
		}
	}
}

// The documented defaults are the defaults: setting each option to its
// documented default changes nothing (defaults that are descriptions, such
// as "(required)", are skipped).
func TestDocumentedDefaultsAreTheDefaults(t *testing.T) {
	want := Default()
	for i, v := range want.vars() {
		if strings.ContainsAny(v.Default, "( <") {
			continue
		}
		got := Default()
		var bound envflag.Var = got.vars()[i]
		if err := bound.Value.Set(v.Default); err != nil {
			t.Errorf("%s: documented default %q does not parse: %v", v.Env, v.Default, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: documented default %q is not the default", v.Env, v.Default)
		}
	}
}

// With --query, the flags the query file says are refused, all in one
// message; those it does not say keep working, and defaults are not
// "given".
func TestQueryModeRefusesSpecialisedFlags(t *testing.T) {
	env := map[string]string{"LAKE": "file:///lake", "WINDOW": "5s"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	_, err := Parse([]string{"--query", "q.sql", "--console", "--alerts-topic=", "--trigger", "5s", "--dlq-topic", "dead"}, lookup, io.Discard)
	if err == nil {
		t.Fatal("--query with --console, --alerts-topic and WINDOW: accepted")
	}
	msg := err.Error()
	for _, s := range []string{"--window", "--console", "--alerts-topic", "they are said by the query file in query mode"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not name %q", msg, s)
		}
	}
	for _, s := range []string{"--trigger", "--dlq-topic", "--watermark"} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q names %s, which query mode keeps (or which was not given)", msg, s)
		}
	}
	cfg, err := Parse([]string{"--query", "q.sql", "--trigger", "available-now", "--max-offsets-per-trigger", "100"},
		func(k string) (string, bool) { return map[string]string{"LAKE": "file:///lake"}[k], k == "LAKE" }, io.Discard)
	if err != nil {
		t.Fatalf("--query with the flags it keeps: %v", err)
	}
	if cfg.Query != "q.sql" || cfg.Trigger != TriggerAvailableNow || cfg.MaxOffsetsPerTrigger != 100 {
		t.Fatalf("parsed %+v", cfg)
	}
	if _, err := Parse([]string{"--window", "5s", "--console"}, func(k string) (string, bool) {
		return map[string]string{"LAKE": "file:///lake"}[k], k == "LAKE"
	}, io.Discard); err != nil {
		t.Fatalf("the specialised flags without --query: %v", err)
	}
}
