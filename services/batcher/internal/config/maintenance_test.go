package config

import (
	"strings"
	"testing"
	"time"
)

func TestTimeTravelSettings(t *testing.T) {
	cfg, err := parse([]string{"--lake", "file:///l", "--as-of-version", "12"}, envOf(nil))
	if err != nil || cfg.Run.AsOfVersion != 12 || !cfg.Run.AsOfTimestamp.IsZero() {
		t.Fatalf("--as-of-version 12: %+v, %v", cfg.Run, err)
	}
	for in, want := range map[string]time.Time{
		"2024-11-21T10:30:00Z":           time.Date(2024, 11, 21, 10, 30, 0, 0, time.UTC),
		"2024-11-21T11:30:00.5+01:00":    time.Date(2024, 11, 21, 10, 30, 0, 500e6, time.UTC),
		"2024-11-21":                     time.Date(2024, 11, 21, 0, 0, 0, 0, time.UTC),
		"2024-11-21T10:30:00.123456789Z": time.Date(2024, 11, 21, 10, 30, 0, 123456789, time.UTC),
	} {
		cfg, err := parse([]string{"--lake", "file:///l"}, envOf(map[string]string{"AS_OF_TIMESTAMP": in}))
		if err != nil || !cfg.Run.AsOfTimestamp.Equal(want) || cfg.Run.AsOfVersion != -1 {
			t.Errorf("AS_OF_TIMESTAMP=%s: %v (%v), want %v", in, cfg.Run.AsOfTimestamp, err, want)
		}
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"negative version": {[]string{"--as-of-version", "-1"}, nil, "as-of-version"},
		"not a version":    {nil, map[string]string{"AS_OF_VERSION": "latest"}, "AS_OF_VERSION"},
		"not a time":       {[]string{"--as-of-timestamp", "yesterday"}, nil, "RFC 3339"},
		"both":             {[]string{"--as-of-version", "1", "--as-of-timestamp", "2024-11-21"}, nil, "not both"},
		"with interval":    {[]string{"--as-of-version", "1", "--interval", "1m"}, nil, "run it once"},
	} {
		_, err := parse(append([]string{"--lake", "file:///l"}, tc.args...), envOf(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
	cfg, err = parse([]string{"--lake", "file:///l", "--interval", "1m", "--skip-unchanged=false"}, envOf(map[string]string{"SKIP_UNCHANGED": "true"}))
	if err != nil || cfg.Run.SkipUnchanged {
		t.Fatalf("--skip-unchanged=false over SKIP_UNCHANGED=true: %+v, %v", cfg.Run, err)
	}
}

func TestOptimizeSettings(t *testing.T) {
	cfg, err := parse([]string{"optimize", "--lake", "file:///l"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Command != CommandOptimize || cfg.Table != "stream" || cfg.Optimize != (Optimize{TargetFileSize: 128 << 20, MinFiles: 2}) {
		t.Fatalf("optimize defaults: %+v", cfg)
	}
	cfg, err = parse([]string{"optimize", "--lake", "file:///l", "--min-files", "5", "--where", "date=2024-11-21", "--table", "batch/agg_desde_stream"},
		envOf(map[string]string{"OPTIMIZE_TARGET_FILE_SIZE": "1000", "OPTIMIZE_MIN_FILES": "50"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Optimize != (Optimize{Where: "date=2024-11-21", TargetFileSize: 1000, MinFiles: 5}) || cfg.Table != "batch/agg_desde_stream" {
		t.Fatalf("env then flags: %+v %q", cfg.Optimize, cfg.Table)
	}
	_, err = parse([]string{"optimize", "--target-file-size", "0", "--min-files", "1"}, envOf(nil))
	for _, want := range []string{"lake: required", "--target-file-size 0", "--min-files 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
	if _, err := parse([]string{"optimize", "--interval", "1m"}, envOf(map[string]string{"LAKE": "file:///x"})); err == nil {
		t.Error("optimize accepted --interval, which it does not use")
	}
}

func TestVacuumSettings(t *testing.T) {
	cfg, err := parse([]string{"vacuum", "--lake", "file:///l"}, envOf(nil))
	if err != nil || cfg.Vacuum.Retain != nil || cfg.Vacuum.Force || cfg.Vacuum.DryRun {
		t.Fatalf("vacuum defaults: %+v, %v", cfg.Vacuum, err)
	}
	cfg, err = parse([]string{"vacuum", "--lake", "file:///l", "--force", "--dry-run"}, envOf(map[string]string{"VACUUM_RETAIN": "24h"}))
	if err != nil || cfg.Vacuum.Retain == nil || *cfg.Vacuum.Retain != 24*time.Hour || !cfg.Vacuum.Force || !cfg.Vacuum.DryRun {
		t.Fatalf("VACUUM_RETAIN=24h --force --dry-run: %+v, %v", cfg.Vacuum, err)
	}
	cfg, err = parse([]string{"vacuum", "--lake", "file:///l", "--retain", "0s"}, envOf(map[string]string{"VACUUM_RETAIN": "24h"}))
	if err != nil || cfg.Vacuum.Retain == nil || *cfg.Vacuum.Retain != 0 {
		t.Fatalf("--retain 0s over VACUUM_RETAIN=24h: %+v, %v", cfg.Vacuum, err)
	}
	if _, err := parse([]string{"vacuum", "--lake", "file:///l", "--retain", "-1h"}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "--retain -1h0m0s") {
		t.Fatalf("--retain -1h: %v", err)
	}
}

func TestHistoryAndDetailSettings(t *testing.T) {
	cfg, err := parse([]string{"history", "--lake", "file:///l", "--limit", "5", "--json"}, envOf(nil))
	if err != nil || cfg.HistoryLimit != 5 || !cfg.JSON || cfg.Command != CommandHistory {
		t.Fatalf("history --limit 5 --json: %+v, %v", cfg, err)
	}
	if _, err := parse([]string{"history", "--lake", "file:///l", "--limit", "-1"}, envOf(nil)); err == nil || !strings.Contains(err.Error(), "--limit -1") {
		t.Fatalf("--limit -1: %v", err)
	}
	cfg, err = parse([]string{"detail", "--lake", "file:///l"}, envOf(nil))
	if err != nil || cfg.JSON || cfg.Table != "stream" {
		t.Fatalf("detail defaults: %+v, %v", cfg, err)
	}
	if _, err := parse([]string{"detail", "--lake", "file:///l", "--limit", "1"}, envOf(nil)); err == nil {
		t.Fatal("detail accepted --limit, which it does not use")
	}
}

// --table is a path in the lake (then --lake is needed) or a table URL (then
// it is not); either is checked as the lake URL is.
func TestTableSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string // "" for valid
	}{
		{[]string{"--table", "file:///data/other/table"}, nil, ""},
		{[]string{"--table", "s3://bucket/tables/t"}, map[string]string{"S3_ENDPOINT": "m:9000", "S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "s"}, ""},
		{[]string{"--table", "s3://bucket/tables/t"}, nil, "S3_ENDPOINT: required for an s3:// table"},
		{[]string{"--table", "file://relative/t"}, nil, "absolute path"},
		{[]string{"--table", "gs://b/t"}, nil, "unknown scheme"},
		{[]string{"--table", "stream"}, nil, "lake: required"},
		{[]string{"--table", "batch/agg_desde_stream", "--lake", "file:///l"}, nil, ""},
		{[]string{"--table", "../outside", "--lake", "file:///l"}, nil, "want a path in the lake"},
		{[]string{"--table", "/abs", "--lake", "file:///l"}, nil, "want a path in the lake"},
		{[]string{"--table", "a//b", "--lake", "file:///l"}, nil, "want a path in the lake"},
		{[]string{"--table", "", "--lake", "file:///l"}, nil, "want a path in the lake"},
	} {
		for _, cmd := range []string{"optimize", "vacuum", "history", "detail"} {
			_, err := parse(append([]string{cmd}, tc.args...), envOf(tc.env))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s %q: %v", cmd, tc.args, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("%s %q: %v, want an error mentioning %q", cmd, tc.args, err, tc.want)
			}
		}
	}
}
