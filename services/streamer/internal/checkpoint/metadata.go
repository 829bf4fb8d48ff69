package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sensorlab/sensorlab/lake"
)

// metadataFile is metadata.json. Durations are stored in milliseconds so the
// file reads the same to a human and to any JSON tool.
type metadataFile struct {
	Version          int         `json:"version"`
	ID               string      `json:"id"`
	CreatedAt        time.Time   `json:"createdAt"`
	Topic            string      `json:"topic"`
	WindowMs         int64       `json:"windowMs"`
	SlideMs          int64       `json:"slideMs"`
	SessionGapMs     int64       `json:"sessionGapMs"`
	WatermarkDelayMs int64       `json:"watermarkDelayMs"`
	OutputMode       string      `json:"outputMode"`
	Queries          []QueryMeta `json:"queries,omitempty"`
}

func toFile(m Metadata) metadataFile {
	return metadataFile{
		Version: m.Version, ID: m.ID, CreatedAt: m.CreatedAt.UTC(), Topic: m.Topic,
		WindowMs: m.Window.Milliseconds(), SlideMs: m.Slide.Milliseconds(),
		SessionGapMs: m.SessionGap.Milliseconds(), WatermarkDelayMs: m.WatermarkDelay.Milliseconds(),
		OutputMode: m.OutputMode, Queries: m.Queries,
	}
}

func (f metadataFile) metadata() Metadata {
	return Metadata{
		Version: f.Version, ID: f.ID, CreatedAt: f.CreatedAt, Topic: f.Topic,
		Window: time.Duration(f.WindowMs) * time.Millisecond, Slide: time.Duration(f.SlideMs) * time.Millisecond,
		SessionGap:     time.Duration(f.SessionGapMs) * time.Millisecond,
		WatermarkDelay: time.Duration(f.WatermarkDelayMs) * time.Millisecond, OutputMode: f.OutputMode,
		Queries: f.Queries,
	}
}

// InitMetadata creates metadata.json from want if the checkpoint has none and
// returns what it stored (a new UUID when want.ID is empty, the current time
// when want.CreatedAt is zero). Otherwise it loads the stored metadata, keeps
// its id, and returns an error wrapping ErrIncompatible, which says how to
// proceed, if the stored shape (topic, window, slide, session gap, watermark
// delay, output mode) differs from want. The file is created with
// PutIfAbsent: of two streamers starting on one empty checkpoint, both take
// the id of the one that created it.
func (c *Checkpoint) InitMetadata(ctx context.Context, want Metadata) (Metadata, error) {
	if err := validMetadata(want); err != nil {
		return Metadata{}, fmt.Errorf("checkpoint: invalid query shape: %w", err)
	}
	var f metadataFile
	err := c.getJSON(ctx, MetadataKey, &f)
	if errors.Is(err, lake.ErrNotExist) {
		m, cerr := c.createMetadata(ctx, want)
		if !errors.Is(cerr, lake.ErrExist) {
			return m, cerr
		}
		err = c.getJSON(ctx, MetadataKey, &f) // created meanwhile: use that one
	}
	switch {
	case errors.Is(err, ErrDamaged):
		return Metadata{}, metadataDamaged(err)
	case err != nil:
		return Metadata{}, err
	}
	if verr := checkVersion(f.Version); verr != nil {
		return Metadata{}, metadataDamaged(damaged(MetadataKey, verr))
	}
	if _, perr := uuid.Parse(f.ID); perr != nil {
		return Metadata{}, metadataDamaged(damaged(MetadataKey, fmt.Errorf("query id %q: %w", f.ID, perr)))
	}
	have := f.metadata()
	if diffs := shapeDiffs(have, want); len(diffs[0]) > 0 {
		return have, fmt.Errorf("%w: %s (query %s, created %s) was written by a query with %s, "+
			"but this run asks for %s. Its offsets and window state only fit that query: restart with "+
			"the original settings, or point --checkpoint at a new, empty location to start a new query",
			ErrIncompatible, MetadataKey, have.ID, have.CreatedAt.Format(time.RFC3339),
			strings.Join(diffs[0], ", "), strings.Join(diffs[1], ", "))
	}
	return have, nil
}

// UpdateMetadata replaces metadata.json's query list with queries,
// keeping the stored id, creation time and shape: a query file's driver
// records the queries added to or removed from the script since the
// checkpoint was created. m is what InitMetadata returned.
func (c *Checkpoint) UpdateMetadata(ctx context.Context, m Metadata, queries []QueryMeta) (Metadata, error) {
	if m.ID == "" || m.Version == 0 {
		return Metadata{}, errors.New("checkpoint: update metadata: pass the metadata InitMetadata returned")
	}
	m.Queries = queries
	if err := c.putJSON(ctx, MetadataKey, toFile(m)); err != nil {
		return Metadata{}, fmt.Errorf("checkpoint: update %s: %w", MetadataKey, err)
	}
	return m, nil
}

// createMetadata creates metadata.json; an error matching lake.ErrExist
// means another process created it first.
func (c *Checkpoint) createMetadata(ctx context.Context, m Metadata) (Metadata, error) {
	m.Version = FormatVersion
	if m.ID == "" {
		m.ID = uuid.NewString()
	} else if _, err := uuid.Parse(m.ID); err != nil {
		return Metadata{}, fmt.Errorf("checkpoint: query id %q is not a UUID: %w", m.ID, err)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = time.Now()
	}
	// Store and return the same, millisecond-precise values.
	f := toFile(m)
	b, err := json.Marshal(f)
	if err != nil {
		return Metadata{}, fmt.Errorf("checkpoint: encode %s: %w", MetadataKey, err)
	}
	if err := c.st.PutIfAbsent(ctx, MetadataKey, b); err != nil {
		return Metadata{}, fmt.Errorf("checkpoint: create %s: %w", MetadataKey, err)
	}
	return f.metadata(), nil
}

func metadataDamaged(err error) error {
	return fmt.Errorf("%w; restore it from a backup (the query id is also the appId of the stream table's txn "+
		"actions and the queryId of its commits), or point --checkpoint at a new, empty location to start a new query", err)
}

func validMetadata(m Metadata) error {
	var errs []error
	if m.Topic == "" {
		errs = append(errs, errors.New("empty topic"))
	}
	if m.OutputMode == "" {
		errs = append(errs, errors.New("empty output mode"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"window", m.Window}, {"slide", m.Slide}, {"session gap", m.SessionGap}, {"watermark delay", m.WatermarkDelay}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("negative %s %s", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

// shapeDiffs returns, for each field that differs, the stored and the wanted setting.
func shapeDiffs(have, want Metadata) [2][]string {
	var out [2][]string
	add := func(name string, h, w any) {
		out[0] = append(out[0], fmt.Sprintf("%s=%v", name, h))
		out[1] = append(out[1], fmt.Sprintf("%s=%v", name, w))
	}
	if have.Topic != want.Topic {
		add("topic", have.Topic, want.Topic)
	}
	// Compare at the stored precision (milliseconds).
	for _, d := range []struct {
		name string
		h, w time.Duration
	}{
		{"window", have.Window, want.Window},
		{"slide", have.Slide, want.Slide},
		{"session-gap", have.SessionGap, want.SessionGap},
		{"watermark-delay", have.WatermarkDelay, want.WatermarkDelay},
	} {
		if d.h.Milliseconds() != d.w.Milliseconds() {
			add(d.name, d.h, d.w)
		}
	}
	if have.OutputMode != want.OutputMode {
		add("output-mode", have.OutputMode, want.OutputMode)
	}
	return out
}
