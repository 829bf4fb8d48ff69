package consolidate

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sensorlab/sensorlab/lake"
	"github.com/sensorlab/sensorlab/lake/laketest"
)

// The same behaviour against a real S3 server: one MinIO for the whole test,
// a fresh bucket (under a prefix, as a shared lake would be) per case.
func TestRunOnMinIO(t *testing.T) {
	m := laketest.StartMinIO(t)
	var n atomic.Int64
	newStore := func(t *testing.T) lake.Store {
		bucket := fmt.Sprintf("lake-%d", n.Add(1))
		m.CreateBucket(t, bucket)
		return m.Open(t, "s3://"+bucket+"/sensorlab")
	}
	for name, test := range storeTests {
		t.Run(name, func(t *testing.T) { test(t, newStore) })
	}
}
