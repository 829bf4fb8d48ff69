package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The online image build runs `go mod download` with GOWORK=off, so every
// module of this repository that a service's go.mod replaces must be in the
// build context (.dockerignore) and have its go.mod copied before the
// download (deploy/service.Dockerfile). A module added without them breaks
// only the online build, which a machine without a registry never runs:
// this catches it anywhere.
func TestServiceDockerfileCopiesEveryModule(t *testing.T) {
	root := repoRoot(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dockerfile, ignore := read("deploy/service.Dockerfile"), read(".dockerignore")
	replace := regexp.MustCompile(`=>\s+(\.\.?/\S+)`)
	for _, svc := range []string{"producer", "streamer", "batcher"} {
		dir := filepath.Join("services", svc)
		mods := []string{dir}
		for _, m := range replace.FindAllStringSubmatch(read(filepath.Join(dir, "go.mod")), -1) {
			mods = append(mods, filepath.ToSlash(filepath.Join(dir, m[1])))
		}
		for _, mod := range mods {
			if !strings.Contains(dockerfile, "COPY "+mod+"/go.* "+mod+"/\n") {
				t.Errorf("%s needs module %s: deploy/service.Dockerfile lacks `COPY %s/go.* %s/`", svc, mod, mod, mod)
			}
			top := strings.SplitN(mod, "/", 2)[0]
			if !regexp.MustCompile(`(?m)^!` + regexp.QuoteMeta(top) + `/?$`).MatchString(ignore) {
				t.Errorf("%s needs module %s: .dockerignore lacks `!%s`, so the build context leaves it out", svc, mod, top)
			}
		}
	}
}
