package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var docFlagRE = regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\|")

// docSection returns the "## producer" section of docs/configuration.md.
func docSection(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, s, ok := strings.Cut(string(b), "\n## producer\n")
	if !ok {
		t.Fatal("docs/configuration.md has no '## producer' section")
	}
	s, _, _ = strings.Cut(s, "\n## ")
	return s
}

// docs/configuration.md documents every option with its variable and
// default, and no flag the producer does not have.
func TestConfigurationDocMatchesOptions(t *testing.T) {
	doc := docSection(t)
	var cfg Config
	flags := map[string]bool{}
	for _, o := range cfg.vars() {
		flags[o.Flag] = true
		prefix := "| `--" + o.Flag + "` | `" + o.Env + "` | "
		i := strings.Index(doc, prefix)
		if i < 0 {
			t.Errorf("docs/configuration.md (producer) has no row starting %q", prefix)
			continue
		}
		def, _, _ := strings.Cut(doc[i+len(prefix):], " |")
		if strings.Trim(def, "`") != o.Default {
			t.Errorf("docs/configuration.md (producer): --%s default %s, the code says %s", o.Flag, def, o.Default)
		}
	}
	for _, m := range docFlagRE.FindAllStringSubmatch(doc, -1) {
		if !flags[m[1]] {
			t.Errorf("docs/configuration.md (producer) documents --%s, which the producer does not have", m[1])
		}
	}
}

// The healthcheck command's flags are documented with their defaults.
func TestConfigurationDocMatchesHealthcheck(t *testing.T) {
	doc := docSection(t)
	var cfg Config
	for _, o := range cfg.healthcheckVars() {
		if o.Flag == "" {
			continue // HTTP_ADDR, documented above
		}
		prefix := "| `healthcheck --" + o.Flag + "` | "
		i := strings.Index(doc, prefix)
		if i < 0 {
			t.Errorf("docs/configuration.md (producer) has no row starting %q", prefix)
			continue
		}
		if def, _, _ := strings.Cut(doc[i+len(prefix):], " |"); strings.Trim(def, "`") != o.Default {
			t.Errorf("docs/configuration.md (producer): healthcheck --%s default %s, the code says %s", o.Flag, def, o.Default)
		}
	}
}
