package probe

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

func TestProbeSucceedsAgainstABroker(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]

	var out, errOut bytes.Buffer
	// The first bootstrap server is down: the probe tries the next, like Kafka's.
	code := Main(t.Context(), []string{"--bootstrap-server", closedAddr(t) + "," + addr}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut.String())
	}
	for _, want := range []string{addr + " -> (", "\tProduce(0): ", "\tApiVersions(18): "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestProbeFailsWithoutABroker(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main(t.Context(), []string{"--bootstrap-server", closedAddr(t)}, &out, &errOut); code != 1 {
		t.Errorf("exit %d with no broker, want 1 (a failing healthcheck)", code)
	}
	if code := Main(t.Context(), nil, &out, &errOut); code != 2 {
		t.Errorf("exit %d without --bootstrap-server, want 2", code)
	}
}

// A non-Kafka server that answers garbage must not pass the healthcheck.
func TestProbeFailsAgainstANonKafkaServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	}()
	var out, errOut bytes.Buffer
	if code := Main(t.Context(), []string{"--bootstrap-server", ln.Addr().String()}, &out, &errOut); code != 1 {
		t.Errorf("exit %d against an HTTP server, want 1", code)
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
