package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func parse(args []string, lookupEnv func(string) (string, bool)) (Config, error) {
	return Parse(args, lookupEnv, io.Discard)
}

func TestDefaultsThenEnvThenFlags(t *testing.T) {
	env := envOf(map[string]string{
		"LAKE": "s3://lake", "S3_ENDPOINT": "minio:9000", "S3_ACCESS_KEY": "admin", "S3_SECRET_KEY": "s3cret",
		"S3_USE_SSL": "true", "INTERVAL": "1m", "HTTP_ADDR": ":9999", "READ_CONCURRENCY": "3", "LOG_LEVEL": "debug",
	})
	cfg, err := parse(nil, env)
	if err != nil {
		t.Fatalf("env only: %v", err)
	}
	if cfg.Lake != "s3://lake" || cfg.S3.Endpoint != "minio:9000" || cfg.S3.AccessKey != "admin" || cfg.S3.SecretKey != "s3cret" ||
		!cfg.S3.UseSSL || cfg.Run.Interval != time.Minute || cfg.Run.HTTPAddr != ":9999" || cfg.Run.ReadConcurrency != 3 || cfg.LogLevel != slog.LevelDebug {
		t.Fatalf("env not applied: %+v", cfg)
	}

	cfg, err = parse([]string{"--lake", "file:///tmp/lake", "--interval", "0", "--http", ":8000", "--read-concurrency", "1", "--log-level", "warn"}, env)
	if err != nil {
		t.Fatalf("flags over env: %v", err)
	}
	if cfg.Lake != "file:///tmp/lake" || cfg.Run.Interval != 0 || cfg.Run.HTTPAddr != ":8000" || cfg.Run.ReadConcurrency != 1 || cfg.LogLevel != slog.LevelWarn {
		t.Fatalf("flags did not override env: %+v", cfg)
	}

	cfg, err = parse([]string{"--lake=file:///data/lake"}, envOf(nil))
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Command != CommandRun || cfg.Run.Interval != 0 || cfg.Run.HTTPAddr != ":8083" || cfg.Run.ReadConcurrency != 8 ||
		cfg.Run.AsOfVersion != -1 || !cfg.Run.AsOfTimestamp.IsZero() || !cfg.Run.SkipUnchanged {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	env := envOf(map[string]string{"S3_USE_SSL": "maybe", "INTERVAL": "soon"})
	_, err := parse([]string{"--lake", "s3://lake", "--read-concurrency", "0", "--http", "nonsense", "--interval", "-1s"}, env)
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"S3_USE_SSL", "INTERVAL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "read-concurrency", "interval -1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestLakeURLChecks(t *testing.T) {
	for url, want := range map[string]string{
		"":                   "lake: required",
		"file://relative/x":  "absolute path",
		"file:relative":      "absolute path",
		"s3:///prefix":       "missing bucket",
		"gs://bucket":        "unknown scheme",
		"file:///abs/lake":   "",
		"s3://lake/a/prefix": "S3_ENDPOINT",
	} {
		_, err := parse([]string{"--lake", url}, envOf(nil))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q rejected: %v", url, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want one mentioning %q", url, err, want)
		}
	}
}

func TestIntervalModeChecksHTTPAddrOnlyWhenServed(t *testing.T) {
	if _, err := parse([]string{"--lake", "file:///l", "--http", "bad"}, envOf(nil)); err != nil {
		t.Fatalf("one-shot mode does not serve HTTP, yet --http was checked: %v", err)
	}
	if _, err := parse([]string{"--lake", "file:///l", "--http", "bad", "--interval", "1m"}, envOf(nil)); err == nil {
		t.Fatal("interval mode accepted --http bad")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	cfg, err := parse([]string{"healthcheck"}, envOf(map[string]string{"HTTP_ADDR": ":9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Command != CommandHealthcheck || cfg.Healthcheck.URL != "http://127.0.0.1:9100/readyz" {
		t.Fatalf("healthcheck defaults: %+v", cfg)
	}
	cfg, err = parse([]string{"healthcheck", "--url", "http://batcher:8083/healthz"}, envOf(nil))
	if err != nil || cfg.Healthcheck.URL != "http://batcher:8083/healthz" {
		t.Fatalf("--url not applied: %+v %v", cfg, err)
	}
	if _, err := parse([]string{"healthcheck", "--url", "ftp://x"}, envOf(nil)); err == nil {
		t.Fatal("healthcheck accepted a non-http URL")
	}
	if _, err := parse([]string{"healthcheck"}, envOf(map[string]string{"HTTP_ADDR": ""})); err == nil {
		t.Fatal("HTTP_ADDR= (no server) without --url: nothing to probe, yet accepted")
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"optimize", "-h"}, {"vacuum", "--help"}, {"history", "-h"}, {"detail", "-h"}, {"healthcheck", "-h"}} {
		var out strings.Builder
		_, err := Parse(args, envOf(nil), &out)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%q: %v", args, err)
		}
		want := map[string]string{"-h": "-as-of-version", "optimize": "-min-files", "vacuum": "-dry-run", "history": "-limit", "detail": "-json", "healthcheck": "-url"}[args[0]]
		if !strings.Contains(out.String(), want) {
			t.Fatalf("%q: usage lacks %s:\n%s", args, want, out.String())
		}
	}
}

// A variable set to the empty string counts as set. Every variable of every
// command is in this table with what its empty value does, as
// docs/configuration.md says.
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
		"HTTP_ADDR":     is("the HTTP server off", func(c Config) bool { return c.Run.HTTPAddr == "" }),
		"S3_ENDPOINT":   is("no endpoint", func(c Config) bool { return c.S3.Endpoint == "" }),
		"S3_ACCESS_KEY": is("no access key", func(c Config) bool { return c.S3.AccessKey == "" }),
		"S3_SECRET_KEY": is("no secret key", func(c Config) bool { return c.S3.SecretKey == "" }),
		"S3_REGION":     is("no region", func(c Config) bool { return c.S3.Region == "" }),
		"LAKE":          wantError("lake: required"),
		"QUERY":         is("the seed's query", func(c Config) bool { return c.Run.Query == "" }),
	}
	for _, name := range []string{"INTERVAL", "READ_CONCURRENCY", "SKIP_UNCHANGED", "AS_OF_VERSION", "AS_OF_TIMESTAMP", "LOG_LEVEL", "S3_USE_SSL",
		"OPTIMIZE_TARGET_FILE_SIZE", "OPTIMIZE_MIN_FILES", "VACUUM_RETAIN"} {
		cases[name] = wantError(name + `=""`)
	}
	for _, cmd := range []Command{CommandRun, CommandOptimize, CommandVacuum, CommandHistory, CommandDetail} {
		c := Default()
		c.Command = cmd
		for _, v := range c.vars() {
			if v.Env == "" {
				continue
			}
			check, ok := cases[v.Env]
			if !ok {
				t.Errorf("%s %s= has no expectation here: say what an empty %s does", cmd, v.Env, v.Env)
				continue
			}
			var args []string
			if cmd != CommandRun {
				args = []string{string(cmd)}
			}
			env := map[string]string{"LAKE": "file:///l", "INTERVAL": "1m", v.Env: ""}
			if cmd != CommandRun {
				delete(env, "INTERVAL")
				env[v.Env] = ""
			}
			cfg, err := parse(args, envOf(env))
			if msg := check(cfg, err); msg != "" {
				t.Errorf("%s %s=: %s", cmd, v.Env, msg)
			}
		}
	}
	// In interval mode, HTTP_ADDR= runs without a server: no error.
	if cfg, err := parse(nil, envOf(map[string]string{"LAKE": "file:///l", "INTERVAL": "1m", "HTTP_ADDR": ""})); err != nil || cfg.Run.HTTPAddr != "" {
		t.Fatalf("INTERVAL=1m HTTP_ADDR=: %+v, %v", cfg, err)
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
// as "(required)", are skipped).
func TestDocumentedDefaultsAreTheDefaults(t *testing.T) {
	for _, cmd := range append([]Command{CommandRun}, Commands...) {
		want := Default()
		want.Command = cmd
		for i, v := range want.vars() {
			if strings.ContainsAny(v.Default, "( <") {
				continue
			}
			got := Default()
			got.Command = cmd
			if err := got.vars()[i].Value.Set(v.Default); err != nil {
				t.Errorf("%s %s: documented default %q does not parse: %v", cmd, v.Flag+v.Env, v.Default, err)
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: documented default %q is not the default", cmd, v.Flag+v.Env, v.Default)
			}
		}
	}
}

// Each command reads its own settings only: compose's INTERVAL does not
// reach `batcher optimize`, nor OPTIMIZE_* the run.
func TestCommandsReadTheirOwnSettings(t *testing.T) {
	for _, cmd := range []string{"optimize", "vacuum", "history", "detail"} {
		cfg, err := parse([]string{cmd}, envOf(map[string]string{"LAKE": "file:///l", "INTERVAL": "soon", "READ_CONCURRENCY": "x", "AS_OF_VERSION": "x"}))
		if err != nil || cfg.Run.Interval != 0 {
			t.Fatalf("%s read the run's variables: %+v, %v", cmd, cfg, err)
		}
	}
	cfg, err := parse(nil, envOf(map[string]string{"LAKE": "file:///l", "OPTIMIZE_MIN_FILES": "x", "VACUUM_RETAIN": "x"}))
	if err != nil || cfg.Optimize.MinFiles != 2 || cfg.Vacuum.Retain != nil {
		t.Fatalf("the run read optimize's or vacuum's variables: %+v, %v", cfg, err)
	}
	if _, err := parse([]string{"vacuum"}, envOf(map[string]string{"LAKE": "file:///l", "OPTIMIZE_MIN_FILES": "x"})); err != nil {
		t.Fatalf("vacuum read optimize's variables: %v", err)
	}
	if _, err := parse([]string{"healthcheck"}, envOf(map[string]string{"LAKE": "", "INTERVAL": "soon"})); err != nil {
		t.Fatalf("healthcheck read the run's variables: %v", err)
	}
}

func TestUnknownFlagAndExtraArgsRejected(t *testing.T) {
	if _, err := parse([]string{"--lake", "file:///l", "--nope"}, envOf(nil)); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := parse([]string{"--lake", "file:///l", "extra"}, envOf(nil)); err == nil {
		t.Fatal("stray argument accepted")
	}
}

func TestLogValueMasksSecret(t *testing.T) {
	cfg, err := parse([]string{"--lake", "s3://lake"}, envOf(map[string]string{
		"S3_ENDPOINT": "minio:9000", "S3_ACCESS_KEY": "admin", "S3_SECRET_KEY": "topsecret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := fmt.Sprint(cfg.LogValue().Resolve())
	if strings.Contains(s, "topsecret") || !strings.Contains(s, "****") || !strings.Contains(s, "s3://lake") {
		t.Fatalf("logged config %s", s)
	}
}
