package config

import (
	"errors"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"
)

var (
	usageFlagRE = regexp.MustCompile(`(?m)^  -(\S+)`)
	usageEnvRE  = regexp.MustCompile(`\(env ([A-Z0-9_]+)\)`)
	docFlagRE   = regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\|")
	envCallRE   = regexp.MustCompile(`env\("([A-Z0-9_]+)"`)
)

// docSection returns the "## batcher" section of docs/configuration.md.
func docSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "\n## batcher\n")
	if !ok {
		t.Fatal("docs/configuration.md has no '## batcher' section")
	}
	s, _, _ = strings.Cut(s, "\n## ")
	return s
}

// docs/configuration.md documents every flag (of the run and of
// healthcheck) with its variable, every variable the config reads, and no
// flag the batcher does not have.
func TestConfigurationDocMatchesFlags(t *testing.T) {
	doc := docSection(t)
	usage := func(args ...string) string {
		_, err := Parse(args, func(string) (string, bool) { return "", false })
		var h *HelpError
		if !errors.As(err, &h) || !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%v: %v", args, err)
		}
		return h.Usage
	}
	flags := map[string]bool{}
	for _, line := range strings.Split(usage("-h"), "\n  -")[1:] {
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "\n")
		flags[name] = true
		row := "| `--" + name + "` | |"
		if m := usageEnvRE.FindStringSubmatch(line); m != nil {
			row = "| `--" + name + "` | `" + m[1] + "` |"
		}
		if !strings.Contains(doc, row) {
			t.Errorf("docs/configuration.md (batcher) has no row starting %q", row)
		}
	}
	if len(flags) < 4 {
		t.Fatalf("only %d flags found in the usage", len(flags))
	}
	for _, m := range usageFlagRE.FindAllStringSubmatch(usage("healthcheck", "-h"), -1) {
		if row := "| `healthcheck --" + m[1] + "` |"; !strings.Contains(doc, row) {
			t.Errorf("docs/configuration.md (batcher) has no row starting %q", row)
		}
	}
	for _, m := range usageFlagRE.FindAllStringSubmatch(usage("compact", "-h"), -1) {
		if row := "| `compact --" + m[1] + "` |"; !strings.Contains(doc, row) {
			t.Errorf("docs/configuration.md (batcher) has no row starting %q", row)
		}
	}
	for _, m := range docFlagRE.FindAllStringSubmatch(doc, -1) {
		if !flags[m[1]] {
			t.Errorf("docs/configuration.md (batcher) documents --%s, which the batcher does not have", m[1])
		}
	}
	src, err := os.ReadFile("config.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range envCallRE.FindAllStringSubmatch(string(src), -1) {
		if !strings.Contains(doc, "`"+m[1]+"`") {
			t.Errorf("docs/configuration.md (batcher) does not mention %s, which config.go reads", m[1])
		}
	}
}
