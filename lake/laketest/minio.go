package laketest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sensorlab/sensorlab/lake"
)

// MinIOVersion is the version of github.com/minio/minio whose binary the
// tests look for in the user cache directory.
const MinIOVersion = "v0.0.0-20260212201848-7aac2a2c5b7c"

// Environment variables that steer StartMinIO.
const (
	// EnvMinIOBin names the minio binary to run, overriding the lookup.
	EnvMinIOBin = "SENSORLAB_MINIO_BIN"
	// EnvRequireMinIO, set to 1, turns "no minio binary" from a skip into a
	// failure (CI sets it so that S3 tests cannot silently stop running).
	EnvRequireMinIO = "SENSORLAB_REQUIRE_MINIO"
)

// readyTimeout bounds the wait for a started server to report ready.
const readyTimeout = 60 * time.Second

// MinIO is a real MinIO server started for one test, listening on 127.0.0.1.
// It is stopped, and its data removed, when the test ends.
type MinIO struct {
	// Endpoint is host:port, for lake.S3Config.Endpoint (plain HTTP).
	Endpoint  string
	AccessKey string
	SecretKey string

	client *minio.Client

	// The running server, and what Restart needs to start it again.
	mu      sync.Mutex
	srv     *server
	bin     string
	dataDir string
}

// S3Config returns the settings that reach this server.
func (m *MinIO) S3Config() lake.S3Config {
	return lake.S3Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey}
}

// CreateBucket creates a bucket, failing the test if it cannot.
func (m *MinIO) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if err := m.client.MakeBucket(context.Background(), name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("laketest: create bucket %q: %v", name, err)
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

// FindMinIO returns the minio binary the tests would run: $SENSORLAB_MINIO_BIN,
// else <user cache dir>/sensorlab/minio/<MinIOVersion>/minio, else minio in
// PATH. The error says how to get one.
func FindMinIO() (string, error) {
	if p := os.Getenv(EnvMinIOBin); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvMinIOBin, p, err)
		}
		return p, nil
	}
	var tried []string
	if dir, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(dir, "sensorlab", "minio", MinIOVersion, "minio")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, nil
	}
	tried = append(tried, "minio in PATH")
	return "", fmt.Errorf("no minio binary (tried %v); build it once with "+
		"`GOBIN=$HOME/.cache/sensorlab/minio/%s go install github.com/minio/minio@%s` "+
		"(a few minutes) or set %s to a minio binary",
		tried, MinIOVersion, MinIOVersion, EnvMinIOBin)
}

// StartMinIO starts a real MinIO server for the test and waits until it is
// ready. Without a binary (see FindMinIO) the test is skipped, or fails when
// SENSORLAB_REQUIRE_MINIO=1. The server is stopped in t.Cleanup.
//
// Each call starts its own server (about a second): a test that needs many
// stores should use one server and many buckets or prefixes.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	bin, err := FindMinIO()
	if err != nil {
		if os.Getenv(EnvRequireMinIO) == "1" {
			t.Fatalf("laketest: %v (%s=1)", err, EnvRequireMinIO)
		}
		t.Skipf("laketest: skipping, needs a MinIO server: %v", err)
	}
	dataDir := t.TempDir()
	m := &MinIO{AccessKey: "sensorlab", SecretKey: "sensorlab-" + rand.Text(), bin: bin, dataDir: dataDir}
	// A free port can be taken between our probe and minio's bind: try again
	// then, a bounded number of times.
	var lastErr error
	for range 3 {
		var srv *server
		srv, lastErr = startServer(bin, dataDir, "", m.AccessKey, m.SecretKey)
		if lastErr == nil {
			m.srv = srv
			t.Cleanup(func() {
				m.mu.Lock()
				defer m.mu.Unlock()
				if err := m.srv.stop(); err != nil {
					t.Errorf("laketest: stop minio: %v", err)
				}
			})
			m.Endpoint = srv.endpoint
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("laketest: start minio %s: %v", bin, lastErr)
	}
	if m.client, err = newClient(m.Endpoint, m.AccessKey, m.SecretKey); err != nil {
		t.Fatalf("laketest: %v", err)
	}
	return m
}

// Stop stops the server (SIGTERM) and keeps its data: clients see
// connections refused until Restart. It is how tests make the store
// unavailable.
func (m *MinIO) Stop(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.srv.stop(); err != nil {
		t.Fatalf("laketest: stop minio: %v", err)
	}
}

// Restart starts the server again on the same address and data directory
// (buckets, objects and credentials are kept) and waits until it is ready.
// The server must have been stopped with Stop.
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.srv.exited:
	default:
		t.Fatal("laketest: Restart of a running minio: call Stop first")
	}
	srv, err := startServer(m.bin, m.dataDir, m.Endpoint, m.AccessKey, m.SecretKey)
	if err != nil {
		t.Fatalf("laketest: restart minio on %s: %v", m.Endpoint, err)
	}
	m.srv = srv
}

// server is one minio child process.
type server struct {
	cmd      *exec.Cmd
	endpoint string
	out      *syncBuffer
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // valid after exited is closed
}

// startServer starts minio on endpoint (host:port), or on a free port of
// 127.0.0.1 when endpoint is empty.
func startServer(bin, dataDir, endpoint, user, password string) (*server, error) {
	if endpoint == "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	}
	s := &server{endpoint: endpoint, out: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "server", "--quiet", "--address", s.endpoint, dataDir)
	s.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+user,
		"MINIO_ROOT_PASSWORD="+password,
		"MINIO_BROWSER=off", // no console: no second port to find
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=1",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = childProcAttr()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	client, err := newClient(s.endpoint, user, password)
	if err != nil {
		_ = s.stop()
		return nil, err
	}
	if err := s.waitReady(client); err != nil {
		_ = s.stop()
		return nil, fmt.Errorf("%w; minio output:\n%s", err, s.out.String())
	}
	return s, nil
}

// waitReady polls until /minio/health/ready answers 200 and an S3 call
// (ListBuckets) succeeds: the health endpoint can turn ready a moment before
// the S3 API stops answering "server not initialized". It gives up when the
// process exits or readyTimeout passes.
func (s *server) waitReady(client *minio.Client) error {
	url := "http://" + s.endpoint + "/minio/health/ready"
	httpClient := &http.Client{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	lastErr := errors.New("no answer yet")
	for {
		if resp, err := httpClient.Get(url); err != nil {
			lastErr = err
		} else {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				lastErr = fmt.Errorf("%s: %s", url, resp.Status)
			} else {
				attempt, done := context.WithTimeout(ctx, 2*time.Second)
				_, err := client.ListBuckets(attempt)
				done()
				if err == nil {
					return nil
				}
				lastErr = fmt.Errorf("ListBuckets: %w", err)
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("minio exited before it was ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("minio not ready after %v: %w", readyTimeout, lastErr)
		case <-tick.C:
		}
	}
}

// stop asks minio to exit (SIGTERM) and kills it if it has not within 10s.
func (s *server) stop() error {
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case <-s.exited:
		return nil
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("minio ignored SIGTERM for 10s and was killed")
	}
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

// syncBuffer collects the server's output for error messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // enough to diagnose; drop the rest
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
