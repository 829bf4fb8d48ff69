// Package scaling measures how replicas of a query scale out: the seed's
// streaming queries, keyed by sensor, run by 1, 2, 3… streamer containers
// of one consumer group, each capped at the same CPU (docker --cpus),
// over one topic filled up front in an in-process broker. The figure is
// each run's steady throughput: the records committed from the moment
// every partition has committed a batch until the last one reaches the
// topic's end, over that time, so that joining the group is not counted.
package scaling

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/contract"
	"github.com/sensorlab/sensorlab/tools/bench/internal/harness"
	"github.com/sensorlab/sensorlab/tools/bench/internal/kafkaload"
	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

// Main runs the harness with args and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scaling", flag.ContinueOnError)
	fs.SetOutput(stderr)
	replicas := fs.String("replicas", "1,2,3", "replica counts to run, comma-separated")
	cpus := fs.Float64("cpus", 0.5, "CPU cap of each replica's container (docker --cpus)")
	partitions := fs.Int("partitions", 6, "partitions of the topic")
	n := fs.Int64("readings", 3_000_000, "readings in the topic")
	sensors := fs.Int("sensors", 100_000, "sensors (keys)")
	image := fs.String("image", "sensorlab-offline/streamer:dev", "the streamer image (scripts/offline-images.sh builds it)")
	runs := fs.Int("runs", 1, "runs of each replica count, alternated")
	perTrigger := fs.Int64("max-offsets-per-trigger", 50_000, "each task's cap on records per micro-batch (a backlog is read in batches, as a stream is)")
	rekey := fs.Bool("rekey", false, "run the seed's own file, which does not declare the key: the replicas re-key the readings through the repartition topic first")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var counts []int
	for f := range strings.SplitSeq(*replicas, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			fmt.Fprintf(stderr, "-replicas %q: want counts such as 1,2,3\n", *replicas)
			return 2
		}
		counts = append(counts, c)
	}
	if err := run(ctx, stdout, counts, *cpus, int32(*partitions), *n, *sensors, *image, *runs, *perTrigger, *rekey); err != nil {
		fmt.Fprintln(stderr, "scaling:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, out io.Writer, counts []int, cpus float64, partitions int32, n int64, sensors int, image string, runs int, perTrigger int64, rekey bool) error {
	m := harness.DescribeMachine()
	fmt.Fprintf(out, "machine: %d CPUs, %s, load %s, %s\n", m.CPUs, m.CPUModel, m.Load1, m.GoVer)
	broker, err := kafkaload.StartBroker(contract.EventsTopic, partitions)
	if err != nil {
		return err
	}
	defer broker.Close()
	brokers := broker.ListenAddrs()
	g := readings.New(sensors, 1732200000000, 10, 42)
	if _, err := kafkaload.Fill(ctx, brokers, contract.EventsTopic, g, n); err != nil {
		return err
	}
	end, err := topicEnd(ctx, brokers, contract.EventsTopic)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "topic: %d readings of %d sensors, keyed by sensor, in %d partitions; each replica capped at %.2f CPU; %d records per batch and task at most\n",
		n, sensors, partitions, cpus, perTrigger)
	if rekey {
		fmt.Fprintf(out, "query: the seed's own file (no key declared): re-keyed through the repartition topic; steady figures below count the repartition topic's offsets (records, those of transactions aborted by a rebalance, and transaction markers); the time \"in all\" is for the source's readings\n")
	}
	rates := map[int][]float64{}
	for r := range runs {
		for _, c := range counts {
			res, err := measure(ctx, brokers, end, c, cpus, image, perTrigger, rekey, fmt.Sprintf("scaling-%d-%d-%d", time.Now().UnixNano(), r, c))
			if err != nil {
				return fmt.Errorf("%d replicas: %w", c, err)
			}
			rates[c] = append(rates[c], res.rate)
			if res.whole {
				fmt.Fprintf(out, "  run %d, %d replica(s): %.0f records/s over the whole run, joining the group included (%d records in %v: too few for a steady second)\n",
					r+1, c, res.rate, res.records, res.total.Round(time.Millisecond))
				continue
			}
			fmt.Fprintf(out, "  run %d, %d replica(s): %.0f records/s steady (%d records in %v after every partition's first commit; %v in all)\n",
				r+1, c, res.rate, res.records, res.steady.Round(time.Millisecond), res.total.Round(time.Millisecond))
		}
	}
	base := harness.Median(rates[counts[0]])
	fmt.Fprintf(out, "median throughput (steady, where a run had a steady second), relative to %d replica(s):\n", counts[0])
	for _, c := range counts {
		med := harness.Median(rates[c])
		fmt.Fprintf(out, "  %d replica(s): %.0f records/s, %.2fx\n", c, med, med/base)
	}
	return nil
}

func topicEnd(ctx context.Context, brokers []string, topic string) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	lo, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	end := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	return end, nil
}

// rekeyedEnd is the repartition topic's end once the replicas' stages
// have re-keyed the whole source (their group's committed offsets are the
// source's end), nil before.
func rekeyedEnd(ctx context.Context, brokers []string, group string, source map[int32]int64) (map[int32]int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).FetchOffsets(ctx, group+"-repartition")
	if err != nil {
		return nil, err
	}
	for p, e := range source {
		o, ok := offs.Lookup(contract.EventsTopic, p)
		if !ok || o.At < e {
			return nil, nil
		}
	}
	return topicEnd(ctx, brokers, group+"-sensors-repartition")
}

type result struct {
	rate          float64
	records       int64
	steady, total time.Duration
	whole         bool // no steady second: rate over the whole run
}

// measure runs c replicas on a new lake and group until every partition's
// task has committed the topic's end.
func measure(ctx context.Context, brokers []string, end map[int32]int64, c int, cpus float64, image string, perTrigger int64, rekey bool, name string) (result, error) {
	dir, err := os.MkdirTemp("", "sensorlab-scaling-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o777); err != nil {
		return result{}, err
	}
	// Keyed: the source declares the key the readings carry. Re-keyed: the
	// seed's own file.
	edits := []harness.Edit{{Old: "late_topic = 'eventos_sensores.late')", New: "late_topic = 'eventos_sensores.late', key = 'sensor_id')", N: 1}}
	if rekey {
		edits = nil
	}
	q, err := harness.WriteQuery(dir, "seed/streaming.sql", edits...)
	if err != nil {
		return result{}, err
	}
	if err := os.Chmod(q.Path, 0o644); err != nil {
		return result{}, err
	}
	var ids []string
	defer func() {
		for _, id := range ids {
			_ = exec.Command("docker", "rm", "-f", id).Run()
		}
	}()
	start := time.Now()
	for i := range c {
		args := []string{"run", "-d", "--network", "host", "--cpus", strconv.FormatFloat(cpus, 'f', -1, 64),
			"-v", dir + ":/data", "--name", fmt.Sprintf("%s-%d", name, i), image,
			"--brokers", strings.Join(brokers, ","), "--query", "/data/" + filepath.Base(q.Path), "--group", name,
			"--lake", "file:///data/lake", "--starting-offsets", "earliest", "--trigger", "0", "--http", "",
			"--max-offsets-per-trigger", strconv.FormatInt(perTrigger, 10), "--log-level", "warn"}
		b, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
		if err != nil {
			return result{}, fmt.Errorf("docker run: %v: %s", err, b)
		}
		ids = append(ids, strings.TrimSpace(string(b)))
	}
	var total int64
	for _, e := range end {
		total += e
	}
	// Re-keyed, the tasks read the repartition topic, of as many
	// partitions: its end is known once the stages are done.
	target := end
	if rekey {
		target, total = nil, -1
	}
	var steadyAt time.Time
	var steadyDone int64
	for {
		select {
		case <-ctx.Done():
			return result{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		done, all, err := committed(filepath.Join(dir, "lake", "_checkpoints", "streamer", "partitions"), end)
		if err != nil {
			return result{}, err
		}
		if target == nil {
			if target, err = rekeyedEnd(ctx, brokers, name, end); err != nil {
				return result{}, err
			}
			if target != nil {
				total = 0
				for _, e := range target {
					total += e
				}
			}
		}
		now := time.Now()
		if steadyAt.IsZero() && all {
			steadyAt, steadyDone = now, done
		}
		if total >= 0 && done >= total {
			if steadyAt.IsZero() || now.Sub(steadyAt) < time.Second {
				// Too few readings for a steady second (a toy run): the
				// whole run's rate, joining included, and say so.
				return result{rate: float64(total) / now.Sub(start).Seconds(), records: total,
					total: now.Sub(start), whole: true}, nil
			}
			steady := now.Sub(steadyAt)
			return result{rate: float64(total-steadyDone) / steady.Seconds(), records: total - steadyDone,
				steady: steady, total: now.Sub(start)}, nil
		}
		for _, id := range ids {
			b, err := exec.Command("docker", "inspect", "-f", "{{.State.Running}}", id).Output()
			if err == nil && strings.TrimSpace(string(b)) != "true" {
				logs, _ := exec.Command("docker", "logs", "--tail", "20", id).CombinedOutput()
				return result{}, fmt.Errorf("replica %s exited:\n%s", id[:12], logs)
			}
		}
	}
}

// committed sums, over the partitions, the end offset of each one's
// newest committed batch, and says whether every partition has one.
func committed(root string, end map[int32]int64) (done int64, all bool, err error) {
	all = true
	for p := range end {
		dir := filepath.Join(root, strconv.Itoa(int(p)))
		ents, err := os.ReadDir(filepath.Join(dir, "commits"))
		if errors.Is(err, os.ErrNotExist) {
			all = false
			continue
		}
		if err != nil {
			return 0, false, err
		}
		var names []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		if len(names) == 0 {
			all = false
			continue
		}
		newest := slices.Max(names)
		b, err := os.ReadFile(filepath.Join(dir, "offsets", newest))
		if err != nil {
			return 0, false, err
		}
		var e struct {
			End map[int32]int64 `json:"end"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			return 0, false, fmt.Errorf("%s: %w", newest, err)
		}
		done += e.End[p]
	}
	return done, all, nil
}
