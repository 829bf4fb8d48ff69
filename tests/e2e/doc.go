// Package e2e proves the whole lab works, from the outside, the way a user
// would check it.
//
// One command from the repository root, on a fresh machine too:
// `go test -timeout 60m ./tests/e2e`. Before any test runs, TestMain
// (main_test.go) chooses online or offline mode (SENSORLAB_OFFLINE, else
// whether the registry answers), says which and why, and prepares every image
// the tests need, so that nothing skips when Docker is there.
//
// What it runs:
//   - pipeline tests run the real producer, streamer and batcher binaries as
//     processes against franz-go's kfake broker and a file or MinIO lake (the
//     stack's MinIO image, run as a container by lake/laketest): seed parity
//     over 50,000 readings followed by the table maintenance a user runs
//     (batcher optimize, vacuum, time travel, log cleanup); crash safety
//     under SIGKILL, at random and at each step of a commit; two streamers
//     on one checkpoint; a streamer and batcher optimize at once; query
//     files (streamer --query with the seed's script, killed and restarted
//     once, equal to the reference and bit for bit to an uninterrupted run
//     cut into other batches, and the word count example on the console);
//   - stack tests bring up compose.yaml with testcontainers' compose module
//     (online images, or the offline override on machines with no registry);
//   - the fault harness (TestFaults, faults_*.go; docs/faults.md) injects
//     SIGKILLs, SIGTERMs, Kafka and MinIO outages, checkpoint damage, data
//     loss and bad input into running services, and TestSecurity* checks the
//     lake user's privileges, images, logs and compose for exposure.
//
// Expected results are computed here, independently of the services' code:
// readings are read back from Kafka and decoded with the contract's reference
// decoder, and windows and consolidations are computed with plain maps. The
// lake is read as a Delta reader reads it: internal/deltaread, written from
// the Delta protocol and sharing no code with lake/delta, finds each table's
// live files, schema and history, and every read must agree with
// lake/delta's snapshot of the same version (internal/agree).
package e2e
