package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

var docFlagRE = regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)` \\|")

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

// checkRow fails unless doc has a row starting with prefix whose next cell
// is def (backquotes aside).
func checkRow(t *testing.T, doc, prefix, def string) {
	t.Helper()
	i := strings.Index(doc, prefix)
	if i < 0 {
		t.Errorf("docs/configuration.md (streamer) has no row starting %q", prefix)
		return
	}
	if got, _, _ := strings.Cut(doc[i+len(prefix):], " |"); strings.Trim(got, "`") != def {
		t.Errorf("docs/configuration.md (streamer): %s default %s, the code says %s", prefix, got, def)
	}
}

// docs/configuration.md documents every setting with its variable and
// default, the healthcheck's flags, and no flag the streamer does not have.
func TestConfigurationDocMatchesSettings(t *testing.T) {
	doc := docSection(t)
	var cfg Config
	flags := map[string]bool{}
	for _, v := range cfg.vars() {
		if v.Flag == "" {
			checkRow(t, doc, "| `"+v.Env+"` | ", v.Default)
			continue
		}
		flags[v.Flag] = true
		checkRow(t, doc, "| `--"+v.Flag+"` | `"+v.Env+"` | ", v.Default)
	}
	for _, v := range cfg.healthcheckVars() {
		if v.Flag != "" {
			checkRow(t, doc, "| `healthcheck --"+v.Flag+"` | ", v.Default)
		}
	}
	for _, m := range docFlagRE.FindAllStringSubmatch(doc, -1) {
		if !flags[m[1]] {
			t.Errorf("docs/configuration.md (streamer) documents --%s, which the streamer does not have", m[1])
		}
	}
}

// The start-up log line names every setting, with the secret masked.
func TestStartLogShowsEverySettingAndMasksTheSecret(t *testing.T) {
	cfg := Default()
	cfg.S3.SecretKey = "hunter2"
	logged := map[string]string{}
	for _, a := range cfg.LogValue().Group() {
		logged[a.Key] = a.Value.String()
	}
	for _, v := range cfg.vars() {
		key := strings.ToLower(v.Env)
		if v.Flag != "" {
			key = strings.ReplaceAll(v.Flag, "-", "_")
		}
		if _, ok := logged[key]; !ok {
			t.Errorf("the start-up log omits %s", key)
		}
	}
	if logged["s3_secret_key"] != "****" {
		t.Errorf("s3_secret_key logged as %v, want ****", logged["s3_secret_key"])
	}
	for k, v := range logged {
		if strings.Contains(v, "hunter2") {
			t.Errorf("%s logs the secret", k)
		}
	}
}
