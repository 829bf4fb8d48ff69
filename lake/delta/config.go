package delta

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Table properties (metaData.configuration) this package reads, with
// Spark's defaults.
const (
	// PropCheckpointInterval: write a checkpoint after every this many
	// commits (default 10).
	PropCheckpointInterval = "delta.checkpointInterval"
	// PropLogRetentionDuration: how long commit files and checkpoints are
	// kept for time travel (default "interval 30 days").
	PropLogRetentionDuration = "delta.logRetentionDuration"
	// PropDeletedFileRetentionDuration: how long a remove stays a tombstone
	// in checkpoints, for VACUUM (default "interval 1 week").
	PropDeletedFileRetentionDuration = "delta.deletedFileRetentionDuration"
	// PropEnableExpiredLogCleanup: "false" turns metadata cleanup off.
	PropEnableExpiredLogCleanup = "delta.enableExpiredLogCleanup"
	// PropAppendOnly: "true" forbids removing data (writer feature appendOnly).
	PropAppendOnly = "delta.appendOnly"
	// PropEnableInCommitTimestamps and the two enablement properties: see
	// the protocol's In-Commit Timestamps.
	PropEnableInCommitTimestamps          = "delta.enableInCommitTimestamps"
	PropInCommitTimestampEnablementVer    = "delta.inCommitTimestampEnablementVersion"
	PropInCommitTimestampEnablementTstamp = "delta.inCommitTimestampEnablementTimestamp"
	// PropColumnMappingMode: "none" (or absent), "id" or "name".
	PropColumnMappingMode = "delta.columnMapping.mode"
	// PropDataSkippingNumIndexedCols: stats are collected for the first this
	// many leaf columns (default 32; -1: all).
	PropDataSkippingNumIndexedCols = "delta.dataSkippingNumIndexedCols"
	// PropCheckpointWriteStatsAsStruct: "true" asks writers for stats_parsed,
	// which this package does not write (it refuses to write such tables).
	PropCheckpointWriteStatsAsStruct = "delta.checkpoint.writeStatsAsStruct"
	// PropCheckpointWriteStatsAsJSON: "false" asks writers to leave stats out
	// of checkpoints.
	PropCheckpointWriteStatsAsJSON = "delta.checkpoint.writeStatsAsJson"
	// PropEnableChangeDataFeed: "true" enables the change data feed.
	PropEnableChangeDataFeed = "delta.enableChangeDataFeed"
)

const (
	defaultCheckpointInterval    = 10
	defaultLogRetention          = 30 * 24 * time.Hour
	defaultDeletedFileRetention  = 7 * 24 * time.Hour
	defaultDataSkippingNumFields = 32
)

func confBool(conf map[string]string, key string, def bool) (bool, error) {
	s, ok := conf[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return false, fmt.Errorf("table property %s = %q: want true or false", key, s)
	}
	return b, nil
}

func confInt(conf map[string]string, key string, def int64) (int64, error) {
	s, ok := conf[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("table property %s = %q: want an integer", key, s)
	}
	return n, nil
}

func confDuration(conf map[string]string, key string, def time.Duration) (time.Duration, error) {
	s, ok := conf[key]
	if !ok {
		return def, nil
	}
	d, err := ParseInterval(s)
	if err != nil {
		return 0, fmt.Errorf("table property %s: %w", key, err)
	}
	return d, nil
}

// checkpointInterval is delta.checkpointInterval (positive).
func checkpointInterval(conf map[string]string) (int64, error) {
	n, err := confInt(conf, PropCheckpointInterval, defaultCheckpointInterval)
	if err == nil && n <= 0 {
		err = fmt.Errorf("table property %s = %d: want a positive number of commits", PropCheckpointInterval, n)
	}
	return n, err
}

// ParseInterval parses a duration as Spark writes Delta's retention
// properties: "interval 30 days", "interval 1 week", "2 hours 30 minutes"
// (units week, day, hour, minute, second, millisecond, microsecond, singular
// or plural, any case). Months and years are refused, as Delta refuses them
// for these properties (their length varies).
func ParseInterval(s string) (time.Duration, error) {
	f := strings.Fields(strings.ToLower(s))
	if len(f) > 0 && f[0] == "interval" {
		f = f[1:]
	}
	if len(f) == 0 || len(f)%2 != 0 {
		return 0, fmt.Errorf("interval %q: want pairs of <number> <unit>, as in \"interval 30 days\"", s)
	}
	var total time.Duration
	for i := 0; i < len(f); i += 2 {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("interval %q: %q is not a whole number", s, f[i])
		}
		var unit time.Duration
		switch strings.TrimSuffix(f[i+1], "s") {
		case "week":
			unit = 7 * 24 * time.Hour
		case "day":
			unit = 24 * time.Hour
		case "hour":
			unit = time.Hour
		case "minute":
			unit = time.Minute
		case "second":
			unit = time.Second
		case "millisecond":
			unit = time.Millisecond
		case "microsecond":
			unit = time.Microsecond
		default:
			return 0, fmt.Errorf("interval %q: unit %q is not one of weeks, days, hours, minutes, seconds, milliseconds, microseconds", s, f[i+1])
		}
		total += time.Duration(n) * unit
	}
	if total < 0 {
		return 0, fmt.Errorf("interval %q is negative", s)
	}
	return total, nil
}
