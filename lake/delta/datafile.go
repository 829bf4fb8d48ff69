package delta

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/parquet-go/parquet-go"
)

// NewAdd returns the add action for a Parquet data file of the table whose
// bytes are data, stored at rel (relative to the table root, unencoded, as
// the object key under the root: "date=2024-11-21/part-00000-….parquet"):
// Path is EncodePath(rel), PartitionValues as given (serialized, see
// PartitionValue), Size is len(data), ModificationTime is modTime in
// milliseconds, DataChange as given (false for a rearrangement such as
// OPTIMIZE), and Stats come from the file's footer (StatsFromParquet
// against md). It is how every writer of this module turns a data file
// into an add: the streamer's micro-batches, the batcher's overwrites and
// Table.Optimize.
//
// It checks what Commit would refuse later, so a writer learns it before
// uploading: rel must be relative, and the partition values must name
// exactly the table's partition columns.
func NewAdd(md Metadata, rel string, pv PartitionValues, data []byte, modTime time.Time, dataChange bool) (Add, error) {
	return newAdd(md, rel, pv, bytes.NewReader(data), int64(len(data)), modTime, dataChange)
}

// newAdd is NewAdd for a file that need not be in memory.
func newAdd(md Metadata, rel string, pv PartitionValues, r io.ReaderAt, size int64, modTime time.Time, dataChange bool) (Add, error) {
	if rel == "" || isAbsolutePath(rel) {
		return Add{}, fmt.Errorf("delta: data file %q: want a path relative to the table root", rel)
	}
	if err := checkPartitionValues(md, pv); err != nil {
		return Add{}, fmt.Errorf("delta: data file %s: %w", rel, err)
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return Add{}, fmt.Errorf("delta: data file %s: %w", rel, err)
	}
	st, err := StatsFromParquet(f, md)
	if err != nil {
		return Add{}, fmt.Errorf("delta: data file %s: stats: %w", rel, err)
	}
	js, err := st.JSON()
	if err != nil {
		return Add{}, fmt.Errorf("delta: data file %s: stats: %w", rel, err)
	}
	values := make(PartitionValues, len(pv))
	for k, v := range pv {
		values[k] = v
	}
	return Add{
		Path:             EncodePath(rel),
		PartitionValues:  values,
		Size:             size,
		ModificationTime: modTime.UnixMilli(),
		DataChange:       dataChange,
		Stats:            js,
	}, nil
}

// checkPartitionValues reports partition values that do not name exactly
// the table's partition columns.
func checkPartitionValues(md Metadata, pv PartitionValues) error {
	want := map[string]bool{}
	for _, c := range md.PartitionColumns {
		want[c] = true
	}
	for k := range pv {
		if !want[k] {
			return fmt.Errorf("%q is not a partition column (%v)", k, md.PartitionColumns)
		}
	}
	for _, c := range md.PartitionColumns {
		if _, ok := pv[c]; !ok {
			return fmt.Errorf("no value for partition column %q", c)
		}
	}
	return nil
}
