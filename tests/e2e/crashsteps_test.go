package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/tests/e2e/internal/deltaread"
)

// A streamer batch with output writes, in order (docs/checkpoint-protocol.md):
// its offsets entry (the plan), its data files, the stream table's commit
// (the Delta log entry with its txn), then its state and checkpoint commit.
// TestCrashAtEveryCommitStep kills it with SIGKILL the moment each of
// these steps' files appears in a local lake (fsnotify), so that the kills
// land before the data files, between them and the log entry, and after
// the log entry before the checkpoint commit, several times each; it
// checks where each kill landed, and that after restarts the lake equals
// the reference exactly: nothing lost, nothing duplicated.
func TestCrashAtEveryCommitStep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newPipeline(t, false)
	dir := strings.TrimPrefix(p.lakeURL, "file://")
	p.produce(ctx, "--count", "30000", "--seed", "9", "--start-time", origin, "--step", "30ms",
		"--invalid-fraction", "0.01", "--late-fraction", "0.02", "--late-by", "20s")

	// A first run creates the table, its partition directory and the
	// checkpoint's directories, which the watch needs.
	s := p.streamer("--max-offsets-per-trigger", "400")
	waitFor(t, ctx, "the stream table's first commit", func() (bool, string) {
		if s.exited() {
			t.Fatalf("the streamer exited:\n%s", s.Tail())
		}
		_, err := os.Stat(filepath.Join(dir, "stream", "_delta_log"))
		return err == nil, fmt.Sprint(err)
	})
	s.kill(t)
	w := watchLake(t, dir)

	offsetsRe := regexp.MustCompile(`^_checkpoints/streamer/offsets/(\d{20})\.json$`)
	dataRe := regexp.MustCompile(`^stream/[^_./][^/]*/[^_.][^/]*\.parquet$`)
	commitRe := regexp.MustCompile(`^stream/_delta_log/(\d{20})\.json$`)
	steps := []struct {
		name  string
		match *regexp.Regexp
		// landed reports whether the kill, made when file appeared, stopped
		// the batch at this step.
		landed func(file string) bool
	}{
		{"planned, before the data files", offsetsRe, func(file string) bool {
			batch := atoi64(offsetsRe.FindStringSubmatch(file)[1])
			return streamTxn(t, ctx, p.store) < batch
		}},
		{"data file written, before the log entry", dataRe, func(file string) bool {
			snap, err := deltaread.Latest(ctx, p.store, streamTable)
			if err != nil {
				t.Fatal(err)
			}
			_, live := snap.Files[strings.TrimPrefix(file, streamTable+"/")]
			return !live
		}},
		{"log entry written, before the checkpoint commit", commitRe, func(file string) bool {
			hist, err := deltaread.History(ctx, p.store, streamTable)
			if err != nil {
				t.Fatal(err)
			}
			v := atoi64(commitRe.FindStringSubmatch(file)[1])
			for _, c := range hist {
				if c.Version == v {
					for _, batch := range c.Txns {
						_, committed := checkpointIDs(t, ctx, p.store)
						return committed < batch
					}
				}
			}
			return false
		}},
	}
	landed := map[string]int{}
	const rounds = 5
	for round := 0; round < rounds; round++ {
		for _, step := range steps {
			before := w.existing()
			s := p.streamer("--max-offsets-per-trigger", "400")
			file := w.await(ctx, step.match, before, s)
			s.kill(t)
			if step.landed(file) {
				landed[step.name]++
			}
			t.Logf("round %d, %s: SIGKILL when %s appeared", round+1, step.name, file)
		}
	}
	p.streamer("--max-offsets-per-trigger", "400").mustSucceed(t, ctx)
	p.batch(ctx)
	p.verify(ctx)
	for _, step := range steps {
		if landed[step.name] == 0 {
			t.Errorf("no SIGKILL of %d landed at step %q: the test did not test it", rounds, step.name)
		}
	}
	t.Logf("SIGKILLs that landed where aimed, of %d per step: %v", rounds, landed)
}

func atoi64(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

// streamTxn returns the stream table's txn version (the last batch it
// holds), -1 when it has none.
func streamTxn(t testing.TB, ctx context.Context, st lake.Store) int64 {
	t.Helper()
	snap, err := deltaread.Latest(ctx, st, streamTable)
	if err != nil {
		t.Fatal(err)
	}
	v := int64(-1)
	for _, n := range snap.Txns {
		v = max(v, n)
	}
	return v
}

// lakeWatch reports the files that appear in a local lake's stream table
// (its partition directories and its log) and in the streamer's offsets log.
type lakeWatch struct {
	t    testing.TB
	root string
	w    *fsnotify.Watcher
	dirs []string
}

func watchLake(t testing.TB, root string) *lakeWatch {
	t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	lw := &lakeWatch{t: t, root: root, w: w}
	for _, d := range []string{"stream", "stream/_delta_log", "_checkpoints/streamer/offsets"} {
		lw.add(filepath.Join(root, filepath.FromSlash(d)))
	}
	ents, err := os.ReadDir(filepath.Join(root, "stream"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), "_") {
			lw.add(filepath.Join(root, "stream", e.Name()))
		}
	}
	return lw
}

func (lw *lakeWatch) add(dir string) {
	lw.t.Helper()
	if err := lw.w.Add(dir); err != nil {
		lw.t.Fatalf("watch %s: %v", dir, err)
	}
	lw.dirs = append(lw.dirs, dir)
}

// existing lists the files in the watched directories now, as lake-relative
// keys.
func (lw *lakeWatch) existing() map[string]bool {
	lw.t.Helper()
	out := map[string]bool{}
	for _, d := range lw.dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			lw.t.Fatal(err)
		}
		for _, e := range ents {
			out[lw.rel(filepath.Join(d, e.Name()))] = true
		}
	}
	return out
}

func (lw *lakeWatch) rel(path string) string {
	r, err := filepath.Rel(lw.root, path)
	if err != nil {
		lw.t.Fatal(err)
	}
	return filepath.ToSlash(r)
}

// await returns the first file matching re that appears and was not in
// before, watching new partition directories as they appear. It fails if
// the streamer s exits first.
func (lw *lakeWatch) await(ctx context.Context, re *regexp.Regexp, before map[string]bool, s *proc) string {
	lw.t.Helper()
	for {
		select {
		case ev := <-lw.w.Events:
			if !ev.Has(fsnotify.Create) {
				continue
			}
			key := lw.rel(ev.Name)
			if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !strings.HasPrefix(filepath.Base(ev.Name), "_") &&
				filepath.Dir(ev.Name) == filepath.Join(lw.root, "stream") {
				lw.add(ev.Name)
				continue
			}
			if re.MatchString(key) && !before[key] {
				return key
			}
		case err := <-lw.w.Errors:
			lw.t.Fatalf("watching the lake: %v", err)
		case err := <-s.done:
			s.done <- err
			lw.t.Fatalf("the streamer exited before a file matching %s appeared:\n%s", re, s.Tail())
		case <-ctx.Done():
			lw.t.Fatalf("no file matching %s appeared: %v", re, ctx.Err())
		}
	}
}
