package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ledger records which member runs a batch of which partition, and fails
// the test if two run one partition's batches at once: ownership must move
// only between batches.
type ledger struct {
	t       *testing.T
	mu      sync.Mutex
	inBatch map[int32]string
	batches map[string]map[int32]int // member → partition → batches run
	overlap []string
}

func newLedger(t *testing.T) *ledger {
	return &ledger{t: t, inBatch: map[int32]string{}, batches: map[string]map[int32]int{}}
}

// task is a member's Task: batches of 250 ms (longer than a rebalance takes
// on kfake) until its context ends.
func (l *ledger) task(member string) Task {
	return func(ctx context.Context, p int32, _ int32) error {
		for ctx.Err() == nil {
			l.mu.Lock()
			if other, ok := l.inBatch[p]; ok {
				l.overlap = append(l.overlap, fmt.Sprintf("partition %d: %s started a batch while %s ran one", p, member, other))
			}
			l.inBatch[p] = member
			l.mu.Unlock()
			time.Sleep(250 * time.Millisecond)
			l.mu.Lock()
			delete(l.inBatch, p)
			if l.batches[member] == nil {
				l.batches[member] = map[int32]int{}
			}
			l.batches[member][p]++
			l.mu.Unlock()
		}
		return nil
	}
}

func (l *ledger) check() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.overlap) > 0 {
		l.t.Fatalf("ownership moved during a batch:\n%s", strings.Join(l.overlap, "\n"))
	}
}

func cluster(t *testing.T, partitions int32) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.SeedTopics(partitions, "readings"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func options(brokers []string) Options {
	return Options{Brokers: brokers, Group: "replicas", Topic: "readings", StopTimeout: 10 * time.Second,
		Logger:    slog.New(slog.DiscardHandler),
		ExtraOpts: []kgo.Opt{kgo.HeartbeatInterval(50 * time.Millisecond), kgo.RebalanceTimeout(5 * time.Second)}}
}

// waitOwned waits until the members own want between them, each partition
// once, and returns what each owns.
func waitOwned(t *testing.T, want []int32, ms ...*Member) [][]int32 {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		owned := make([][]int32, len(ms))
		var all []int32
		for i, m := range ms {
			owned[i] = m.Owned()
			all = append(all, owned[i]...)
		}
		slices.Sort(all)
		if slices.Equal(all, want) {
			return owned
		}
		if time.Now().After(deadline) {
			t.Fatalf("members own %v, want %v between them", owned, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One member owns every partition; a second one takes a share, a partition
// moving only between two of its batches; when a member leaves, the other
// takes its partitions over without waiting for a session timeout.
func TestMembersShareThePartitionsAndMoveThemBetweenBatches(t *testing.T) {
	brokers := cluster(t, 4)
	l := newLedger(t)
	a, err := Join(options(brokers), l.task("a"))
	if err != nil {
		t.Fatal(err)
	}
	all := []int32{0, 1, 2, 3}
	waitOwned(t, all, a)
	time.Sleep(50 * time.Millisecond)

	b, err := Join(options(brokers), l.task("b"))
	if err != nil {
		t.Fatal(err)
	}
	var owned [][]int32
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		owned = waitOwned(t, all, a, b)
		if len(owned[0]) == 2 && len(owned[1]) == 2 {
			break
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("two members own %v, want two partitions each", owned)
		}
	}
	// b runs batches of the partitions it took.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		l.mu.Lock()
		ran := 0
		for _, p := range owned[1] {
			if l.batches["b"][p] > 0 {
				ran++
			}
		}
		l.mu.Unlock()
		if ran == len(owned[1]) {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("b owns partitions %v but ran batches of %d of them", owned[1], ran)
		}
	}
	l.check()

	left := time.Now()
	a.Leave()
	waitOwned(t, all, b)
	if d := time.Since(left); d > 10*time.Second {
		t.Errorf("b took the partitions over %v after a left: the leave was not announced", d)
	}
	l.check()
	b.Leave()
	if got := b.Owned(); len(got) != 0 {
		t.Fatalf("after Leave the member still runs tasks for %v", got)
	}
	l.check()
}

// A task that fails while its partition is owned stops the replica: Run
// returns the error naming the partition, after stopping the other tasks.
func TestATaskThatFailsStopsTheReplica(t *testing.T) {
	brokers := cluster(t, 2)
	var mu sync.Mutex
	stopped := map[int32]bool{}
	boom := errors.New("checkpoint in use by another streamer")
	task := func(ctx context.Context, p int32, _ int32) error {
		if p == 1 {
			time.Sleep(20 * time.Millisecond)
			return boom
		}
		<-ctx.Done()
		mu.Lock()
		stopped[p] = true
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := Run(ctx, options(brokers), task)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "partition 1: ") {
		t.Fatalf("Run returned %v, want partition 1's error", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !stopped[0] {
		t.Fatal("partition 0's task still ran when Run returned")
	}
}

// A revocation waits for a task that does not stop only StopTimeout long.
func TestStopGivesUpOnATaskAfterStopTimeout(t *testing.T) {
	brokers := cluster(t, 1)
	o := options(brokers)
	o.StopTimeout = 200 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	m, err := Join(o, func(ctx context.Context, p int32, _ int32) error { <-release; return nil })
	if err != nil {
		t.Fatal(err)
	}
	waitOwned(t, []int32{0}, m)
	start := time.Now()
	m.Leave()
	if d := time.Since(start); d < 200*time.Millisecond || d > 5*time.Second {
		t.Fatalf("Leave took %v with a task that never stops, want about StopTimeout (200ms)", d)
	}
}

// A task whose error says another member wrote its partition's checkpoint
// (a zombie, this member or the other) does not fail the replica: it is
// run afresh until it goes on; any other error fails the replica.
func TestAMigratedTaskRunsAfresh(t *testing.T) {
	brokers := cluster(t, 2)
	errMoved := errors.New("checkpoint in use by another streamer")
	o := options(brokers)
	o.SessionTimeout = 6 * time.Second
	o.Migrated = func(err error) bool { return errors.Is(err, errMoved) }
	var mu sync.Mutex
	runs := 0
	m, err := Join(o, func(ctx context.Context, p int32, _ int32) error {
		if p == 0 {
			mu.Lock()
			runs++
			n := runs
			mu.Unlock()
			if n == 1 {
				return errMoved
			}
		}
		<-ctx.Done()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitOwned(t, []int32{0, 1}, m)
	select {
	case err := <-m.Failed():
		t.Fatalf("a migrated task failed the replica: %v", err)
	case <-time.After(3 * time.Second):
	}
	mu.Lock()
	if runs != 2 {
		t.Errorf("partition 0's task ran %d times, want once more after the error", runs)
	}
	mu.Unlock()
	start := time.Now()
	m.Leave()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Leave waited %v", d)
	}
}
