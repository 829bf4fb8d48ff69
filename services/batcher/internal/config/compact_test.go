package config

import (
	"strings"
	"testing"
	"time"
)

func TestCompactCommandDefaultsEnvFlagsAndValidation(t *testing.T) {
	cfg, err := Parse([]string{"compact", "--lake", "file:///tmp/lake"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Command != CommandCompact || cfg.Compact != (Compact{TargetFileBytes: 128 << 20, MinFiles: 10, Grace: 30 * time.Second}) {
		t.Fatalf("compact defaults: %+v", cfg)
	}
	cfg, err = Parse([]string{"compact", "--lake", "file:///tmp/lake", "--min-files", "3"},
		envOf(map[string]string{"COMPACT_TARGET_FILE_BYTES": "1000", "COMPACT_MIN_FILES": "50", "COMPACT_GRACE": "1s"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Compact != (Compact{TargetFileBytes: 1000, MinFiles: 3, Grace: time.Second}) {
		t.Fatalf("env then flags: %+v", cfg.Compact)
	}
	_, err = Parse([]string{"compact", "--target-file-bytes", "0", "--min-files", "1", "--grace", "-1s"}, envOf(nil))
	if err == nil {
		t.Fatal("invalid compact settings accepted")
	}
	for _, want := range []string{"lake: required", "--target-file-bytes 0", "--min-files 1", "--grace -1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
	if _, err := Parse([]string{"compact", "--interval", "1m"}, envOf(map[string]string{"LAKE": "file:///x"})); err == nil {
		t.Error("compact accepted --interval, which it does not use")
	}
}
