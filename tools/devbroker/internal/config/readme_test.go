package config

import (
	"os"
	"strings"
	"testing"
)

// The README's tables list every setting with its variable and default.
func TestReadmeListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	var cfg Config
	var l listenerSettings
	for _, v := range cfg.vars(&l) {
		prefix := "| `" + v.Env + "` | "
		if v.Flag != "" {
			env := ""
			if v.Env != "" {
				env = " `" + v.Env + "`"
			}
			prefix = "| `--" + v.Flag + "` |" + env + " | "
		}
		i := strings.Index(readme, prefix)
		if i < 0 {
			t.Errorf("README has no row starting %q", prefix)
			continue
		}
		if def, _, _ := strings.Cut(readme[i+len(prefix):], " |"); strings.Trim(def, "`") != v.Default {
			t.Errorf("README: %s default %s, the code says %s", prefix, def, v.Default)
		}
	}
}
