package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

var (
	usageFlagRE = regexp.MustCompile(`(?m)^  -(\S+)`)
	docFlagRE   = regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\|")
	getenvRE    = regexp.MustCompile(`getenv\("([A-Z0-9_]+)"\)`)
)

// flagNames lists the streamer's flags as -h prints them.
func flagNames(t *testing.T) []string {
	t.Helper()
	var usage bytes.Buffer
	if _, err := Load([]string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	var names []string
	for _, m := range usageFlagRE.FindAllStringSubmatch(usage.String(), -1) {
		names = append(names, m[1])
	}
	if len(names) < 10 {
		t.Fatalf("only %d flags found in the usage:\n%s", len(names), usage.String())
	}
	return names
}

// docSection returns the "## streamer" section of docs/configuration.md.
func docSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "\n## streamer\n")
	if !ok {
		t.Fatal("docs/configuration.md has no '## streamer' section")
	}
	s, _, _ = strings.Cut(s, "\n## ")
	return s
}

// docs/configuration.md documents every flag with its environment variable,
// every variable the config reads, and no flag the streamer does not have.
func TestConfigurationDocMatchesFlags(t *testing.T) {
	doc := docSection(t)
	flags := map[string]bool{}
	for _, name := range flagNames(t) {
		flags[name] = true
		row := "| `--" + name + "` | `" + Env[name] + "` |"
		if Env[name] == "" {
			row = "| `--" + name + "` | |"
		}
		if !strings.Contains(doc, row) {
			t.Errorf("docs/configuration.md (streamer) has no row starting %q", row)
		}
	}
	for _, m := range docFlagRE.FindAllStringSubmatch(doc, -1) {
		if !flags[m[1]] {
			t.Errorf("docs/configuration.md (streamer) documents --%s, which the streamer does not have", m[1])
		}
	}
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range getenvRE.FindAllStringSubmatch(string(src), -1) {
		if !strings.Contains(doc, "`"+m[1]+"`") {
			t.Errorf("docs/configuration.md (streamer) does not mention %s, which config.go reads", m[1])
		}
	}
}

// The start-up log line names every setting, with the secret masked.
func TestStartLogShowsEverySettingAndMasksTheSecret(t *testing.T) {
	cfg := Default()
	cfg.S3.SecretKey = "hunter2"
	logged := cfg.Redacted()
	for _, name := range flagNames(t) {
		if _, ok := logged[strings.ReplaceAll(name, "-", "_")]; !ok {
			t.Errorf("the start-up log omits --%s", name)
		}
	}
	if logged["s3_secret_key"] != "****" {
		t.Errorf("s3_secret_key logged as %v, want ****", logged["s3_secret_key"])
	}
	for k, v := range logged {
		if s, ok := v.(string); ok && strings.Contains(s, "hunter2") {
			t.Errorf("%s logs the secret", k)
		}
	}
}
