// Package contract is the one definition of what crosses sensorlab's service
// boundaries: the sensor event JSON and its validation rules, the window-row
// and consolidated-row Parquet schemas, Kafka topic and header names, and the
// layout of the lake (its two Delta tables, partitioning, the names of a
// streamer batch's files).
//
// Every service and test imports these definitions instead of restating them.
// The module depends only on the standard library and parquet-go.
package contract
