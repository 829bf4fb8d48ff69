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
	if cfg.Command != CommandRun || cfg.Checkpoint != "file:///tmp/lake/_checkpoints/streamer" || cfg.DLQTopic != "eventos_sensores.dlq" ||
		cfg.HTTPAddr != ":8082" || cfg.Trigger != TriggerContinuous || cfg.LogLevel != slog.LevelInfo || !cfg.FailOnDataLoss {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = Parse([]string{"--trigger", "5s", "--dlq-topic", "d2", "--fail-on-data-loss", "--log-level", "warn"}, env(with(lakeEnv,
		"KAFKA_BROKERS", "k1:9092, k2:9092", "TRIGGER", "available-now", "DLQ_TOPIC", "d1", "MAX_OFFSETS_PER_TRIGGER", "300",
		"FAIL_ON_DATA_LOSS", "false", "S3_USE_SSL", "true", "LOG_LEVEL", "debug", "QUERY_FILE", "/q.sql")), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case !slices.Equal(cfg.Brokers, []string{"k1:9092", "k2:9092"}):
		t.Errorf("brokers %q", cfg.Brokers)
	case cfg.Trigger != TriggerInterval || cfg.TriggerInterval != 5*time.Second:
		t.Errorf("--trigger 5s over TRIGGER=available-now: %s %v", cfg.Trigger, cfg.TriggerInterval)
	case cfg.DLQTopic != "d2" || cfg.LogLevel != slog.LevelWarn || !cfg.FailOnDataLoss:
		t.Errorf("flags did not win: %+v", cfg)
	case cfg.MaxOffsetsPerTrigger != 300 || !cfg.S3.UseSSL || cfg.Query != "/q.sql":
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
		"QUERY_FILE":       is("the built-in seed query file", func(c Config) bool { return c.Query == "" }),
		"HTTP_ADDR":        is("the HTTP server off", func(c Config) bool { return c.HTTPAddr == "" }),
		"CHECKPOINT":       is("the checkpoint under the lake", func(c Config) bool { return c.Checkpoint == "file:///tmp/lake/_checkpoints/streamer" }),
		"S3_ENDPOINT":      is("no endpoint", func(c Config) bool { return c.S3.Endpoint == "" }),
		"S3_ACCESS_KEY":    is("no access key", func(c Config) bool { return c.S3.AccessKey == "" }),
		"S3_SECRET_KEY":    is("no secret key", func(c Config) bool { return c.S3.SecretKey == "" }),
		"S3_REGION":        is("no region", func(c Config) bool { return c.S3.Region == "" }),
		"GROUP":            is("no group: one streamer reads every partition", func(c Config) bool { return c.Group == "" }),
		"KAFKA_BROKERS":    wantError("--brokers: at least one"),
		"DLQ_TOPIC":        wantError("--dlq-topic: required"),
		"LAKE":             wantError("--lake (LAKE): required"),
		"STARTING_OFFSETS": wantError("--starting-offsets"),
	}
	for _, name := range []string{"TRIGGER", "MAX_OFFSETS_PER_TRIGGER", "FAIL_ON_DATA_LOSS", "LOG_LEVEL", "SHUTDOWN_TIMEOUT", "S3_USE_SSL", "GROUP_SESSION_TIMEOUT", "GROUP_IDLE_TIMEOUT"} {
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

// HTTP_ADDR= disables the HTTP server even where a flag could not: the
// value reaches the Config, and the lake and the rest still validate.
func TestAnEmptyVariableCountsAsSet(t *testing.T) {
	cfg, err := Parse(nil, env(with(lakeEnv, "HTTP_ADDR", "", "QUERY_FILE", "")), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "" || cfg.Query != "" {
		t.Fatalf("empty variables ignored: http %q query %q", cfg.HTTPAddr, cfg.Query)
	}
	// A flag still wins over the empty variable.
	cfg, err = Parse([]string{"--http", "127.0.0.1:9"}, env(with(lakeEnv, "HTTP_ADDR", "")), io.Discard)
	if err != nil || cfg.HTTPAddr != "127.0.0.1:9" {
		t.Fatalf("--http 127.0.0.1:9 over HTTP_ADDR=: %q, %v", cfg.HTTPAddr, err)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Parse([]string{"--starting-offsets", "middle", "--http", "nonsense", "--group", "g", "--group-session-timeout", "1s", "--trigger", "available-now"},
		env(map[string]string{"LAKE": "s3://lake", "SHUTDOWN_TIMEOUT": "soon", "MAX_OFFSETS_PER_TRIGGER": "-1"}), io.Discard)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{`SHUTDOWN_TIMEOUT="soon"`, "--starting-offsets", "--http", "S3_ENDPOINT", "--max-offsets-per-trigger -1", "--group-session-timeout 1s: want 6s to 5m", "available-now processes what one streamer finds at start, then exits: not with --group"} {
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

// `streamer front` reads its own two settings (the run's, such as GROUP,
// are not its own) and refuses replicas without a port.
func TestFrontCommand(t *testing.T) {
	cfg, err := Parse([]string{"front"}, env(map[string]string{"GROUP": "not read", "FRONT_REPLICAS": "replicas.lab:9100"}), io.Discard)
	if err != nil || cfg.Command != CommandFront || cfg.HTTPAddr != DefaultHTTPAddr || cfg.Front.Replicas != "replicas.lab:9100" {
		t.Fatalf("env: %+v, %v", cfg, err)
	}
	cfg, err = Parse([]string{"front", "--http", ":9000"}, env(nil), io.Discard)
	if err != nil || cfg.HTTPAddr != ":9000" || cfg.Front.Replicas != "streamer:8082" {
		t.Fatalf("default: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{{"front", "--replicas", "streamer"}, {"front", "--replicas", ":8082"}, {"front", "--http", ""}, {"front", "--group", "g"}} {
		if _, err := Parse(args, env(nil), io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	var out strings.Builder
	if _, err := Parse([]string{"-h"}, env(nil), &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"-dlq-topic", "DLQ_TOPIC", "-query", "env S3_ENDPOINT"} {
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

// The flags of the former built-in windowing path are refused, all in one
// message that says what the query file says in their place; the flags
// that remain keep working beside them. Their variables are refused too.
func TestRemovedFlagsSayTheQueryFileSaysThem(t *testing.T) {
	_, err := Parse([]string{"--window", "5s", "--console", "--alerts-topic=", "--trigger", "5s", "--dedup", "--dlq-topic", "dead"}, env(lakeEnv), io.Discard)
	if err == nil {
		t.Fatal("--window, --console, --alerts-topic and --dedup: accepted")
	}
	msg := err.Error()
	for _, s := range []string{"--window: no such flag any more; the query file says it: GROUP BY window(",
		"--console: no such flag any more; the query file says it: CREATE SINK", "--alerts-topic:",
		"--dedup: no such flag any more; not supported", "--query FILE", "queries/seed/streaming.sql"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not say %q", msg, s)
		}
	}
	for _, s := range []string{"--trigger", "--dlq-topic", "not defined", "unexpected arguments"} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q names %s, which is not a removed flag (or its value)", msg, s)
		}
	}
	// Their variables, set (even empty), are refused the same way, rather
	// than ignored: WINDOW=30s would otherwise run the seed's 10 seconds.
	_, err = Parse([]string{"--query", "q.sql"}, env(with(lakeEnv, "WINDOW", "30s", "LATE_TOPIC", "late", "ALERTS_TOPIC", "")), io.Discard)
	if err == nil {
		t.Fatal("WINDOW, LATE_TOPIC and ALERTS_TOPIC set: accepted")
	}
	for _, s := range []string{"WINDOW: no such variable any more (it was --window)", "LATE_TOPIC:", "late_topic = ", "ALERTS_TOPIC:", "unset it"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	cfg, err := Parse([]string{"--query", "q.sql", "--trigger", "available-now", "--max-offsets-per-trigger", "100"},
		env(lakeEnv), io.Discard)
	if err != nil {
		t.Fatalf("the flags that remain: %v", err)
	}
	if cfg.Query != "q.sql" || cfg.Trigger != TriggerAvailableNow || cfg.MaxOffsetsPerTrigger != 100 {
		t.Fatalf("parsed %+v", cfg)
	}
	// Past the flags (after "--"), a removed flag's name is an argument
	// like any other.
	if _, err := Parse([]string{"--trigger", "5s", "--", "--window"}, env(lakeEnv), io.Discard); err == nil ||
		strings.Contains(err.Error(), "no such flag") || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Fatalf("-- --window: %v, want the unexpected argument", err)
	}
}
