package delta

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrUnsupportedFeature is matched (errors.Is) by every
// *UnsupportedFeatureError.
var ErrUnsupportedFeature = errors.New("delta: unsupported table feature")

// UnsupportedFeatureError refuses a table that needs a protocol feature this
// package does not implement. Feature is the protocol's name for it
// ("deletionVectors", "columnMapping", "v2Checkpoint", ...) or "reader
// version N" / "writer version N".
type UnsupportedFeatureError struct {
	Feature string
	// Reader is true when reading needs the feature; false when only
	// writing does.
	Reader bool
	Detail string
}

func (e *UnsupportedFeatureError) Error() string {
	what := "write"
	if e.Reader {
		what = "read"
	}
	msg := fmt.Sprintf("delta: cannot %s this table: it needs %s, which this implementation does not support", what, e.Feature)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg
}

func (e *UnsupportedFeatureError) Is(target error) bool { return target == ErrUnsupportedFeature }

// readerFeatureSupport says how each reader feature this package knows is
// handled. A Snapshot lists files and reads no data, so a feature that only
// changes how data files are read is supported when the table does not use
// it in a way that matters.
var readerFeatureSupport = map[string]func(md Metadata, schema StructType) string{
	// Timestamps without time zone are a column type; the log needs nothing.
	"timestampNtz": nil,
	// Readers "just need to acknowledge the feature exists".
	"vacuumProtocolCheck": nil,
	// Mode none (or no mode) reads columns by their names: what we do.
	"columnMapping": func(md Metadata, _ StructType) string {
		if m := md.Configuration[PropColumnMappingMode]; m != "" && m != "none" {
			return fmt.Sprintf("%s is %q: columns, partition values and statistics go by physical names", PropColumnMappingMode, m)
		}
		return ""
	},
}

// checkRead refuses a table this package cannot read correctly.
func checkRead(p Protocol, md Metadata, schema StructType) error {
	switch {
	case p.MinReaderVersion > 3:
		return &UnsupportedFeatureError{Feature: fmt.Sprintf("reader version %d", p.MinReaderVersion), Reader: true,
			Detail: "reader versions 1 to 3 are supported"}
	case p.MinReaderVersion == 2:
		// Reader version 2 is column mapping.
		if why := readerFeatureSupport["columnMapping"](md, schema); why != "" {
			return &UnsupportedFeatureError{Feature: "columnMapping", Reader: true, Detail: why}
		}
	case p.MinReaderVersion == 3:
		type refusal struct{ name, why string }
		var refused []refusal
		for _, f := range p.ReaderFeatures {
			check, known := readerFeatureSupport[f]
			switch {
			case !known:
				refused = append(refused, refusal{f, ""})
			case check != nil:
				if why := check(md, schema); why != "" {
					refused = append(refused, refusal{f, why})
				}
			}
		}
		if len(refused) > 0 {
			detail := refused[0].why
			if len(refused) > 1 {
				var more []string
				for _, r := range refused[1:] {
					more = append(more, r.name)
				}
				detail = strings.TrimPrefix(detail+"; it also needs "+strings.Join(more, ", "), "; ")
			}
			return &UnsupportedFeatureError{Feature: refused[0].name, Reader: true, Detail: detail}
		}
	}
	return nil
}

// legacyWriterFeatures are the features each writer version below 7 implies.
var legacyWriterFeatures = [][]string{
	2: {"appendOnly", "invariants"},
	3: {"checkConstraints"},
	4: {"changeDataFeed", "generatedColumns"},
	5: {"columnMapping"},
	6: {"identityColumns"},
}

// writerFeatureSupport: how each writer feature this package knows is
// handled. A function returns why the table, as it is, cannot be written
// ("" when it can); nil means always supported.
var writerFeatureSupport = map[string]func(md Metadata, schema StructType) string{
	// Enforced by the commit: no data-changing remove while delta.appendOnly.
	"appendOnly": nil,
	"invariants": func(_ Metadata, s StructType) string {
		return columnsWithMetadata(s, "delta.invariants", "column invariants (SQL expressions) cannot be enforced")
	},
	"checkConstraints": func(md Metadata, _ StructType) string {
		for k := range md.Configuration {
			if strings.HasPrefix(k, "delta.constraints.") {
				return fmt.Sprintf("CHECK constraint %s cannot be enforced", strings.TrimPrefix(k, "delta.constraints."))
			}
		}
		return ""
	},
	// Commits here add and remove whole files, which change data readers
	// read as inserts and deletes without cdc files.
	"changeDataFeed": nil,
	"generatedColumns": func(_ Metadata, s StructType) string {
		return columnsWithMetadata(s, "delta.generationExpression", "generated columns cannot be computed")
	},
	"allowColumnDefaults": func(_ Metadata, s StructType) string {
		return columnsWithMetadata(s, "CURRENT_DEFAULT", "column defaults cannot be applied")
	},
	"columnMapping": func(md Metadata, s StructType) string { return readerFeatureSupport["columnMapping"](md, s) },
	"identityColumns": func(_ Metadata, s StructType) string {
		return columnsWithMetadata(s, "delta.identity.", "identity values cannot be generated")
	},
	"timestampNtz":        nil,
	"domainMetadata":      nil, // preserved in checkpoints, never written
	"vacuumProtocolCheck": nil, // this package does not VACUUM
	"inCommitTimestamp":   nil, // written when delta.enableInCommitTimestamps is true
}

// columnsWithMetadata names a column whose metadata has a key starting with
// prefix, or returns "".
func columnsWithMetadata(s StructType, prefix, why string) string {
	found := ""
	walkFields(s, func(path []string, f StructField) {
		for k := range f.Metadata {
			if found == "" && strings.HasPrefix(k, prefix) {
				found = fmt.Sprintf("column %s: %s", strings.Join(path, "."), why)
			}
		}
	})
	return found
}

// writerFeatures lists the writer features a protocol asks writers to
// respect: implied by a version below 7, listed at 7.
func writerFeatures(p Protocol) []string {
	if p.MinWriterVersion >= 7 {
		return p.WriterFeatures
	}
	var out []string
	for v := 2; v <= int(p.MinWriterVersion) && v < len(legacyWriterFeatures); v++ {
		out = append(out, legacyWriterFeatures[v]...)
	}
	return out
}

// checkWrite refuses a table this package cannot write correctly. Writers
// must read the table too, so it checks the reader side first.
func checkWrite(p Protocol, md Metadata, schema StructType) error {
	if err := checkRead(p, md, schema); err != nil {
		return err
	}
	if p.MinWriterVersion > 7 {
		return &UnsupportedFeatureError{Feature: fmt.Sprintf("writer version %d", p.MinWriterVersion),
			Detail: "writer versions 1 to 7 are supported"}
	}
	for _, f := range writerFeatures(p) {
		check, known := writerFeatureSupport[f]
		if !known {
			return &UnsupportedFeatureError{Feature: f}
		}
		if check != nil {
			if why := check(md, schema); why != "" {
				return &UnsupportedFeatureError{Feature: f, Detail: why}
			}
		}
	}
	if p.MinWriterVersion >= 3 {
		if b, _ := confBool(md.Configuration, PropCheckpointWriteStatsAsStruct, false); b {
			return &UnsupportedFeatureError{Feature: PropCheckpointWriteStatsAsStruct,
				Detail: "checkpoints with stats_parsed are not written"}
		}
	}
	return nil
}

// MinProtocol returns the lowest protocol a new table with this metadata
// needs: reader 1 / writer 2, raised only by what the metadata uses
// (timestamp_ntz columns need table features: reader 3 / writer 7 with
// timestampNtz; in-commit timestamps writer 7 with inCommitTimestamp; the
// change data feed writer 4). It refuses metadata whose features this
// package cannot write.
func MinProtocol(md Metadata) (Protocol, error) {
	schema, err := md.Schema()
	if err != nil {
		return Protocol{}, err
	}
	p := Protocol{MinReaderVersion: 1, MinWriterVersion: 2}
	reader := map[string]bool{}
	writer := map[string]bool{}
	usesNTZ := false
	walkFields(schema, func(_ []string, f StructField) {
		if typeUses(f.Type, TimestampNTZ) {
			usesNTZ = true
		}
	})
	if usesNTZ {
		reader["timestampNtz"], writer["timestampNtz"] = true, true
	}
	if b, err := confBool(md.Configuration, PropEnableInCommitTimestamps, false); err != nil {
		return Protocol{}, err
	} else if b {
		writer["inCommitTimestamp"] = true
	}
	cdf, err := confBool(md.Configuration, PropEnableChangeDataFeed, false)
	if err != nil {
		return Protocol{}, err
	}
	if len(writer) > 0 {
		// Table features: list what the legacy versions implied too, as
		// Spark does, so that nothing a writer must respect is dropped.
		writer["appendOnly"], writer["invariants"] = true, true
		if cdf {
			writer["changeDataFeed"] = true
		}
		p.MinWriterVersion = 7
		p.WriterFeatures = slices.Sorted(maps.Keys(writer))
		if len(reader) > 0 {
			p.MinReaderVersion = 3
			p.ReaderFeatures = slices.Sorted(maps.Keys(reader))
		}
	} else if cdf {
		p.MinWriterVersion = 4
	}
	if err := checkWrite(p, md, schema); err != nil {
		return Protocol{}, err
	}
	return p, nil
}

func typeUses(t DataType, want PrimitiveType) bool {
	switch t := t.(type) {
	case PrimitiveType:
		return t == want
	case *ArrayType:
		return typeUses(t.ElementType, want)
	case *MapType:
		return typeUses(t.KeyType, want) || typeUses(t.ValueType, want)
	}
	return false // structs: walkFields visits their fields
}

func slicesContains(s []string, v string) bool { return slices.Contains(s, v) }
