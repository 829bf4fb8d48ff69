package laketest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sensorlab/sensorlab/lake"
)

// A stopped server refuses requests; restarted, it is on the same address
// and serves the objects written before the stop, with the same credentials.
func TestMinIOStopRestartKeepsData(t *testing.T) {
	m := StartMinIO(t)
	st := m.Bucket(t, "lake")
	ctx := context.Background()
	if err := st.Put(ctx, "k", []byte("before the outage")); err != nil {
		t.Fatal(err)
	}
	endpoint := m.Endpoint
	m.Stop(t)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := st.Ping(pctx); err == nil {
		t.Fatal("Ping succeeded while the server was stopped")
	}
	m.Restart(t)
	if m.Endpoint != endpoint {
		t.Fatalf("restarted on %s, was %s", m.Endpoint, endpoint)
	}
	got, err := st.Get(ctx, "k")
	if err != nil || string(got) != "before the outage" {
		t.Fatalf("after restart Get = %q, %v; want the object written before the stop", got, err)
	}
}

// The mc inside the image reaches the server through ContainerEndpoint, with
// credentials passed as environment, and sees what the S3 API wrote.
func TestMinIOExecRunsMC(t *testing.T) {
	m := StartMinIO(t)
	st := m.Bucket(t, "lake")
	ctx := context.Background()
	if err := st.Put(ctx, "stream/x.parquet", []byte("x")); err != nil {
		t.Fatal(err)
	}
	out, err := m.Exec(ctx, []string{"ROOT_USER=" + m.AccessKey, "ROOT_PASSWORD=" + m.SecretKey}, "/bin/sh", "-c",
		`mc alias set t http://`+ContainerEndpoint+` "$ROOT_USER" "$ROOT_PASSWORD" >/dev/null && mc ls --recursive t/lake`)
	if err != nil {
		t.Fatalf("mc in the container: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "stream/x.parquet") {
		t.Fatalf("mc ls lists:\n%s\nwant stream/x.parquet", out)
	}
	if strings.Contains(string(out), m.SecretKey) {
		t.Fatal("the secret key appears in mc's output")
	}
}

// The container, and its data, are gone once the test that started it ends.
func TestMinIOContainerRemovedWithTheTest(t *testing.T) {
	var m *MinIO
	t.Run("server", func(t *testing.T) { m = StartMinIO(t) })
	if m == nil || m.container == "" {
		t.Skip("no server was started")
	}
	out, err := exec.Command(m.docker, "container", "inspect", m.container).CombinedOutput()
	if err == nil {
		t.Fatalf("container %.12s still exists after its test ended", m.container)
	}
	if !strings.Contains(strings.ToLower(string(out)), "no such") {
		t.Fatalf("docker container inspect %.12s: %v\n%s", m.container, err, out)
	}
}

// Without a docker CLI, or with a SENSORLAB_OFFLINE it cannot read, the
// reason StartMinIO gives says what is missing.
func TestFindImageSaysWhatIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(EnvOffline, "")
	if _, _, err := findImage(); err == nil || !strings.Contains(err.Error(), "no docker CLI") {
		t.Errorf("findImage without docker = %v; want an error saying there is no docker CLI", err)
	}
	t.Setenv(EnvOffline, "maybe")
	if _, _, err := findImage(); err == nil || !strings.Contains(err.Error(), EnvOffline) {
		t.Errorf("findImage with %s=maybe = %v; want an error naming the variable", EnvOffline, err)
	}
}

// A registry that says nothing (here a docker CLI that never prints) is
// given up on after registryTimeout, with a message saying so, rather than
// left to hang the test.
func TestPullGivesUpOnASilentRegistry(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "docker")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { registryTimeout = d }(registryTimeout)
	registryTimeout = 300 * time.Millisecond
	t0 := time.Now()
	err := pull(fake, OnlineImage)
	if err == nil || !strings.Contains(err.Error(), "did not answer within") {
		t.Fatalf("pull from a silent registry = %v; want an error saying it did not answer", err)
	}
	if d := time.Since(t0); d > 10*time.Second {
		t.Fatalf("pull gave up after %v, want about %v", d, registryTimeout)
	}
}

// A server started outside a test serves S3 until Close, which removes its
// container; a second Close does nothing.
func TestStartAndCloseOutsideATest(t *testing.T) {
	ctx := context.Background()
	m, err := Start(ctx)
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv(EnvRequireMinIO) == "1" {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	container := m.container
	if err := m.MakeBucket(ctx, "lake"); err != nil {
		t.Fatal(err)
	}
	st, err := lake.Open(ctx, "s3://lake", m.S3Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put on a started server: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(m.docker, "container", "inspect", container).CombinedOutput()
	if err == nil || !strings.Contains(strings.ToLower(string(out)), "no such") {
		t.Fatalf("container %.12s after Close: inspect = %v\n%s; want it gone", container, err, out)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
}
