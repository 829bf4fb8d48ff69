package agg

import (
	"errors"
	"fmt"

	"github.com/sensorlab/sensorlab/query/types"
)

// Func is an aggregate function.
type Func uint8

// The aggregate functions, as Spark SQL names them.
const (
	Count               Func = iota + 1 // count(*) with Arg -1; else count of non-null values
	Sum                                 // sum of non-null values; null when there is none
	Avg                                 // average of non-null values; null when there is none
	Min                                 // least non-null value (strings bytewise)
	Max                                 // greatest non-null value
	CountIf                             // count of true values of a BOOLEAN argument
	ApproxCountDistinct                 // HyperLogLog++ estimate, Spark's default rsd 0.05
	CountDistinct                       // exact count of distinct non-null values
)

// String returns the function's SQL name.
func (f Func) String() string {
	switch f {
	case Count:
		return "count"
	case Sum:
		return "sum"
	case Avg:
		return "avg"
	case Min:
		return "min"
	case Max:
		return "max"
	case CountIf:
		return "count_if"
	case ApproxCountDistinct:
		return "approx_count_distinct"
	case CountDistinct:
		return "count_distinct"
	}
	return fmt.Sprintf("Func(%d)", uint8(f))
}

// Agg is one aggregate: a function over an input column (Arg), or over no
// column (Arg -1, only for Count: count(*)).
type Agg struct {
	Func Func
	Arg  int
}

// String renders the aggregate as func(#arg).
func (a Agg) String() string {
	if a.Arg < 0 {
		return a.Func.String() + "(*)"
	}
	return fmt.Sprintf("%s(#%d)", a.Func, a.Arg)
}

// WindowKind selects how rows are grouped in event time.
type WindowKind uint8

// The window kinds.
const (
	None     WindowKind = iota // group by the keys only
	Tumbling                   // window(ts, Size): [k·Size, (k+1)·Size)
	Sliding                    // window(ts, Size, Slide): every [k·Slide, k·Slide+Size) holding ts
	Session                    // session_window(ts, Gap): per key, until a gap >= Gap
)

// Window is the event-time grouping. Durations are microseconds.
type Window struct {
	Kind    WindowKind
	TimeCol int // the TIMESTAMP column: window time, and the watermark's column
	Size    int64
	Slide   int64 // Sliding; Tumbling ignores it
	Gap     int64 // Session
}

// Mode is Spark's output mode.
type Mode uint8

// The output modes.
const (
	Append   Mode = iota // rows of windows the watermark closed, once, then evicted
	Update               // rows the batch changed; closed windows are evicted
	Complete             // every row in state, every batch; nothing evicted
)

// String names the mode as Spark does.
func (m Mode) String() string {
	switch m {
	case Append:
		return "append"
	case Update:
		return "update"
	case Complete:
		return "complete"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Config is the operator's configuration. Keys and Aggs index input
// columns. HasWatermark says the time column is watermarked with delay
// Delay (microseconds): rows at or before the watermark are late, and
// closed windows are emitted (Append) and evicted.
type Config struct {
	Keys         []int
	Window       Window
	Aggs         []Agg
	Mode         Mode
	HasWatermark bool
	Delay        int64
}

// validate checks cfg against the input schema and reports every problem
// at once.
func validate(in types.Schema, cfg Config) error {
	var errs []error
	col := func(what string, i int) (types.Field, bool) {
		if i < 0 || i >= len(in) {
			errs = append(errs, fmt.Errorf("%s: column %d is out of range (the input has %d columns)", what, i, len(in)))
			return types.Field{}, false
		}
		return in[i], true
	}
	for _, k := range cfg.Keys {
		if f, ok := col("group key", k); ok {
			switch f.Type.Kind {
			case types.String, types.Boolean, types.Int, types.Bigint, types.Double, types.Decimal, types.Timestamp:
			default:
				errs = append(errs, fmt.Errorf("group key %s: type %s cannot be grouped by", f.Name, f.Type))
			}
		}
	}
	w := cfg.Window
	if w.Kind != None || cfg.HasWatermark {
		if f, ok := col("event-time column", w.TimeCol); ok && f.Type.Kind != types.Timestamp {
			errs = append(errs, fmt.Errorf("event-time column %s: must be a TIMESTAMP, not %s", f.Name, f.Type))
		}
	}
	switch w.Kind {
	case None:
	case Tumbling:
		if w.Size <= 0 {
			errs = append(errs, fmt.Errorf("tumbling window: the duration %dµs must be positive", w.Size))
		}
	case Sliding:
		if w.Size <= 0 || w.Slide <= 0 || w.Slide > w.Size {
			errs = append(errs, fmt.Errorf("sliding window %dµs every %dµs: the durations must be positive and the slide at most the window", w.Size, w.Slide))
		}
	case Session:
		if w.Gap <= 0 {
			errs = append(errs, fmt.Errorf("session window: the gap %dµs must be positive", w.Gap))
		}
	default:
		errs = append(errs, fmt.Errorf("window kind %d is unknown", w.Kind))
	}
	if cfg.Mode > Complete {
		errs = append(errs, fmt.Errorf("output mode %d is unknown", cfg.Mode))
	}
	if cfg.HasWatermark && cfg.Delay < 0 {
		errs = append(errs, fmt.Errorf("watermark delay %dµs: must be >= 0", cfg.Delay))
	}
	if len(cfg.Aggs) == 0 && len(cfg.Keys) == 0 && w.Kind == None {
		errs = append(errs, errors.New("nothing to group by and nothing to aggregate"))
	}
	for i, a := range cfg.Aggs {
		if a.Arg < 0 {
			if a.Func != Count {
				errs = append(errs, fmt.Errorf("aggregate %d: %s needs an argument", i, a.Func))
			}
			continue
		}
		f, ok := col(fmt.Sprintf("aggregate %d (%s)", i, a.Func), a.Arg)
		if !ok {
			continue
		}
		if _, err := resultType(a.Func, f.Type); err != nil {
			errs = append(errs, fmt.Errorf("aggregate %d: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("aggregation: %w", errors.Join(errs...))
	}
	return nil
}

// resultType is Spark's result type of f over an argument of type t
// (decimal precisions capped at types.MaxDecimalPrecision).
func resultType(f Func, t types.Type) (types.Type, error) {
	switch f {
	case Count, ApproxCountDistinct, CountDistinct:
		if t.Kind == types.Invalid || t.Kind == types.Null {
			break
		}
		return types.TBigint, nil
	case CountIf:
		if t.Kind == types.Boolean {
			return types.TBigint, nil
		}
	case Sum:
		switch t.Kind {
		case types.Int, types.Bigint:
			return types.TBigint, nil
		case types.Double:
			return types.TDouble, nil
		case types.Decimal:
			return types.Type{Kind: types.Decimal, Precision: min(types.MaxDecimalPrecision, t.Precision+10), Scale: t.Scale}, nil
		}
	case Avg:
		switch t.Kind {
		case types.Int, types.Bigint, types.Double:
			return types.TDouble, nil
		case types.Decimal:
			return types.Type{Kind: types.Decimal, Precision: min(types.MaxDecimalPrecision, t.Precision+4), Scale: min(types.MaxDecimalPrecision, t.Scale+4)}, nil
		}
	case Min, Max:
		switch t.Kind {
		case types.String, types.Boolean, types.Int, types.Bigint, types.Double, types.Decimal, types.Timestamp:
			return t, nil
		}
	default:
		return types.Type{}, fmt.Errorf("aggregate function %d is unknown", f)
	}
	return types.Type{}, fmt.Errorf("%s does not take a %s argument", f, t)
}

// Shareable reports whether queries in append and update mode may share
// one operator of this configuration: the state of both modes is the same
// (tumbling, sliding or no window; not sessions, whose update mode is
// refused, nor Complete, which never evicts).
func (c Config) Shareable() bool {
	return c.Mode != Complete && c.Window.Kind != Session
}
