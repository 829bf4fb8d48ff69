package e2e

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// fakeEngine is a Docker engine API with no image, whose distribution
// endpoint (the registry, through the engine) answers with registry, or
// never when registry is nil.
func fakeEngine(t *testing.T, registry http.HandlerFunc) *testcontainers.DockerClient {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "/distribution/"):
			if registry == nil {
				<-r.Context().Done() // a registry that never answers
				return
			}
			registry(w, r)
		case strings.Contains(r.URL.Path, "/images/"):
			http.Error(w, `{"message":"No such image"}`, http.StatusNotFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	cli, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return &testcontainers.DockerClient{Client: cli}
}

// A registry that does not answer is told apart within registryTimeout (the
// issue: the tests hung on a pull), and the reason says so.
func TestModeOfflineWhenTheRegistryIsSilent(t *testing.T) {
	t.Setenv(envOffline, "")
	defer func(d time.Duration) { registryTimeout = d }(registryTimeout)
	registryTimeout = 300 * time.Millisecond
	t0 := time.Now()
	offline, why, err := chooseMode(t.Context(), fakeEngine(t, nil), repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("deciding took %v, want about %v", d, registryTimeout)
	}
	if !offline || !strings.Contains(why, "no answer within") {
		t.Fatalf("silent registry: offline=%v (%s); want offline, saying the registry did not answer", offline, why)
	}
}

// A registry that answers for every image makes the mode online; one that
// refuses one image makes it offline, naming the image.
func TestModeFollowsTheRegistry(t *testing.T) {
	t.Setenv(envOffline, "")
	answers := fakeEngine(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"Descriptor":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}}`))
	})
	if offline, why, err := chooseMode(t.Context(), answers, repoRoot(t)); err != nil || offline {
		t.Errorf("registry answering: offline=%v (%s), %v; want online", offline, why, err)
	}
	refuses := fakeEngine(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "golang") {
			http.Error(w, `{"message":"dial tcp: lookup registry-1.docker.io: no such host"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	})
	offline, why, err := chooseMode(t.Context(), refuses, repoRoot(t))
	if err != nil || !offline || !strings.Contains(why, "golang:1.26") || !strings.Contains(why, "no such host") {
		t.Errorf("registry refusing golang:1.26: offline=%v (%s), %v; want offline naming golang:1.26 and the error", offline, why, err)
	}
	for v, want := range map[string]bool{"1": true, "0": false} {
		t.Setenv(envOffline, v)
		if offline, why, err := chooseMode(t.Context(), refuses, repoRoot(t)); err != nil || offline != want || !strings.Contains(why, envOffline) {
			t.Errorf("%s=%s: offline=%v (%s), %v; want %v, saying why", envOffline, v, offline, why, err, want)
		}
	}
	t.Setenv(envOffline, "maybe")
	if _, _, err := chooseMode(t.Context(), refuses, repoRoot(t)); err == nil || !strings.Contains(err.Error(), envOffline) {
		t.Errorf("%s=maybe: %v; want an error naming the variable", envOffline, err)
	}
}
