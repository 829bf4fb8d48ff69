package laketest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
