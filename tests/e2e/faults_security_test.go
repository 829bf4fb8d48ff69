package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.yaml.in/yaml/v3"

	"github.com/sensorlab/sensorlab/lake/laketest"
)

// composeFile is the part of a compose file the checks read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       *composeBuild  `yaml:"build"`
	Command     any            `yaml:"command"`
	Environment map[string]any `yaml:"environment"`
	Ports       []any          `yaml:"ports"`
	Privileged  bool           `yaml:"privileged"`
	NetworkMode string         `yaml:"network_mode"`
	Pid         string         `yaml:"pid"`
	Ipc         string         `yaml:"ipc"`
	User        string         `yaml:"user"`
	CapAdd      []string       `yaml:"cap_add"`
	SecurityOpt []string       `yaml:"security_opt"`
	Volumes     []any          `yaml:"volumes"`
}

// composeBuild is a service's build section (the long syntax, which the
// lab's compose files use).
type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Target     string            `yaml:"target"`
	Args       map[string]string `yaml:"args"`
}

// loadCompose reads a compose file of the repository.
func loadCompose(root, name string) (composeFile, error) {
	var c composeFile
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return c, err
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", name, err)
	}
	if len(c.Services) == 0 {
		return c, fmt.Errorf("%s: no services", name)
	}
	return c, nil
}

func readCompose(t *testing.T, name string) composeFile {
	t.Helper()
	c, err := loadCompose(repoRoot(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dotEnvValues returns the values of the repository's .env (the lab's
// credentials), by key.
func dotEnvValues(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), ".env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && v != "" {
			out[k] = strings.Trim(v, `"'`)
		}
	}
	if len(out) == 0 {
		t.Fatal(".env holds no value")
	}
	return out
}

// TestSecurityComposeStatic reads compose.yaml (and the offline override) as
// Compose does, with a YAML parser, and checks the lab's exposure: no
// privileged container, no host network, PID or IPC namespace, no added
// capability or disabled confinement, no user root, every published port on
// 127.0.0.1, no host directory mounted; and the MinIO root credentials reach
// only the minio server and its init job.
func TestSecurityComposeStatic(t *testing.T) {
	for _, name := range []string{"compose.yaml", "compose.offline.yaml"} {
		c := readCompose(t, name)
		for svc, s := range c.Services {
			where := name + ": service " + svc
			if s.Privileged {
				t.Errorf("%s is privileged", where)
			}
			for what, v := range map[string]string{"network_mode": s.NetworkMode, "pid": s.Pid, "ipc": s.Ipc} {
				if v == "host" {
					t.Errorf("%s uses the host's %s", where, what)
				}
			}
			if len(s.CapAdd) > 0 {
				t.Errorf("%s adds capabilities %v", where, s.CapAdd)
			}
			for _, o := range s.SecurityOpt {
				if strings.Contains(o, "unconfined") {
					t.Errorf("%s: security_opt %q", where, o)
				}
			}
			if u := strings.SplitN(s.User, ":", 2)[0]; u == "root" || u == "0" {
				t.Errorf("%s runs as user %q", where, s.User)
			}
			for _, p := range s.Ports {
				switch p := p.(type) {
				case string:
					if !strings.HasPrefix(p, "127.0.0.1:") {
						t.Errorf("%s publishes %q on every interface: want 127.0.0.1:host:container", where, p)
					}
				case map[string]any:
					if p["host_ip"] != "127.0.0.1" {
						t.Errorf("%s publishes %v without host_ip 127.0.0.1", where, p)
					}
				default:
					t.Errorf("%s: port %v (%T): want 127.0.0.1:host:container", where, p, p)
				}
			}
			for _, v := range s.Volumes {
				src := ""
				switch v := v.(type) {
				case string:
					src = strings.SplitN(v, ":", 2)[0]
				case map[string]any:
					src, _ = v["source"].(string)
				}
				if strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "~") {
					t.Errorf("%s mounts host path %q", where, src)
				}
			}
			for k := range s.Environment {
				if strings.HasPrefix(k, "MINIO_ROOT_") && svc != "minio" && svc != "minio-init" {
					t.Errorf("%s receives the MinIO root credential %s: only minio and minio-init may", where, k)
				}
			}
		}
	}
	// The services reach the lake with the service user, never root.
	c := readCompose(t, "compose.yaml")
	for _, svc := range []string{"streamer", "batcher"} {
		env := c.Services[svc].Environment
		if env["S3_ACCESS_KEY"] != "${LAKE_ACCESS_KEY:?set in .env}" || env["S3_SECRET_KEY"] != "${LAKE_SECRET_KEY:?set in .env}" {
			t.Errorf("compose.yaml: %s's S3 credentials are %v / %v, want the lake service user from .env",
				svc, env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"])
		}
	}
}

// TestSecurityDockerfilesRunAsNonRoot checks every Dockerfile of the
// repository: each stage that can be an image (every FROM scratch stage, a
// --target, and the last stage) sets a USER that is not root; the golang
// stage that compiles may run as root. And compose.yaml builds the three
// services from the one Dockerfile, each with its SVC, at the stage whose
// USER this checks.
func TestSecurityDockerfilesRunAsNonRoot(t *testing.T) {
	root := repoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "*.Dockerfile"))
	more, _ := filepath.Glob(filepath.Join(root, "deploy", "offline", "*.Dockerfile"))
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("found %d Dockerfiles: %v", len(files), files)
	}
	if stray, _ := filepath.Glob(filepath.Join(root, "services", "*", "Dockerfile")); len(stray) > 0 {
		t.Errorf("per-service Dockerfiles %v: the services share deploy/service.Dockerfile", stray)
	}
	from := regexp.MustCompile(`(?i)^FROM\s+(\S+)(?:\s+AS\s+(\S+))?`)
	user := regexp.MustCompile(`(?i)^USER\s+(\S+)`)
	type stage struct{ base, name, user string }
	stagesOf := map[string][]stage{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		var stages []stage
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if m := from.FindStringSubmatch(line); m != nil {
				stages = append(stages, stage{base: m[1], name: m[2]})
			}
			if m := user.FindStringSubmatch(line); m != nil && len(stages) > 0 {
				stages[len(stages)-1].user = m[1]
			}
		}
		if len(stages) == 0 {
			t.Errorf("%s: no FROM", rel)
			continue
		}
		stagesOf[rel] = stages
		for i, st := range stages {
			if st.base != "scratch" && i != len(stages)-1 {
				continue // a build stage
			}
			if u := strings.SplitN(st.user, ":", 2)[0]; u == "" || u == "root" || u == "0" {
				t.Errorf("%s: stage %d (%s) runs as %q: want a USER that is not root", rel, i+1, st.name, st.user)
			}
		}
	}
	for file, target := range map[string]string{"compose.yaml": "image", "compose.offline.yaml": "prebuilt"} {
		c := readCompose(t, file)
		for _, svc := range []string{"producer", "streamer", "batcher"} {
			b := c.Services[svc].Build
			if b == nil || b.Args["SVC"] != svc || b.Target != target {
				t.Errorf("%s: %s's build is %+v: want deploy/service.Dockerfile at stage %s with SVC=%s", file, svc, b, target, svc)
				continue
			}
			if file == "compose.yaml" && b.Dockerfile != "deploy/service.Dockerfile" {
				t.Errorf("compose.yaml: %s is built from %s, want deploy/service.Dockerfile", svc, b.Dockerfile)
			}
			found := false
			for _, st := range stagesOf["deploy/service.Dockerfile"] {
				found = found || st.name == target
			}
			if !found {
				t.Errorf("%s: %s's target %q is not a stage of deploy/service.Dockerfile", file, svc, target)
			}
		}
	}
}

// TestSecurityNoSecretInImages inspects the images compose runs: neither
// their configuration (environment, command, labels) nor their build history
// holds a credential of .env, and ours (not the third-party ones) do not run
// as root. Every image of the mode TestMain prepared must be there; the other
// mode's are checked too when present.
func TestSecurityNoSecretInImages(t *testing.T) {
	docker := dockerCLI(t)
	secrets := dotEnvValues(t)
	offline := []string{"sensorlab-offline/devbroker:dev", "sensorlab-offline/minio:dev"}
	online := []string{}
	for _, n := range []string{"producer", "streamer", "batcher"} {
		offline = append(offline, "sensorlab-offline/"+n+":dev")
		online = append(online, "sensorlab/"+n+":dev")
	}
	required, other := online, offline
	if setup.offline {
		required, other = offline, online
	}
	for _, img := range append(append([]string{}, required...), other...) {
		cfg, err := exec.Command(docker, "image", "inspect", "--format", "{{json .Config}}", img).Output()
		if err != nil {
			if slices.Contains(required, img) {
				t.Errorf("%s is missing: TestMain prepares it", img)
			} else {
				t.Logf("%s: not built here, not checked", img)
			}
			continue
		}
		hist, err := exec.Command(docker, "history", "--no-trunc", "--format", "{{.CreatedBy}}", img).Output()
		if err != nil {
			t.Fatalf("docker history %s: %v", img, err)
		}
		for k, v := range secrets {
			if bytes.Contains(cfg, []byte(v)) || bytes.Contains(hist, []byte(v)) {
				t.Errorf("%s holds the value of %s from .env in its config or history", img, k)
			}
		}
		var c struct{ User string }
		if err := json.Unmarshal(cfg, &c); err != nil {
			t.Fatalf("%s config: %v", img, err)
		}
		if u := strings.SplitN(c.User, ":", 2)[0]; u == "" || u == "root" || u == "0" {
			t.Errorf("%s runs as %q: want a user that is not root", img, c.User)
		}
		t.Logf("%s: no .env value in its config or history; user %s", img, c.User)
	}
}

// TestSecurityLakeUserIsLeastPrivilege runs compose.yaml's own minio-init
// script (taken from the file) with the mc of the lab's MinIO image, in the
// container of a real MinIO started with root credentials, twice (it must be
// idempotent), then shows that the service user it creates can use the lake
// bucket and nothing else: it cannot create a bucket, nor list or read
// another bucket.
func TestSecurityLakeUserIsLeastPrivilege(t *testing.T) {
	m := laketest.StartMinIO(t)
	ctx := context.Background()

	cmd, _ := readCompose(t, "compose.yaml").Services["minio-init"].Command.([]any)
	if len(cmd) != 1 {
		t.Fatalf("minio-init command %v: want one shell script", cmd)
	}
	script, _ := cmd[0].(string)
	// Compose turns $$ into $; the script reaches the server by its compose
	// name, which is the container's own address here.
	script = strings.ReplaceAll(script, "$$", "$")
	if !strings.Contains(script, "http://minio:9000") {
		t.Fatalf("minio-init does not address http://minio:9000:\n%s", script)
	}
	script = strings.ReplaceAll(script, "http://minio:9000", "http://"+laketest.ContainerEndpoint)
	lakeKey, lakeSecret := "lake-svc", "lake-"+rand.Text()
	for i := 0; i < 2; i++ {
		out, err := m.Exec(ctx, []string{"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey,
			"LAKE_ACCESS_KEY=" + lakeKey, "LAKE_SECRET_KEY=" + lakeSecret}, "/bin/sh", "-c", script)
		if err != nil {
			t.Fatalf("minio-init run %d: %v\n%s", i+1, err, out)
		}
		if bytes.Contains(out, []byte(lakeSecret)) || bytes.Contains(out, []byte(m.SecretKey)) {
			t.Fatalf("minio-init printed a secret:\n%s", out)
		}
		t.Logf("minio-init run %d (%s):\n%s", i+1, m.Image, bytes.TrimSpace(out))
	}

	// Root puts an object in another bucket.
	other := m.Bucket(t, "other")
	if err := other.Put(ctx, "private.txt", []byte("not for the lake user")); err != nil {
		t.Fatal(err)
	}

	svc, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(lakeKey, lakeSecret, ""),
		BucketLookup: minio.BucketLookupPath, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	// What the user may do: read and write the lake.
	if _, err := svc.PutObject(ctx, "lake", "stream/x.parquet", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("the service user cannot write the lake: %v", err)
	}
	if _, err := svc.StatObject(ctx, "lake", "stream/x.parquet", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("the service user cannot read the lake: %v", err)
	}
	// What it may not.
	denied := func(what string, err error) {
		t.Helper()
		var er minio.ErrorResponse
		if !errors.As(err, &er) || er.Code != "AccessDenied" {
			t.Errorf("the service user %s: got %v, want AccessDenied", what, err)
		}
	}
	denied("creates a bucket", svc.MakeBucket(ctx, "mine", minio.MakeBucketOptions{}))
	_, err = svc.StatObject(ctx, "other", "private.txt", minio.StatObjectOptions{})
	denied("reads another bucket's object", err)
	for o := range svc.ListObjects(ctx, "other", minio.ListObjectsOptions{}) {
		denied("lists another bucket", o.Err)
		break
	}
	denied("deletes another bucket's object", svc.RemoveObject(ctx, "other", "private.txt", minio.RemoveObjectOptions{}))
	// MinIO answers ListBuckets with the buckets the user may see.
	if bs, err := svc.ListBuckets(ctx); err == nil {
		for _, b := range bs {
			if b.Name != "lake" {
				t.Errorf("the service user sees bucket %q", b.Name)
			}
		}
	}
}
