package lake_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

// BenchmarkStore measures Put and Get of objects the size of the streamer's
// Parquet files and Delta commits, on local files and on a real MinIO.
//
//	go test -run '^$' -bench Store -benchtime 200x ./
func BenchmarkStore(b *testing.B) {
	stores := map[string]func(b *testing.B) lake.Store{
		"file": func(b *testing.B) lake.Store {
			s, err := lake.Open(b.Context(), "file://"+b.TempDir(), lake.S3Config{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"minio": func(b *testing.B) lake.Store { return laketest.StartMinIO(b).Bucket(b, "bench") },
	}
	for _, name := range []string{"file", "minio"} {
		s := stores[name](b)
		for _, size := range []int{1 << 10, 1 << 20} {
			data := bytes.Repeat([]byte{'x'}, size)
			b.Run(fmt.Sprintf("%s/Put/%dKiB", name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(size))
				for i := 0; b.Loop(); i++ {
					if err := s.Put(b.Context(), fmt.Sprintf("bench/%d.bin", i%16), data); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/Get/%dKiB", name, size>>10), func(b *testing.B) {
				if err := s.Put(b.Context(), "bench/get.bin", data); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := s.Get(b.Context(), "bench/get.bin"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
