// Package laketest holds what tests need to trust a lake.Store: a
// conformance suite (Run) that every implementation must pass, and a real
// MinIO server (StartMinIO), for the lake's own tests and for the services'
// and end-to-end tests that need S3.
//
// Typical use in another module's test:
//
//	m := laketest.StartMinIO(t)          // skips, saying why, if there is no Docker
//	store := m.Bucket(t, "lake")         // s3://lake on that server
//	cfg := m.S3Config()                  // for code that calls lake.Open itself
//
// The server runs in a container of the lab's own MinIO image, as the stack
// gets it: OfflineImage (sensorlab-offline/minio:dev, built by
// scripts/offline-images.sh) when it exists locally, else compose.yaml's
// OnlineImage (pulled if missing; a registry that does not answer within 15 s
// is taken as absent). SENSORLAB_OFFLINE=1 or 0 forces one. It is published on
// a free port of 127.0.0.1 and driven with the docker CLI, so that this module
// needs no Docker client library. Stop and Restart stop and start the same
// container (same address, same data); Exec runs a command in it (the image
// ships mc and /bin/sh). The container is removed in t.Cleanup (on Linux, also
// when the test binary is killed). Set SENSORLAB_REQUIRE_MINIO=1 to fail
// instead of skipping when Docker or the image is missing.
//
// Code that is not a test (the benchmark harnesses of tools/bench) starts the
// same server with Start and removes it with Close:
//
//	m, err := laketest.Start(ctx)        // errors.Is(err, laketest.ErrUnavailable): no Docker or image
//	defer m.Close()
//	err = m.MakeBucket(ctx, "lake")
package laketest
