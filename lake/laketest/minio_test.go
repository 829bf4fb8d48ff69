package laketest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFindMinIOOrder(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)
	t.Setenv("PATH", t.TempDir()) // no minio in PATH
	t.Setenv(EnvMinIOBin, "")

	_, err := FindMinIO()
	if err == nil || !strings.Contains(err.Error(), "go install github.com/minio/minio@"+MinIOVersion) || !strings.Contains(err.Error(), EnvMinIOBin) {
		t.Fatalf("FindMinIO without a binary = %v; want an error saying how to build one or set %s", err, EnvMinIOBin)
	}

	cached := filepath.Join(cache, "sensorlab", "minio", MinIOVersion, "minio")
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cached, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindMinIO(); err != nil || got != cached {
		t.Fatalf("FindMinIO = %q, %v; want the cached binary %q", got, err, cached)
	}

	t.Setenv(EnvMinIOBin, filepath.Join(cache, "nope"))
	if _, err := FindMinIO(); err == nil || !strings.Contains(err.Error(), EnvMinIOBin) {
		t.Fatalf("FindMinIO with %s pointing nowhere = %v; want an error naming the variable", EnvMinIOBin, err)
	}
	t.Setenv(EnvMinIOBin, cached)
	if got, err := FindMinIO(); err != nil || got != cached {
		t.Fatalf("FindMinIO with %s set = %q, %v", EnvMinIOBin, got, err)
	}
}

// A stopped server refuses requests; restarted on the same address it
// serves the objects written before the stop, with the same credentials.
func TestMinIOStopRestartKeepsData(t *testing.T) {
	m := StartMinIO(t)
	st := m.Bucket(t, "lake")
	ctx := context.Background()
	if err := st.Put(ctx, "k", []byte("before the outage")); err != nil {
		t.Fatal(err)
	}
	endpoint := m.Endpoint
	m.Stop(t)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := st.Ping(pctx); err == nil {
		t.Fatal("Ping succeeded while the server was stopped")
	}
	m.Restart(t)
	if m.Endpoint != endpoint {
		t.Fatalf("restarted on %s, was %s", m.Endpoint, endpoint)
	}
	got, err := st.Get(ctx, "k")
	if err != nil || string(got) != "before the outage" {
		t.Fatalf("after restart Get = %q, %v; want the object written before the stop", got, err)
	}
}
