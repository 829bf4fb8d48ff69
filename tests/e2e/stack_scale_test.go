package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestStackScaledStreamer is the stack as `docker compose up --scale
// streamer=3` runs it: three streamer replicas of the seed's query share
// its partitions, and streamer-front gives them the one published port.
// While the producer sends, the replica the front relays to is killed
// (SIGKILL), another one is stopped (SIGTERM, exit 0) and the killed one is
// started again: the front keeps answering from a live replica, and the
// lake, the dead letters and the alerts (read_committed) still equal the
// reference exactly.
func TestStackScaledStreamer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	stream := producerStream{Seed: 11, Count: 14000, Rate: 400, StartTime: origin,
		Step: 50 * time.Millisecond, InvalidFraction: 0.01}
	s := newScaledStack(t, "scaled", stream, 3)
	s.up(ctx)
	s.checkEndpoints(ctx)
	st := openLake(t, ctx)

	reps := s.replicas(ctx, "streamer")
	if len(reps) != 3 {
		t.Fatalf("%d streamer containers, want 3", len(reps))
	}
	// The front sees the three, all ready, and relays to one of them.
	var serving string
	waitFor(t, ctx, "streamer-front's /replicas to list three ready replicas", func() (bool, string) {
		list, err := frontReplicas(ctx)
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		serving = ""
		for _, r := range list {
			if r.Ready {
				ready++
			}
			if r.Serving {
				serving = r.Addr
			}
		}
		return ready == 3 && serving != "", fmt.Sprintf("%+v", list)
	})
	// Each replica runs some of the query's partitions, not all.
	waitFor(t, ctx, "the serving replica to run some of the partitions, not all", func() (bool, string) {
		var g struct {
			Topic      string `json:"topic"`
			Partitions []struct {
				Partition int32 `json:"partition"`
				Owned     bool  `json:"owned"`
			} `json:"partitions"`
		}
		code, body, err := httpGet(ctx, streamerHTTP+"/group")
		if err != nil || code != http.StatusOK {
			return false, fmt.Sprintf("%d %s %v", code, body, err)
		}
		if err := json.Unmarshal([]byte(body), &g); err != nil {
			return false, err.Error()
		}
		owned := 0
		for _, p := range g.Partitions {
			if p.Owned {
				owned++
			}
		}
		return g.Topic == "sensorlab-sensors-repartition" && len(g.Partitions) == 3 && owned == 1, body
	})

	progress := newStreamerProgress(st)
	waitEmitted(t, ctx, progress, 100)
	s.requireMidStream(ctx, stream, "kill")
	var killed, stopped string
	for id, ip := range reps {
		switch {
		case strings.HasPrefix(serving, ip+":"):
			killed = id
		case stopped == "":
			stopped = id
		}
	}
	if killed == "" || stopped == "" {
		t.Fatalf("the front serves %s, which is none of the replicas %v", serving, reps)
	}
	if _, err := s.docker.ContainerKill(ctx, killed, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	// The front moves to a replica alive at once (the partitions follow
	// after the group's session timeout).
	waitFor(t, ctx, "streamer-front to relay to another replica", func() (bool, string) {
		resp, err := http.Get(streamerHTTP + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		by := resp.Header.Get("X-Sensorlab-Replica")
		return resp.StatusCode == http.StatusOK && by != "" && by != serving, fmt.Sprintf("%s from %q", resp.Status, by)
	})

	waitEmitted(t, ctx, progress, progress.Rows+200)
	s.requireMidStream(ctx, stream, "stop")
	if _, err := s.docker.ContainerStop(ctx, stopped, client.ContainerStopOptions{}); err != nil {
		t.Fatal(err)
	}
	in, err := s.docker.ContainerInspect(ctx, stopped, client.ContainerInspectOptions{})
	if err != nil || in.Container.State == nil || in.Container.State.ExitCode != 0 {
		t.Fatalf("the stopped replica: %v, state %+v; want a clean exit 0", err, in.Container.State)
	}
	if _, err := s.docker.ContainerStart(ctx, killed, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}

	s.settle(ctx, st, stream)
	s.verify(ctx, st)
	checkMetrics(t, ctx, streamerHTTP, "sensorlab_streamer_group_partition_last_batch", "sensorlab_streamer_group_watermark_seconds")
}

// frontReplica is one entry of streamer-front's /replicas.
type frontReplica struct {
	Addr    string `json:"addr"`
	Ready   bool   `json:"ready"`
	Serving bool   `json:"serving"`
	Status  string `json:"status"`
}

func frontReplicas(ctx context.Context) ([]frontReplica, error) {
	code, body, err := httpGet(ctx, streamerHTTP+"/replicas")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("/replicas: %d %s", code, body)
	}
	var list []frontReplica
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		return nil, fmt.Errorf("/replicas: %w", err)
	}
	return list, nil
}
