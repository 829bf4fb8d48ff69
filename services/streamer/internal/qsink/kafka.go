package qsink

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sensorlab/sensorlab/query/output"
	"github.com/sensorlab/sensorlab/query/plan"
	"github.com/sensorlab/sensorlab/query/types"
	"github.com/sensorlab/sensorlab/services/streamer/internal/kafkaout"
)

// HeaderBatchID is the header holding the id of the batch that emitted a
// record, in decimal.
const HeaderBatchID = "sensorlab.batch_id"

// kafkaOutput sends each row as one record to Options["topic"]: the value
// is the row as to_json(struct(*)) writes it (output.Formatter.JSON), the
// key the Options["key"] column's value as CAST(… AS STRING) (no key when
// the option is absent or the value NULL), and the batch id in the
// HeaderBatchID header. Records go into the query's transactional writer,
// which the driver begins and commits around the batch: a re-run of a
// batch whose records committed sends nothing (kafkaout's markers).
type kafkaOutput struct {
	q     *plan.Query
	w     *kafkaout.Writer
	topic string
	f     *output.Formatter
	key   *castText // nil: records without a key
}

func openKafka(q *plan.Query, env Env) (*kafkaOutput, error) {
	s := q.Sink
	if env.Kafka == nil {
		return nil, fmt.Errorf("qsink: sink %s: no Kafka writer to send to topic %s", s.Name, s.Options["topic"])
	}
	if s.Options["topic"] == "" {
		return nil, fmt.Errorf("qsink: sink %s: WITH (topic = '…') is required for a Kafka sink", s.Name)
	}
	f, err := output.NewFormatter(q.Output)
	if err != nil {
		return nil, fmt.Errorf("qsink: sink %s: %w", s.Name, err)
	}
	o := &kafkaOutput{q: q, w: env.Kafka, topic: s.Options["topic"], f: f}
	if k := s.Options["key"]; k != "" {
		i := q.Output.Index(k)
		if i < 0 {
			return nil, fmt.Errorf("qsink: sink %s: key column %s is not an output column (%s)", s.Name, k, q.Output)
		}
		ct, err := newCastText(q.Output, i)
		if err != nil {
			return nil, fmt.Errorf("qsink: sink %s: key column %s: %w", s.Name, k, err)
		}
		o.key = &ct
	}
	return o, nil
}

func (o *kafkaOutput) Describe() string { return "KafkaSink[" + o.topic + "]" }

// Write sends the batch's rows; Result.Rows is the number of records
// handed to the writer. Whether they commit is the writer's Commit's
// answer.
func (o *kafkaOutput) Write(_ context.Context, batchID int64, rows *types.Batch, _ bool) (Result, error) {
	if err := checkRows(o.q, rows); err != nil {
		return Result{}, err
	}
	n := numRows(rows)
	if n == 0 {
		return Result{Version: -1}, nil
	}
	var keys []string
	var nullKey []bool
	if o.key != nil {
		keys = o.key.eval(rows)
		kv := rows.Cols[o.q.Output.Index(o.q.Sink.Options["key"])]
		nullKey = make([]bool, n)
		for i := range nullKey {
			nullKey[i] = kv.IsNull(i)
		}
	}
	batch := strconv.AppendInt(nil, batchID, 10)
	o.f.JSON(rows, func(r int, value []byte) {
		rec := &kgo.Record{Topic: o.topic, Value: append([]byte(nil), value...),
			Headers: []kgo.RecordHeader{{Key: HeaderBatchID, Value: batch}}}
		if keys != nil && !nullKey[r] {
			rec.Key = []byte(keys[r])
		}
		o.w.Send(rec)
	})
	return Result{Rows: int64(n), Version: -1}, nil
}
