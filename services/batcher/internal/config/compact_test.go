package config

import (
	"strings"
	"testing"
	"time"
)

func TestCompactCommandDefaultsEnvFlagsAndValidation(t *testing.T) {
	cfg, err := parse([]string{"compact", "--lake", "file:///tmp/lake"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Command != CommandCompact || cfg.Compact != (Compact{TargetFileBytes: 128 << 20, MinFiles: 10, Grace: 30 * time.Second, LogCheckpointEvery: 100, LogRetention: true}) {
		t.Fatalf("compact defaults: %+v", cfg)
	}
	cfg, err = parse([]string{"compact", "--lake", "file:///tmp/lake", "--min-files", "3", "--log-checkpoint-every", "0"},
		envOf(map[string]string{"COMPACT_TARGET_FILE_BYTES": "1000", "COMPACT_MIN_FILES": "50", "COMPACT_GRACE": "1s", "COMPACT_LOG_CHECKPOINT_EVERY": "7", "COMPACT_LOG_RETENTION": "false"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Compact != (Compact{TargetFileBytes: 1000, MinFiles: 3, Grace: time.Second, LogCheckpointEvery: 0, LogRetention: false}) {
		t.Fatalf("env then flags: %+v", cfg.Compact)
	}
	cfg, err = parse([]string{"compact", "--lake", "file:///tmp/lake"}, envOf(map[string]string{"COMPACT_LOG_CHECKPOINT_EVERY": "7"}))
	if err != nil || cfg.Compact.LogCheckpointEvery != 7 {
		t.Fatalf("COMPACT_LOG_CHECKPOINT_EVERY=7: %+v, %v", cfg.Compact, err)
	}
	cfg, err = parse([]string{"compact", "--lake", "file:///tmp/lake", "--log-retention=false"}, envOf(map[string]string{"COMPACT_LOG_RETENTION": "true"}))
	if err != nil || cfg.Compact.LogRetention {
		t.Fatalf("--log-retention=false over COMPACT_LOG_RETENTION=true: %+v, %v", cfg.Compact, err)
	}
	if _, err := parse([]string{"compact", "--lake", "file:///tmp/lake"}, envOf(map[string]string{"COMPACT_LOG_RETENTION": "sometimes"})); err == nil || !strings.Contains(err.Error(), "COMPACT_LOG_RETENTION") {
		t.Fatalf("COMPACT_LOG_RETENTION=sometimes: %v", err)
	}
	_, err = parse([]string{"compact", "--target-file-bytes", "0", "--min-files", "1", "--grace", "-1s", "--log-checkpoint-every", "-1"}, envOf(nil))
	if err == nil {
		t.Fatal("invalid compact settings accepted")
	}
	for _, want := range []string{"lake: required", "--target-file-bytes 0", "--min-files 1", "--grace -1s", "--log-checkpoint-every -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
	if _, err := parse([]string{"compact", "--interval", "1m"}, envOf(map[string]string{"LAKE": "file:///x"})); err == nil {
		t.Error("compact accepted --interval, which it does not use")
	}
}
