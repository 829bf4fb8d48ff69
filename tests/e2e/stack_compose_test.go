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
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/modules/compose"
)

// The stack tests drive the project's own compose.yaml through testcontainers'
// compose module (which embeds Compose v2), in the mode TestMain chose and
// prepared (main_test.go):
//
//   - online (a user's machine): compose.yaml alone; Compose uses the pulled
//     Kafka and MinIO images and builds the services from
//     deploy/service.Dockerfile;
//   - offline (no registry: this machine kind, CI): compose.yaml plus
//     compose.offline.yaml, which swaps only image sources for the images
//     scripts/offline-images.sh built from local files.
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
	"streamer front HTTP":   8082,
	"batcher HTTP":          8083,
}

// requireDocker skips (or, with SENSORLAB_REQUIRE_DOCKER=1, fails) when no
// Docker engine answered TestMain, and returns a client of it otherwise.
func requireDocker(t *testing.T) *testcontainers.DockerClient {
	t.Helper()
	if setup.docker == nil {
		msg := fmt.Sprintf("no Docker engine answers (%v): this test needs one", setup.dockerErr)
		if os.Getenv(envRequireDocker) == "1" {
			t.Fatal(msg + " (" + envRequireDocker + "=1)")
		}
		t.Skip(msg + "; set " + envRequireDocker + "=1 to make this a failure")
	}
	return setup.docker
}

// dockerCLI returns the docker CLI, when an engine answers (see requireDocker).
func dockerCLI(t *testing.T) string {
	t.Helper()
	requireDocker(t)
	bin, err := exec.LookPath("docker")
	if err != nil {
		t.Fatalf("no docker CLI: %v", err) // TestMain checked it
	}
	return bin
}

// stackFiles returns the compose files of TestMain's mode, and the test's
// override.
func stackFiles(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	files := []string{filepath.Join(root, "compose.yaml")}
	if setup.offline {
		files = append(files, filepath.Join(root, "compose.offline.yaml"))
	}
	t.Logf("stack mode %s: compose files %v", modeName(setup.offline), files)
	return append(files, filepath.Join(root, "tests", "e2e", "testdata", "compose.e2e.yaml"))
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
	return newScaledStack(t, scenario, stream, 1)
}

// newScaledStack is newStack with the streamer service scaled to replicas,
// as `docker compose up --scale streamer=N` does.
func newScaledStack(t *testing.T, scenario string, stream producerStream, replicas int) *stack {
	t.Helper()
	cli := requireDocker(t)
	files := stackFiles(t)
	checkPortsFree(t)
	name := fmt.Sprintf("sensorlab-e2e-%s-%d-%d", scenario, os.Getpid(), time.Now().UnixNano()%1e9)
	opts := []compose.ComposeStackOption{compose.WithStackFiles(files...), compose.StackIdentifier(name),
		compose.WithLogger(tclog.TestLogger(t))}
	if replicas != 1 {
		opts = append(opts, compose.WithStackReaders(strings.NewReader(fmt.Sprintf("services:\n  streamer:\n    scale: %d\n", replicas))))
	}
	c, err := compose.NewDockerComposeWith(opts...)
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
		for _, svc := range []string{"kafka", "minio", "minio-init", "producer", "streamer", "streamer-front", "batcher"} {
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

// replicas returns the containers of a scaled service, by ID, with their
// addresses on the stack's network.
func (s *stack) replicas(ctx context.Context, svc string) map[string]string {
	s.t.Helper()
	res, err := s.docker.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", "com.docker.compose.project="+s.name).Add("label", "com.docker.compose.service="+svc)})
	if err != nil {
		s.t.Fatalf("containers of %s: %v", svc, err)
	}
	out := map[string]string{}
	for _, c := range res.Items {
		out[c.ID] = ""
		if c.NetworkSettings != nil {
			for _, n := range c.NetworkSettings.Networks {
				if n != nil && n.IPAddress.IsValid() {
					out[c.ID] = n.IPAddress.String()
				}
			}
		}
	}
	return out
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
