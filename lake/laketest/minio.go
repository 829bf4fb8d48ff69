package laketest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sensorlab/sensorlab/lake"
)

// The images StartMinIO runs: the lab's own MinIO, as the stack gets it.
const (
	// OnlineImage is compose.yaml's minio image.
	OnlineImage = "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z"
	// OfflineImage is compose.offline.yaml's, built from MinIO's Go module by
	// scripts/offline-images.sh on machines without a registry.
	OfflineImage = "sensorlab-offline/minio:dev"
)

// ContainerEndpoint is where the server listens inside its container: the
// address for mc run with Exec.
const ContainerEndpoint = "127.0.0.1:9000"

// Environment variables that steer StartMinIO.
const (
	// EnvOffline, 1 or 0, picks OfflineImage or OnlineImage. Unset, the
	// offline image is used when it exists locally, else the online one.
	EnvOffline = "SENSORLAB_OFFLINE"
	// EnvRequireMinIO, set to 1, turns "no MinIO" (no Docker, no image) from
	// a skip into a failure (CI sets it so that S3 tests cannot silently
	// stop running).
	EnvRequireMinIO = "SENSORLAB_REQUIRE_MINIO"
)

const (
	// readyTimeout bounds the wait for a started server to report ready.
	readyTimeout = 60 * time.Second
	// pullTimeout bounds a pull that has started.
	pullTimeout = 10 * time.Minute
	// containerLabel marks the containers StartMinIO creates.
	containerLabel = "org.sensorlab.laketest"
)

// registryTimeout is how long a pull may go without a word from the
// registry: one that does not answer that fast is taken as absent.
var registryTimeout = 15 * time.Second

// MinIO is a real MinIO server started for one test, in a container of the
// lab's MinIO image, published on 127.0.0.1. The container and its data are
// removed when the test ends.
type MinIO struct {
	// Endpoint is host:port, for lake.S3Config.Endpoint (plain HTTP).
	Endpoint  string
	AccessKey string
	SecretKey string
	// Image is the image the server runs (OfflineImage or OnlineImage).
	Image string

	client    *minio.Client
	docker    string // the docker CLI
	container string // the container's ID

	mu        sync.Mutex // serialises Stop and Restart
	stopWatch func()     // ends the watchdog (see Close)
	closeOnce sync.Once
}

// S3Config returns the settings that reach this server.
func (m *MinIO) S3Config() lake.S3Config {
	return lake.S3Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey}
}

// CreateBucket creates a bucket, failing the test if it cannot.
func (m *MinIO) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := m.MakeBucket(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}

// Bucket creates a bucket and returns the store at its root (s3://name).
func (m *MinIO) Bucket(t testing.TB, name string) lake.Store {
	t.Helper()
	m.CreateBucket(t, name)
	return m.Open(t, "s3://"+name)
}

// Open opens an s3:// URL on this server (the bucket must exist for
// anything but Ping to succeed).
func (m *MinIO) Open(t testing.TB, rawURL string) lake.Store {
	t.Helper()
	s, err := lake.Open(context.Background(), rawURL, m.S3Config())
	if err != nil {
		t.Fatalf("laketest: %v", err)
	}
	return s
}

// engine is what every StartMinIO of a test process shares: the docker CLI
// and the image, found (and pulled, if need be) once.
var engine struct {
	once   sync.Once
	docker string
	image  string
	err    error
}

// ErrUnavailable is what Start returns, wrapped with the reason, when no
// MinIO server can be started here: no docker CLI, no engine answering, or
// no image (SENSORLAB_OFFLINE=1 without OfflineImage, a registry that does
// not answer). StartMinIO skips the test on it.
var ErrUnavailable = errors.New("MinIO unavailable")

// StartMinIO starts a real MinIO server for the test, in a container of the
// lab's MinIO image (OfflineImage or OnlineImage, see EnvOffline), and waits
// until it is ready. It needs the docker CLI and an engine; the online image
// is pulled if missing. Without them the test is skipped, saying why, or
// fails when SENSORLAB_REQUIRE_MINIO=1. The container is removed in
// t.Cleanup.
//
// Each call starts its own server (a second or two): a test that needs many
// stores should use one server and many buckets or prefixes.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	m, err := Start(context.Background())
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv(EnvRequireMinIO) == "1" {
			t.Fatalf("%v (%s=1)", err, EnvRequireMinIO)
		}
		t.Skipf("skipping, needs a MinIO server: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("laketest: minio %s in container %.12s on %s", m.Image, m.container, m.Endpoint)
	return m
}

// Start starts a real MinIO server as StartMinIO does, for code that is not
// a test (the benchmark harnesses): it returns an error wrapping
// ErrUnavailable where StartMinIO would skip, and the caller removes the
// container with Close. On Linux the container is also removed when the
// process dies without calling Close (a kill, a crash). ctx bounds the wait
// for the server to be ready.
func Start(ctx context.Context) (*MinIO, error) {
	engine.once.Do(func() { engine.docker, engine.image, engine.err = findImage() })
	if engine.err != nil {
		return nil, fmt.Errorf("laketest: %w: %w", ErrUnavailable, engine.err)
	}
	m := &MinIO{AccessKey: "sensorlab", SecretKey: "sensorlab-" + rand.Text(), Image: engine.image, docker: engine.docker}
	// A free port can be taken between our probe and the engine's bind: try
	// again then, a bounded number of times.
	var err error
	for range 3 {
		if err = m.run(); !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("laketest: start minio (%s): %w", m.Image, err)
	}
	m.stopWatch = watchdog(m.docker, m.container)
	if m.client, err = newClient(m.Endpoint, m.AccessKey, m.SecretKey); err != nil {
		return nil, errors.Join(fmt.Errorf("laketest: %w", err), m.Close())
	}
	if err := m.waitReady(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("laketest: minio (%s) on %s: %w", m.Image, m.Endpoint, err), m.Close())
	}
	return m, nil
}

// Close removes the server's container and its data. Later calls do
// nothing and return nil.
func (m *MinIO) Close() error {
	var err error
	m.closeOnce.Do(func() {
		if m.stopWatch != nil {
			m.stopWatch()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, rmErr := m.cmd(ctx, nil, "rm", "--force", "--volumes", m.container); rmErr != nil {
			err = fmt.Errorf("laketest: remove minio container %.12s: %v\n%s", m.container, rmErr, out)
		}
	})
	return err
}

// MakeBucket creates a bucket: CreateBucket for code that is not a test.
func (m *MinIO) MakeBucket(ctx context.Context, name string) error {
	if err := m.client.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("laketest: create bucket %q: %w", name, err)
	}
	return nil
}

// Stop stops the server (SIGTERM, SIGKILL after 10s) and keeps its
// container and data: clients see connections refused until Restart. It is
// how tests make the store unavailable.
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := m.cmd(ctx, nil, "stop", "--time", "10", m.container); err != nil {
		t.Fatalf("laketest: stop minio: %v\n%s", err, out)
	}
}

// Restart starts the stopped server again: the same container, so the same
// address, data and credentials (buckets and objects are kept), and waits
// until it is ready. The server must have been stopped with Stop.
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if running, err := m.running(ctx); err != nil {
		t.Fatalf("laketest: restart minio: %v", err)
	} else if running {
		t.Fatal("laketest: Restart of a running minio: call Stop first")
	}
	if out, err := m.cmd(ctx, nil, "start", m.container); err != nil {
		t.Fatalf("laketest: restart minio on %s: %v\n%s", m.Endpoint, err, out)
	}
	if err := m.waitReady(context.Background()); err != nil {
		t.Fatalf("laketest: restart minio on %s: %v", m.Endpoint, err)
	}
}

// Exec runs a command in the server's container and returns its combined
// output. The lab's MinIO images ship /bin/sh and mc; the server listens on
// ContainerEndpoint there. env (KEY=value) is added to the command's
// environment without appearing on any command line.
func (m *MinIO) Exec(ctx context.Context, env []string, command ...string) ([]byte, error) {
	args := []string{"exec"}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		args = append(args, "--env", k) // the value comes from the CLI's environment
	}
	args = append(append(args, m.container), command...)
	return m.cmd(ctx, env, args...)
}

// cmd runs the docker CLI with env added to its environment.
func (m *MinIO) cmd(ctx context.Context, env []string, args ...string) ([]byte, error) {
	c := exec.CommandContext(ctx, m.docker, args...)
	c.Env = append(os.Environ(), env...)
	return c.CombinedOutput()
}

var errPortTaken = errors.New("host port taken")

// run creates and starts the container on a free port of 127.0.0.1.
func (m *MinIO) run() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := fmt.Sprintf("sensorlab-laketest-%d-%s", os.Getpid(), strings.ToLower(rand.Text()[:8]))
	out, err := m.cmd(ctx, []string{"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey},
		"run", "--detach", "--name", name, "--label", containerLabel+"=1",
		"--publish", fmt.Sprintf("127.0.0.1:%d:9000", port),
		"--env", "MINIO_ROOT_USER", "--env", "MINIO_ROOT_PASSWORD",
		"--env", "MINIO_BROWSER=off", // no console: no second port
		"--env", "MINIO_UPDATE=off",
		m.Image, "server", "--quiet", "--address", ":9000", "/data")
	if err != nil {
		// A failed start leaves a created container behind.
		_, _ = m.cmd(context.Background(), nil, "rm", "--force", "--volumes", name)
		if bytes.Contains(out, []byte("already allocated")) || bytes.Contains(out, []byte("address already in use")) {
			return fmt.Errorf("%w: %s", errPortTaken, out)
		}
		return fmt.Errorf("docker run: %v\n%s", err, out)
	}
	m.container = strings.TrimSpace(string(out))
	m.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	return nil
}

// running reports whether the container runs.
func (m *MinIO) running(ctx context.Context) (bool, error) {
	out, err := m.cmd(ctx, nil, "inspect", "--format", "{{.State.Running}}", m.container)
	if err != nil {
		return false, fmt.Errorf("docker inspect: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out)) == "true", nil
}

// waitReady polls until /minio/health/ready answers 200 and an S3 call
// (ListBuckets) succeeds: the health endpoint can turn ready a moment before
// the S3 API stops answering "server not initialized". It gives up when the
// container stops, readyTimeout passes or ctx ends, with the server's last
// log lines.
func (m *MinIO) waitReady(ctx context.Context) error {
	url := "http://" + m.Endpoint + "/minio/health/ready"
	httpClient := &http.Client{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastErr := errors.New("no answer yet")
	lastCheck := time.Now()
	for {
		if resp, err := httpClient.Get(url); err != nil {
			lastErr = err
		} else {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				lastErr = fmt.Errorf("%s: %s", url, resp.Status)
			} else {
				attempt, done := context.WithTimeout(ctx, 2*time.Second)
				_, err := m.client.ListBuckets(attempt)
				done()
				if err == nil {
					return nil
				}
				lastErr = fmt.Errorf("ListBuckets: %w", err)
			}
		}
		if time.Since(lastCheck) > time.Second {
			lastCheck = time.Now()
			if running, err := m.running(ctx); err == nil && !running {
				return fmt.Errorf("the container stopped before the server was ready:\n%s", m.logs())
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w\n%s", readyTimeout, lastErr, m.logs())
		case <-tick.C:
		}
	}
}

// logs returns the container's last log lines, for error messages.
func (m *MinIO) logs() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := m.cmd(ctx, nil, "logs", "--tail", "30", m.container)
	if err != nil {
		return fmt.Sprintf("(docker logs: %v)", err)
	}
	return "minio output:\n" + string(out)
}

// findImage finds the docker CLI, checks that an engine answers, and picks
// the image (pulling the online one if it is missing).
func findImage() (docker, image string, err error) {
	offline := os.Getenv(EnvOffline)
	switch offline {
	case "", "1", "true", "0", "false":
	default:
		return "", "", fmt.Errorf("%s=%q: want 1 (offline image), 0 (online image) or unset", EnvOffline, offline)
	}
	docker, err = exec.LookPath("docker")
	if err != nil {
		return "", "", fmt.Errorf("MinIO runs in a container and there is no docker CLI: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, docker, "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("MinIO runs in a container and no Docker engine answers: %v: %s",
			err, bytes.TrimSpace(out))
	}
	has := func(ref string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, docker, "image", "inspect", "--format", "{{.Id}}", ref).Run() == nil
	}
	switch offline {
	case "1", "true":
		if !has(OfflineImage) {
			return "", "", fmt.Errorf("%s=%s and %s is missing: build it with `scripts/offline-images.sh minio`",
				EnvOffline, offline, OfflineImage)
		}
		return docker, OfflineImage, nil
	case "":
		if has(OfflineImage) {
			return docker, OfflineImage, nil
		}
	}
	if has(OnlineImage) {
		return docker, OnlineImage, nil
	}
	if err := pull(docker, OnlineImage); err != nil {
		return "", "", fmt.Errorf("%v; without a registry, build %s with `scripts/offline-images.sh minio`",
			err, OfflineImage)
	}
	return docker, OnlineImage, nil
}

// pull pulls an image with the docker CLI. A registry that says nothing
// within registryTimeout is taken as absent: the pull is abandoned then,
// rather than left to hang.
func pull(docker, image string) error {
	ctx, cancel := context.WithTimeout(context.Background(), pullTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, docker, "pull", image)
	stdout, err := c.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	c.Stderr = &stderr
	c.WaitDelay = 5 * time.Second // a child of the CLI holding its output cannot hang us
	if err := c.Start(); err != nil {
		return fmt.Errorf("docker pull %s: %w", image, err)
	}
	// The first line ("…: Pulling from …") comes once the registry answered.
	answered := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for first := true; sc.Scan(); first = false {
			if first {
				close(answered)
			}
		}
	}()
	timer := time.NewTimer(registryTimeout)
	defer timer.Stop()
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case <-answered:
		err = <-done
	case err = <-done:
	case <-timer.C:
		cancel()
		<-done
		return fmt.Errorf("docker pull %s: the registry did not answer within %v", image, registryTimeout)
	}
	if err != nil {
		return fmt.Errorf("docker pull %s: %v: %s", image, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// newClient is an admin client for the server: bucket creation and the
// readiness probe. It does not retry: the readiness loop does.
func newClient(endpoint, user, password string) (*minio.Client, error) {
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(user, password, ""),
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, fmt.Errorf("minio client for %s: %w", endpoint, err)
	}
	return c, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
