package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestDefaultsThenEnvThenFlags(t *testing.T) {
	env := envOf(map[string]string{
		"LAKE": "s3://lake", "S3_ENDPOINT": "minio:9000", "S3_ACCESS_KEY": "admin", "S3_SECRET_KEY": "s3cret",
		"S3_USE_SSL": "true", "INTERVAL": "1m", "HTTP_ADDR": ":9999", "READ_CONCURRENCY": "3", "LOG_LEVEL": "debug",
	})
	cfg, err := Parse(nil, env)
	if err != nil {
		t.Fatalf("env only: %v", err)
	}
	if cfg.Lake != "s3://lake" || cfg.S3.Endpoint != "minio:9000" || cfg.S3.AccessKey != "admin" || cfg.S3.SecretKey != "s3cret" ||
		!cfg.S3.UseSSL || cfg.Interval != time.Minute || cfg.HTTPAddr != ":9999" || cfg.ReadConcurrency != 3 || cfg.LogLevel != slog.LevelDebug {
		t.Fatalf("env not applied: %+v", cfg)
	}

	cfg, err = Parse([]string{"--lake", "file:///tmp/lake", "--interval", "0", "--http", ":8000", "--read-concurrency", "1", "--log-level", "warn"}, env)
	if err != nil {
		t.Fatalf("flags over env: %v", err)
	}
	if cfg.Lake != "file:///tmp/lake" || cfg.Interval != 0 || cfg.HTTPAddr != ":8000" || cfg.ReadConcurrency != 1 || cfg.LogLevel != slog.LevelWarn {
		t.Fatalf("flags did not override env: %+v", cfg)
	}

	cfg, err = Parse([]string{"--lake=file:///data/lake"}, envOf(nil))
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Command != CommandRun || cfg.Interval != 0 || cfg.HTTPAddr != ":8083" || cfg.ReadConcurrency != 8 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	env := envOf(map[string]string{"S3_USE_SSL": "maybe", "INTERVAL": "soon"})
	_, err := Parse([]string{"--lake", "s3://lake", "--read-concurrency", "0", "--http", "nonsense", "--interval", "-1s"}, env)
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
		_, err := Parse([]string{"--lake", url}, envOf(nil))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q rejected: %v", url, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want one mentioning %q", url, err, want)
		}
	}
}

func TestIntervalModeChecksHTTPAddrOnlyWhenServed(t *testing.T) {
	if _, err := Parse([]string{"--lake", "file:///l", "--http", "bad"}, envOf(nil)); err != nil {
		t.Fatalf("one-shot mode does not serve HTTP, yet --http was checked: %v", err)
	}
	if _, err := Parse([]string{"--lake", "file:///l", "--http", "bad", "--interval", "1m"}, envOf(nil)); err == nil {
		t.Fatal("interval mode accepted --http bad")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	cfg, err := Parse([]string{"healthcheck"}, envOf(map[string]string{"HTTP_ADDR": ":9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Command != CommandHealthcheck || cfg.HealthURL != "http://127.0.0.1:9100/readyz" {
		t.Fatalf("healthcheck defaults: %+v", cfg)
	}
	cfg, err = Parse([]string{"healthcheck", "--url", "http://batcher:8083/healthz"}, envOf(nil))
	if err != nil || cfg.HealthURL != "http://batcher:8083/healthz" {
		t.Fatalf("--url not applied: %+v %v", cfg, err)
	}
	if _, err := Parse([]string{"healthcheck", "--url", "ftp://x"}, envOf(nil)); err == nil {
		t.Fatal("healthcheck accepted a non-http URL")
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	_, err := Parse([]string{"-h"}, envOf(nil))
	if !errors.Is(err, flag.ErrHelp) || !strings.Contains(err.Error(), "-lake") {
		t.Fatalf("-h: %v", err)
	}
}

func TestUnknownFlagAndExtraArgsRejected(t *testing.T) {
	if _, err := Parse([]string{"--lake", "file:///l", "--nope"}, envOf(nil)); err == nil {
		t.Fatal("unknown flag accepted")
	}
	if _, err := Parse([]string{"--lake", "file:///l", "extra"}, envOf(nil)); err == nil {
		t.Fatal("stray argument accepted")
	}
}

func TestLogValueMasksSecret(t *testing.T) {
	cfg, err := Parse([]string{"--lake", "s3://lake"}, envOf(map[string]string{
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
