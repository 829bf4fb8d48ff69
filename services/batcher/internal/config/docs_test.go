package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var docFlagRE = regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\|")

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

// checkRow fails unless doc has a row starting with prefix whose next cell
// is def (backquotes aside).
func checkRow(t *testing.T, doc, prefix, def string) {
	t.Helper()
	i := strings.Index(doc, prefix)
	if i < 0 {
		t.Errorf("docs/configuration.md (batcher) has no row starting %q", prefix)
		return
	}
	if got, _, _ := strings.Cut(doc[i+len(prefix):], " |"); strings.Trim(got, "`") != def {
		t.Errorf("docs/configuration.md (batcher): %s default %s, the code says %s", prefix, got, def)
	}
}

// docs/configuration.md documents every setting of every command with its
// variable and default, and no flag the batcher does not have.
func TestConfigurationDocMatchesSettings(t *testing.T) {
	doc := docSection(t)
	flags := map[string]bool{}
	for _, cmd := range append([]Command{CommandRun}, Commands...) {
		c := Default()
		c.Command = cmd
		for _, v := range c.vars() {
			switch {
			case v.Flag == "" && cmd == CommandRun:
				checkRow(t, doc, "| `"+v.Env+"` | ", v.Default)
			case v.Flag == "":
				// the run's table documents the variables without a flag
			case cmd == CommandRun:
				flags[v.Flag] = true
				checkRow(t, doc, "| `--"+v.Flag+"` | `"+v.Env+"` | ", v.Default)
			case v.Env != "":
				checkRow(t, doc, "| `"+string(cmd)+" --"+v.Flag+"` | `"+v.Env+"` | ", v.Default)
			case strings.Contains(doc, "| `"+string(cmd)+" --"+v.Flag+"` | | "):
				// a flag without a variable in a table with an environment column
				checkRow(t, doc, "| `"+string(cmd)+" --"+v.Flag+"` | | ", v.Default)
			default:
				checkRow(t, doc, "| `"+string(cmd)+" --"+v.Flag+"` | ", v.Default)
			}
		}
	}
	for _, m := range docFlagRE.FindAllStringSubmatch(doc, -1) {
		if !flags[m[1]] {
			t.Errorf("docs/configuration.md (batcher) documents --%s, which the batcher does not have", m[1])
		}
	}
}
