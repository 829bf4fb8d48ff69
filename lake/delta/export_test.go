package delta

// CheckpointCrossCheck turns on or off the tests' reading of every
// checkpoint by both readers (see checkpointread_internal_test.go):
// benchmarks time the column reader alone.
func CheckpointCrossCheck(on bool) { crossCheckOff.Store(!on) }
