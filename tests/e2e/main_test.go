package e2e

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/sensorlab/sensorlab/lake/laketest"
)

// Before any test runs, TestMain decides how this package gets the lab's
// images, and prepares every one of them, so that no test skips or builds:
//
//   - offline (no registry: this project's machines and CI): compose.yaml plus
//     compose.offline.yaml, whose images scripts/offline-images.sh builds from
//     local files (it is idempotent and cached);
//   - online (a user's machine): compose.yaml alone; its third-party images
//     (Kafka, MinIO, mc) are pulled if missing, and the services are built
//     from deploy/service.Dockerfile as compose.yaml builds them.
//
// SENSORLAB_OFFLINE=1 or 0 forces the mode. Unset, TestMain asks the Docker
// engine whether the registry of every image online mode needs answers
// (the engine's distribution inspect, under registryTimeout): no answer, or
// an error, means offline. It prints the mode and why in one line on stderr
// (shown with -v, and whenever the package fails). The pipeline tests' MinIO
// (laketest) then runs the same mode's image, and may not skip.
//
// A preparation that fails ends the run before any test, with the reason.
// Without a Docker engine nothing is prepared: the tests that need one skip,
// saying why, or fail with SENSORLAB_REQUIRE_DOCKER=1 (CI).
// SENSORLAB_SKIP_IMAGE_BUILD=1 reuses the images as they are (faster
// reruns; they may be stale) and only checks that they exist.

// Environment variables TestMain reads.
const (
	envOffline        = "SENSORLAB_OFFLINE"
	envRequireDocker  = "SENSORLAB_REQUIRE_DOCKER"
	envSkipImageBuild = "SENSORLAB_SKIP_IMAGE_BUILD"
)

// registryTimeout is how long the registry has to answer: one that does not
// answer that fast is taken as absent.
var registryTimeout = 8 * time.Second

// prepareTimeout bounds the whole preparation: building MinIO from source,
// on a first offline run, takes minutes.
const prepareTimeout = 40 * time.Minute

// setup is what TestMain found and prepared, for every test.
var setup struct {
	docker    *testcontainers.DockerClient // nil when no engine answers
	dockerErr error                        // why there is none
	offline   bool
}

// started is when this test process started: go test kills it -timeout plus
// a minute after that, preparation included.
var started = time.Now()

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		return m.Run() // listing the tests needs nothing
	}
	// Ryuk, testcontainers' reaper, is an image to pull: not possible
	// offline. The tests remove what they start instead. testcontainers reads
	// this once, so it is set before its first call.
	if _, ok := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !ok {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), prepareTimeout)
	err := prepare(ctx)
	cancel()
	if err != nil {
		logf("FAIL: %v", err)
		logf("no test was run: they need what could not be prepared")
		return 1
	}
	logf("prepared in %v", time.Since(start).Round(100*time.Millisecond))
	warnShortTimeout()
	code := m.Run()
	if setup.docker != nil {
		_ = setup.docker.Close()
	}
	return code
}

// logf prints one line of TestMain's on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
}

// rootDir is the repository root, found from this file's location.
func rootDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func prepare(ctx context.Context) error {
	root := rootDir()
	if err := ensureKcat(ctx); err != nil {
		return err
	}
	cli, err := dockerClient()
	if err != nil {
		setup.dockerErr = err
		if os.Getenv(envRequireDocker) == "1" {
			_ = os.Setenv(laketest.EnvRequireMinIO, "1")
			logf("no Docker engine answers (%v): the tests that need one fail (%s=1)", err, envRequireDocker)
		} else {
			logf("no Docker engine answers (%v): the tests that need one skip; %s=1 makes that a failure",
				err, envRequireDocker)
		}
		return nil
	}
	setup.docker = cli
	// The image builds and laketest drive the engine with the docker CLI:
	// it must reach the same one (testcontainers falls back to the default
	// socket when DOCKER_HOST does not answer; the CLI does not).
	if _, err := exec.LookPath("docker"); err != nil {
		return fmt.Errorf("an engine answers but there is no docker CLI, which the image builds and laketest use: %w", err)
	}
	vctx, vcancel := context.WithTimeout(ctx, 20*time.Second)
	out, err := exec.CommandContext(vctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	vcancel()
	if err != nil {
		return fmt.Errorf("testcontainers reaches a Docker engine but the docker CLI does not (DOCKER_HOST=%q): %v: %s",
			os.Getenv("DOCKER_HOST"), err, strings.TrimSpace(string(out)))
	}
	offline, why, err := chooseMode(ctx, cli, root)
	if err != nil {
		return err
	}
	setup.offline = offline
	logf("mode %s: %s", modeName(offline), why)
	if offline {
		err = prepareOffline(ctx, cli, root)
	} else {
		err = prepareOnline(ctx, cli, root)
	}
	if err != nil {
		return fmt.Errorf("preparing the %s images: %w", modeName(offline), err)
	}
	// The pipeline tests' MinIO is the stack's: the same mode's image, which
	// now exists. laketest may not skip.
	_ = os.Setenv(laketest.EnvOffline, map[bool]string{true: "1", false: "0"}[offline])
	_ = os.Setenv(laketest.EnvRequireMinIO, "1")
	return nil
}

func modeName(offline bool) string {
	if offline {
		return "offline"
	}
	return "online"
}

// dockerClient returns a client of the engine testcontainers finds, once it
// has answered a ping.
func dockerClient() (cli *testcontainers.DockerClient, err error) {
	// testcontainers has been known to panic when it finds no engine at all.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("docker client: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cli, err = testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("ping: %w", err)
	}
	return cli, nil
}

// chooseMode returns offline or online, and why.
func chooseMode(ctx context.Context, cli *testcontainers.DockerClient, root string) (offline bool, why string, err error) {
	switch v := os.Getenv(envOffline); v {
	case "1", "true":
		return true, envOffline + "=" + v, nil
	case "0", "false":
		return false, envOffline + "=" + v, nil
	case "":
	default:
		return false, "", fmt.Errorf("%s=%q: want 1 (offline), 0 (online) or unset (detect)", envOffline, v)
	}
	refs, err := registryImages(root)
	if err != nil {
		return false, "", err
	}
	// Every image online mode needs must be here already, or its registry
	// must answer now.
	type answer struct {
		ref, how string
		err      error
	}
	answers := make([]answer, len(refs))
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Go(func() {
			a := answer{ref: ref}
			t0 := time.Now()
			if _, err := cli.ImageInspect(ctx, ref); err == nil {
				a.how = "here"
			} else if _, err := cli.DistributionInspect(ctx, ref, client.DistributionInspectOptions{}); err != nil {
				a.err = err
				if ctx.Err() != nil {
					a.err = fmt.Errorf("no answer within %v", registryTimeout)
				}
			} else {
				a.how = fmt.Sprintf("registry answered in %v", time.Since(t0).Round(10*time.Millisecond))
			}
			answers[i] = a
		})
	}
	wg.Wait()
	var got []string
	for _, a := range answers {
		if a.err != nil {
			return true, fmt.Sprintf("%s is not here and its registry does not answer (%v); "+
				"%s=0 forces online, =1 offline", a.ref, a.err, envOffline), nil
		}
		got = append(got, a.ref+": "+a.how)
	}
	return false, fmt.Sprintf("every image online mode needs is here or its registry answered (%s); "+
		"%s=0 forces online, =1 offline", strings.Join(got, ", "), envOffline), nil
}

// registryImages returns the images online mode takes from a registry:
// compose.yaml's images that it does not build (streamer-front runs the
// image the streamer service builds), and the base images of the
// Dockerfiles it builds.
func registryImages(root string) ([]string, error) {
	c, err := loadCompose(root, "compose.yaml")
	if err != nil {
		return nil, err
	}
	built := map[string]bool{}
	for _, s := range c.Services {
		if s.Build != nil {
			built[s.Image] = true
		}
	}
	refs := map[string]bool{}
	for _, s := range c.Services {
		if s.Build == nil {
			if !built[s.Image] {
				refs[s.Image] = true
			}
			continue
		}
		bases, err := dockerfileBases(filepath.Join(root, s.Build.Context, s.Build.Dockerfile))
		if err != nil {
			return nil, err
		}
		for _, b := range bases {
			refs[b] = true
		}
	}
	out := make([]string, 0, len(refs))
	for r := range refs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out, nil
}

// dockerfileBases returns the images a Dockerfile's stages start from, other
// than scratch and its own stages.
func dockerfileBases(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	from := regexp.MustCompile(`(?i)^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?`)
	stages := map[string]bool{"scratch": true}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		m := from.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		if !stages[strings.ToLower(m[1])] && !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
		if m[2] != "" {
			stages[strings.ToLower(m[2])] = true
		}
	}
	return out, nil
}

// prepareOffline runs scripts/offline-images.sh (idempotent; MinIO and mc
// are built once and cached), so that the tests never run stale binaries,
// and checks that every image compose.offline.yaml names exists.
func prepareOffline(ctx context.Context, cli *testcontainers.DockerClient, root string) error {
	if os.Getenv(envSkipImageBuild) == "1" {
		logf("%s=1: using the offline images as they are", envSkipImageBuild)
	} else {
		logf("scripts/offline-images.sh (a first run builds MinIO and mc from source: minutes)")
		if _, err := cli.ImageInspect(ctx, laketest.OfflineImage); err != nil {
			if left, ok := timeLeft(); ok && left < 30*time.Minute {
				logf("this looks like a first run (no %s yet): building MinIO and mc takes about 12 minutes here, "+
					"and go test stops this process %v from now: if it does, run go test -timeout 60m ./tests/e2e",
					laketest.OfflineImage, left.Round(time.Second))
			}
		}
		cmd := exec.CommandContext(ctx, filepath.Join(root, "scripts", "offline-images.sh"))
		cmd.Dir = root
		if err := runPrefixed(cmd, "offline-images: "); err != nil {
			return fmt.Errorf("scripts/offline-images.sh: %w", err)
		}
	}
	c, err := loadCompose(root, "compose.offline.yaml")
	if err != nil {
		return err
	}
	var refs []string
	for _, s := range c.Services {
		if !slices.Contains(refs, s.Image) {
			refs = append(refs, s.Image)
		}
	}
	return requireImages(ctx, cli, refs, "run scripts/offline-images.sh")
}

// prepareOnline pulls compose.yaml's third-party images that are missing, and
// builds the services' images as compose.yaml builds them.
func prepareOnline(ctx context.Context, cli *testcontainers.DockerClient, root string) error {
	c, err := loadCompose(root, "compose.yaml")
	if err != nil {
		return err
	}
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	var refs []string
	for _, n := range names {
		s := c.Services[n]
		refs = append(refs, s.Image)
		if s.Build != nil || slices.Contains(refs[:len(refs)-1], s.Image) {
			continue
		}
		if _, err := cli.ImageInspect(ctx, s.Image); err == nil {
			continue
		}
		t0 := time.Now()
		if err := pull(ctx, cli, s.Image); err != nil {
			return err
		}
		logf("pulled %s in %v", s.Image, time.Since(t0).Round(100*time.Millisecond))
	}
	if os.Getenv(envSkipImageBuild) == "1" {
		logf("%s=1: using the service images as they are", envSkipImageBuild)
	} else {
		for _, n := range names {
			s := c.Services[n]
			if s.Build == nil {
				continue
			}
			t0 := time.Now()
			args := []string{"build", "--file", filepath.Join(root, s.Build.Context, s.Build.Dockerfile), "--tag", s.Image}
			if s.Build.Target != "" {
				args = append(args, "--target", s.Build.Target)
			}
			keys := make([]string, 0, len(s.Build.Args))
			for k := range s.Build.Args {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				args = append(args, "--build-arg", k+"="+s.Build.Args[k])
			}
			logf("building %s (docker %s)", s.Image, strings.Join(args, " "))
			// Its output is shown only when it fails, as the offline script does.
			out, err := exec.CommandContext(ctx, "docker", append(args, filepath.Join(root, s.Build.Context))...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("building %s: %w; last output:\n%s", s.Image, err, lastLines(out, 30))
			}
			logf("built %s in %v", s.Image, time.Since(t0).Round(100*time.Millisecond))
		}
	}
	return requireImages(ctx, cli, refs, "see the lines above")
}

// pull pulls an image through the engine, to the end of its progress stream.
func pull(ctx context.Context, cli *testcontainers.DockerClient, ref string) error {
	logf("pulling %s", ref)
	resp, err := cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("pull %s: %w", ref, err)
		}
		if msg.Error != nil {
			return fmt.Errorf("pull %s: %s", ref, msg.Error.Message)
		}
	}
	return nil
}

// requireImages fails unless every image exists locally.
func requireImages(ctx context.Context, cli *testcontainers.DockerClient, refs []string, hint string) error {
	var missing []string
	for _, ref := range refs {
		if _, err := cli.ImageInspect(ctx, ref); err != nil {
			missing = append(missing, ref)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing images %s (%s)", strings.Join(missing, ", "), hint)
	}
	return nil
}

// runPrefixed runs cmd with each line of its output on stderr, prefixed, and
// returns its last lines with the error when it fails.
func runPrefixed(cmd *exec.Cmd, prefix string) error {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	var tail []string
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(os.Stderr, "e2e:   %s%s\n", prefix, sc.Text())
			if tail = append(tail, sc.Text()); len(tail) > 20 {
				tail = tail[1:]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	_ = pw.Close()
	<-scanned
	if err != nil {
		return fmt.Errorf("%w; last output:\n%s", err, strings.Join(tail, "\n"))
	}
	return nil
}

// lastLines returns the last n lines of out.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ensureKcat installs kcat, with which the bad-input fault sends half of its
// records, from the system's packages when it is missing (as
// scripts/offline-images.sh installs busybox-static).
func ensureKcat(ctx context.Context) error {
	if _, err := exec.LookPath("kcat"); err == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("kcat is not installed, and the bad-input fault sends with it: install it " +
			"(e.g. `apt-get install kcat`, `brew install kcat`)")
	}
	logf("installing kcat with apt-get (the bad-input fault sends with it)")
	apt := func(args ...string) error {
		name := "apt-get"
		if os.Geteuid() != 0 {
			name, args = "sudo", append([]string{"-n", "apt-get"}, args...) // never wait for a password
		}
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := apt("update", "-qq"); err != nil {
		return fmt.Errorf("installing kcat: %w", err)
	}
	if err := apt("install", "-y", "-qq", "kcat"); err != nil {
		return fmt.Errorf("installing kcat: %w", err)
	}
	return nil
}

// timeLeft returns how long go test lets this process run from now: its
// -timeout, plus the minute (at least) go test adds before killing it,
// since it started.
func timeLeft() (time.Duration, bool) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0, false
	}
	d, ok := f.Value.(flag.Getter).Get().(time.Duration)
	if !ok || d <= 0 {
		return 0, false
	}
	return d + time.Minute - time.Since(started), true
}

// warnShortTimeout says so when what is left of -timeout is shorter than a
// run of the whole package takes (about 6 minutes here once prepared).
func warnShortTimeout() {
	if run := flag.Lookup("test.run"); run != nil && run.Value.String() != "" {
		return
	}
	if left, ok := timeLeft(); ok && left < 10*time.Minute {
		logf("%v left before go test stops this process, and the whole package takes about 6 minutes here: "+
			"if it is stopped, run go test -timeout 60m ./tests/e2e", left.Round(time.Second))
	}
}

// The pipeline tests' MinIO is the stack's: laketest runs the image
// compose.yaml names, or the one compose.offline.yaml does.
func TestLaketestRunsTheStacksMinIO(t *testing.T) {
	for file, want := range map[string]string{"compose.yaml": laketest.OnlineImage, "compose.offline.yaml": laketest.OfflineImage} {
		if got := readCompose(t, file).Services["minio"].Image; got != want {
			t.Errorf("%s runs MinIO from %s, laketest from %s", file, got, want)
		}
	}
}

// Mode detection asks about every image online mode takes from a registry:
// compose.yaml's third-party images and the services' build image, nothing
// built here.
func TestOnlineModeNeedsTheseImages(t *testing.T) {
	refs, err := registryImages(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	c := readCompose(t, "compose.yaml")
	want := []string{c.Services["kafka"].Image, c.Services["minio"].Image, c.Services["minio-init"].Image, "golang:1.26"}
	sort.Strings(want)
	if !slices.Equal(refs, want) {
		t.Fatalf("registry images %v, want %v", refs, want)
	}
}
