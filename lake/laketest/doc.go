// Package laketest holds what tests need to trust a lake.Store: a
// conformance suite (Run) that every implementation must pass, and a real
// MinIO server started as a child process (StartMinIO), for the lake's own
// tests and for the services' and end-to-end tests that need S3.
//
// Typical use in another module's test:
//
//	m := laketest.StartMinIO(t)          // skips if no minio binary is found
//	store := m.Bucket(t, "lake")         // s3://lake on that server
//	cfg := m.S3Config()                  // for code that calls lake.Open itself
//
// The binary is found through SENSORLAB_MINIO_BIN, then the user cache
// directory (sensorlab/minio/<MinIOVersion>/minio), then PATH. Set
// SENSORLAB_REQUIRE_MINIO=1 to fail instead of skipping when it is missing.
package laketest
