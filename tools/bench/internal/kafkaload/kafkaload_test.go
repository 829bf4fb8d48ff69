package kafkaload

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/tools/bench/internal/readings"
)

// What the harness fills is what the ceiling consumer reads back, every
// record and every byte.
func TestFillThenConsumeReadsEveryRecord(t *testing.T) {
	c, err := StartBroker("t", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 5000
	bytes, err := Fill(ctx, c.ListenAddrs(), "t", readings.New(20, 1_732_200_000_000, 20, 1), n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Consume(ctx, c.ListenAddrs(), "t", n)
	if err != nil {
		t.Fatal(err)
	}
	if got.Records != n || got.Bytes != bytes {
		t.Fatalf("consumed %d records, %d bytes; filled %d records, %d bytes", got.Records, got.Bytes, n, bytes)
	}
}

// Every line becomes one record, its value the line without the newline,
// the last one too when the input does not end with a newline.
func TestFillLinesProducesOneRecordPerLine(t *testing.T) {
	c, err := StartBroker("lines", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var in strings.Builder
	want := map[string]bool{}
	for i := range 3000 {
		line := fmt.Sprintf(`{"user_id": "U%04d", "n": %d}`, i, i)
		want[line] = true
		in.WriteString(line)
		if i < 2999 {
			in.WriteByte('\n')
		}
	}
	n, size, err := FillLines(ctx, c.ListenAddrs(), "lines", strings.NewReader(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3000 || size != int64(in.Len()-2999) {
		t.Fatalf("filled %d records, %d bytes; want 3000 records, %d bytes", n, size, in.Len()-2999)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("lines"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for got := 0; got < 3000; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%d of 3000 records read: %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !want[string(r.Value)] {
				t.Fatalf("record %q: not one of the lines, or read twice", r.Value)
			}
			delete(want, string(r.Value))
			got++
		})
	}
}
