package source

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Open waits for a topic that does not exist yet, with backoff, and
// returns once it does.
func TestOpenWaitsForTheTopic(t *testing.T) {
	c, err := kfake.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	type result struct {
		src *Source
		err error
	}
	done := make(chan result, 1)
	go func() {
		src, err := Open(ctx, Options{Brokers: c.ListenAddrs(), Topic: "later", Logger: log})
		done <- result{src, err}
	}()
	for !strings.Contains(logs.String(), `"retry_in":"400ms"`) { // two attempts failed
		select {
		case r := <-done:
			t.Fatalf("Open returned before the topic existed: %v", r.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "later"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("Open after the topic was created: %v", r.err)
	}
	defer r.src.Close()
	if got := r.src.Partitions(); !slices.Equal(got, []int32{0, 1}) {
		t.Fatalf("partitions %v, want [0 1]", got)
	}
	if !strings.Contains(logs.String(), `"retry_in":"200ms"`) {
		t.Fatalf("the first wait is not 200ms:\n%s", logs.String())
	}
}

// Open gives up when its context ends, naming the topic and the last error.
func TestOpenStopsWithTheContext(t *testing.T) {
	c, err := kfake.NewCluster()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err = Open(ctx, Options{Brokers: c.ListenAddrs(), Topic: "never"})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `topic "never"`) || !strings.Contains(err.Error(), "last error") {
		t.Fatalf("Open after its context ended: %v", err)
	}
}

func TestTopicBackOffSchedule(t *testing.T) {
	b := topicBackOff()
	ms := time.Millisecond
	for i, want := range []time.Duration{200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5 * time.Second, 5 * time.Second} {
		if got := b.NextBackOff(); got != want {
			t.Errorf("wait %d is %v, want %v", i+1, got, want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
