// Package probe is the devbroker's stand-in for Kafka's
// kafka-broker-api-versions.sh: it sends an ApiVersions request to the
// bootstrap server and prints the api versions the broker supports. It exits
// 0 only when the broker answered without error, which is what a compose
// healthcheck written for the apache/kafka image expects.
package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ScriptName is the name the probe answers to when the devbroker binary is
// invoked through it (argv[0]).
const ScriptName = "kafka-broker-api-versions.sh"

// ErrBroker reports a broker that answered ApiVersions with an error.
var ErrBroker = errors.New("broker error")

// Main runs the probe with Kafka's command-line flags (without the program
// name) and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(ScriptName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	bootstrap := fs.String("bootstrap-server", "", "REQUIRED: the server to connect to, host:port (a comma-separated list is tried in order)")
	_ = fs.String("command-config", "", "accepted for compatibility, ignored: the devbroker has no security settings")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *bootstrap == "" {
		fmt.Fprintln(stderr, "Missing required argument \"[bootstrap-server]\"")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var errs []error
	for _, addr := range strings.Split(*bootstrap, ",") {
		addr = strings.TrimSpace(addr)
		resp, err := APIVersions(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "%s -> (\n", addr)
		for _, k := range resp.ApiKeys {
			fmt.Fprintf(stdout, "\t%s(%d): %d to %d,\n", kmsg.NameForKey(k.ApiKey), k.ApiKey, k.MinVersion, k.MaxVersion)
		}
		fmt.Fprintln(stdout, ")")
		return 0
	}
	fmt.Fprintf(stderr, "no broker answered: %v\n", errors.Join(errs...))
	return 1
}

// APIVersions sends one ApiVersions v0 request to addr on a new connection
// and returns the response. Version 0 is understood by every broker.
func APIVersions(ctx context.Context, addr string) (*kmsg.ApiVersionsResponse, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, fmt.Errorf("set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	const corr = 1
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID(ScriptName)).AppendRequest(nil, req, corr)
	if _, err := conn.Write(frame); err != nil {
		return nil, fmt.Errorf("send ApiVersions to %s: %w", addr, err)
	}

	var hdr [8]byte // size, correlation id (ApiVersions responses use header v0)
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, fmt.Errorf("read ApiVersions response from %s: %w", addr, err)
	}
	size := binary.BigEndian.Uint32(hdr[:4])
	if size < 4 || size > 1<<20 {
		return nil, fmt.Errorf("ApiVersions response from %s: %d bytes: not kafka", addr, size)
	}
	if got := int32(binary.BigEndian.Uint32(hdr[4:])); got != corr {
		return nil, fmt.Errorf("ApiVersions response from %s: correlation id %d, want %d", addr, got, corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(conn, body); err != nil {
		return nil, fmt.Errorf("read ApiVersions response from %s: %w", addr, err)
	}
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode ApiVersions response from %s: %w", addr, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("ApiVersions from %s: %w: %w", addr, ErrBroker, err)
	}
	return resp, nil
}
