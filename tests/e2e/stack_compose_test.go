package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/modules/compose"
)

// The stack tests drive the project's own compose.yaml through testcontainers'
// compose module (which embeds Compose v2), in one of two modes:
//
//   - online (a user's machine): compose.yaml alone; Compose pulls Kafka and
//     MinIO and builds the services from their Dockerfiles;
//   - offline (no registry: this machine kind, CI): compose.yaml plus
//     compose.offline.yaml, which swaps only image sources for the images
//     scripts/offline-images.sh builds from local files. The test runs that
//     script first (it is idempotent and cached), so that it never tests stale
//     binaries; SENSORLAB_SKIP_IMAGE_BUILD=1 skips that step.
//
// SENSORLAB_OFFLINE=1 selects offline, =0 online; unset, offline is chosen
// when the offline images exist locally and compose.yaml's apache/kafka image
// does not.
//
// Docker absent: the tests skip, unless SENSORLAB_REQUIRE_DOCKER=1 (CI),
// which makes that a failure.

// The host ports compose.yaml publishes (on 127.0.0.1). They are fixed, so two
// stacks cannot run at once: the stack tests run one after the other.
var stackPorts = map[string]int{
	"kafka (host listener)": 9092,
	"minio S3 API":          9000,
	"minio console":         9001,
	"producer HTTP":         8081,
	"streamer HTTP":         8082,
	"batcher HTTP":          8083,
}

const (
	onlineKafkaImage = "apache/kafka:4.1.1" // compose.yaml's kafka image
	offlineTag       = "dev"                // scripts/offline-images.sh's default OFFLINE_TAG
)

var offlineImages = []string{"devbroker", "minio", "producer", "streamer", "batcher"}

// requireDocker skips (or, with SENSORLAB_REQUIRE_DOCKER=1, fails) when no
// Docker engine answers, and returns a client of it otherwise.
func requireDocker(t *testing.T) *testcontainers.DockerClient {
	t.Helper()
	// Ryuk, testcontainers' reaper, is an image to pull: not possible offline.
	// The tests clean up after themselves instead. Read once by testcontainers,
	// so it must be set before its first call.
	if _, ok := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !ok {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	cli, err := dockerClient()
	if err != nil {
		msg := fmt.Sprintf("no Docker engine answers (%v): the stack tests need one", err)
		if os.Getenv("SENSORLAB_REQUIRE_DOCKER") == "1" {
			t.Fatal(msg + " (SENSORLAB_REQUIRE_DOCKER=1)")
		}
		t.Skip(msg + "; set SENSORLAB_REQUIRE_DOCKER=1 to make this a failure")
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

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

// stackFiles decides online or offline mode and returns the compose files to use.
func stackFiles(t *testing.T, cli *testcontainers.DockerClient) []string {
	t.Helper()
	root := repoRoot(t)
	files := []string{filepath.Join(root, "compose.yaml")}
	var offline bool
	switch v := os.Getenv("SENSORLAB_OFFLINE"); v {
	case "1", "true":
		offline = true
	case "0", "false":
		offline = false
	case "":
		offline = hasImage(cli, "sensorlab-offline/devbroker:"+offlineTag) && !hasImage(cli, onlineKafkaImage)
	default:
		t.Fatalf("SENSORLAB_OFFLINE=%q: want 1 (offline), 0 (online) or unset (detect)", v)
	}
	if offline {
		files = append(files, filepath.Join(root, "compose.offline.yaml"))
		buildOfflineImages(t, cli)
	}
	t.Logf("stack mode: offline=%v, compose files %v", offline, files)
	return append(files, filepath.Join(root, "tests", "e2e", "testdata", "compose.e2e.yaml"))
}

func hasImage(cli *testcontainers.DockerClient, ref string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := cli.ImageInspect(ctx, ref)
	return err == nil
}

var (
	imagesOnce sync.Once
	imagesErr  error
)

// buildOfflineImages runs scripts/offline-images.sh once per test binary, so
// that offline mode tests the binaries of this checkout, then checks that
// every image compose.offline.yaml names exists.
func buildOfflineImages(t *testing.T, cli *testcontainers.DockerClient) {
	t.Helper()
	imagesOnce.Do(func() {
		if os.Getenv("SENSORLAB_SKIP_IMAGE_BUILD") == "1" {
			return
		}
		start := time.Now()
		cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "offline-images.sh"))
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			imagesErr = fmt.Errorf("scripts/offline-images.sh: %w\n%s", err, out)
			return
		}
		t.Logf("offline images built in %v", time.Since(start).Round(100*time.Millisecond))
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	for _, name := range offlineImages {
		ref := "sensorlab-offline/" + name + ":" + offlineTag
		if !hasImage(cli, ref) {
			t.Fatalf("offline image %s is missing: run scripts/offline-images.sh", ref)
		}
	}
}

// checkPortsFree fails when a port the stack publishes is taken (another
// stack, or a service run by hand): Compose would fail later and less clearly.
func checkPortsFree(t *testing.T) {
	t.Helper()
	var busy []string
	for what, port := range stackPorts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			busy = append(busy, fmt.Sprintf("%d (%s)", port, what))
			continue
		}
		_ = ln.Close()
	}
	if len(busy) > 0 {
		t.Fatalf("host ports the stack publishes are taken: %s; is another stack running? (docker ps)",
			strings.Join(busy, ", "))
	}
}

// stack is one compose project brought up for one test.
type stack struct {
	t       *testing.T
	name    string
	compose *compose.DockerCompose
	docker  *testcontainers.DockerClient
}

// producerStream is the known stream the producer service sends (see
// testdata/compose.e2e.yaml).
type producerStream struct {
	Seed            uint64
	Count           int64
	Rate            int // records per second
	StartTime       string
	Step            time.Duration
	InvalidFraction float64
}

func (p producerStream) env() map[string]string {
	return map[string]string{
		"E2E_SEED":             fmt.Sprint(p.Seed),
		"E2E_COUNT":            fmt.Sprint(p.Count),
		"E2E_RATE":             fmt.Sprint(p.Rate),
		"E2E_START_TIME":       p.StartTime,
		"E2E_STEP":             p.Step.String(),
		"E2E_INVALID_FRACTION": fmt.Sprint(p.InvalidFraction),
	}
}

// newStack prepares a compose project with a name of its own and registers
// its teardown (containers, networks and volumes, even when the test fails;
// with the services' last log lines first, when it did).
func newStack(t *testing.T, scenario string, stream producerStream) *stack {
	t.Helper()
	cli := requireDocker(t)
	files := stackFiles(t, cli)
	checkPortsFree(t)
	name := fmt.Sprintf("sensorlab-e2e-%s-%d-%d", scenario, os.Getpid(), time.Now().UnixNano()%1e9)
	c, err := compose.NewDockerComposeWith(compose.WithStackFiles(files...), compose.StackIdentifier(name),
		compose.WithLogger(tclog.TestLogger(t)))
	if err != nil {
		t.Fatalf("compose %s: %v", name, err)
	}
	c.WithEnv(stream.env())
	s := &stack{t: t, name: name, compose: c, docker: cli}
	t.Cleanup(s.teardown)
	return s
}

// up brings the stack up. The producer starts only once the streamer is
// healthy, and the streamer becomes healthy only once the events topic
// exists, which the test creates meanwhile through the host listener, as the
// seed lab's setup did (`kafka-topics --create`, 3 partitions).
func (s *stack) up(ctx context.Context) {
	s.t.Helper()
	start := time.Now()
	upErr := make(chan error, 1)
	go func() { upErr <- s.compose.Up(ctx) }()
	topicErr := createEventsTopic(ctx)
	if err := <-upErr; err != nil {
		s.t.Fatalf("compose up %s: %v (events topic: %v)", s.name, err, topicErr)
	}
	if topicErr != nil {
		s.t.Fatalf("create the events topic through 127.0.0.1:9092: %v", topicErr)
	}
	s.t.Logf("stack %s up in %v", s.name, time.Since(start).Round(100*time.Millisecond))
}

func (s *stack) teardown() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if s.t.Failed() {
		for _, svc := range []string{"kafka", "minio", "minio-init", "producer", "streamer", "batcher"} {
			s.t.Logf("--- last log lines of %s:\n%s", svc, s.logs(ctx, svc, 25))
		}
	}
	start := time.Now()
	if err := s.compose.Down(ctx, compose.RemoveOrphans(true), compose.RemoveVolumes(true)); err != nil {
		s.t.Errorf("compose down %s: %v", s.name, err)
	}
	_ = s.compose.Close()
	s.t.Logf("stack %s down (containers, network, volumes) in %v", s.name, time.Since(start).Round(100*time.Millisecond))
}

// container returns a service's container.
func (s *stack) container(ctx context.Context, svc string) *testcontainers.DockerContainer {
	s.t.Helper()
	c, err := s.compose.ServiceContainer(ctx, svc)
	if err != nil {
		s.t.Fatalf("service %s: %v", svc, err)
	}
	return c
}

// state returns a service container's state.
func (s *stack) state(ctx context.Context, svc string) (status string, exitCode int, err error) {
	c, err := s.compose.ServiceContainer(ctx, svc)
	if err != nil {
		return "", 0, err
	}
	st, err := c.State(ctx)
	if err != nil {
		return "", 0, err
	}
	return string(st.Status), st.ExitCode, nil
}

// logs returns the last n lines a service logged.
func (s *stack) logs(ctx context.Context, svc string, n int) string {
	c, err := s.compose.ServiceContainer(ctx, svc)
	if err != nil {
		return fmt.Sprintf("(no container: %v)", err)
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(logs: %v)", err)
	}
	defer rc.Close()
	var lines []string
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		lines = append(lines, fmt.Sprintf("(reading logs: %v)", err))
	}
	return strings.Join(lines, "\n")
}

// stop stops a service's container as `docker compose stop` does: SIGTERM,
// then SIGKILL after the service's stop_grace_period.
func (s *stack) stop(ctx context.Context, svc string) {
	s.t.Helper()
	if err := s.container(ctx, svc).Stop(ctx, nil); err != nil {
		s.t.Fatalf("stop %s: %v", svc, err)
	}
}

// kill sends SIGKILL to a service's container: no shutdown code runs.
func (s *stack) kill(ctx context.Context, svc string) {
	s.t.Helper()
	id := s.container(ctx, svc).GetContainerID()
	if _, err := s.docker.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		s.t.Fatalf("kill %s: %v", svc, err)
	}
	waitFor(s.t, ctx, svc+" to be dead after SIGKILL", func() (bool, string) {
		status, code, err := s.state(ctx, svc)
		if err != nil {
			return false, err.Error()
		}
		return status != "running", fmt.Sprintf("status %s, exit code %d", status, code)
	})
}

// start starts a stopped service's container again.
func (s *stack) start(ctx context.Context, svc string) {
	s.t.Helper()
	if err := s.container(ctx, svc).Start(ctx); err != nil {
		s.t.Fatalf("start %s: %v", svc, err)
	}
}
