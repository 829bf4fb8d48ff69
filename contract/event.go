package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

// Event is one sensor reading, as the seed's generator publishes it:
//
//	{"sensor_id":"S007","ts":1732200000123,"temp":27.41,"hum":63.05,"ok":true}
//
// TS is the event time in epoch milliseconds (UTC).
type Event struct {
	SensorID string  `json:"sensor_id"`
	TS       int64   `json:"ts"`
	Temp     float64 `json:"temp"`
	Hum      float64 `json:"hum"`
	OK       bool    `json:"ok"`
}

// Validation limits. A record outside them is not a reading the lab accepts:
// it goes to the dead-letter topic with the matching reason.
const (
	// MaxValueBytes bounds a record value; larger ones are rejected unread.
	MaxValueBytes = 64 << 10
	// MaxSensorIDBytes bounds sensor_id.
	MaxSensorIDBytes = 64
	// MinTS is 2000-01-01T00:00:00Z: readings before it are rejected.
	MinTS int64 = 946684800000
	// MaxFutureMs is how far past the batch's time a reading may be stamped.
	MaxFutureMs int64 = 24 * 60 * 60 * 1000
	// Physical ranges of the two measurements.
	MinTemp, MaxTemp = -100.0, 150.0
	MinHum, MaxHum   = 0.0, 100.0
)

// Reason says why a record was rejected. Its string is what the dead-letter
// header carries and what metrics are labelled with.
type Reason string

// The reasons a record can be rejected, one per kind of bad input.
const (
	ReasonEmpty         Reason = "empty_value"
	ReasonTooLarge      Reason = "too_large"
	ReasonInvalidUTF8   Reason = "invalid_utf8"
	ReasonMalformedJSON Reason = "malformed_json"
	ReasonNotObject     Reason = "not_object"
	ReasonMissingField  Reason = "missing_field"
	ReasonWrongType     Reason = "wrong_type"
	ReasonOutOfRange    Reason = "out_of_range"
	ReasonBadSensorID   Reason = "invalid_sensor_id"
	ReasonTSOutOfRange  Reason = "ts_out_of_range"
)

// Reasons lists every Reason, for metrics and documentation.
var Reasons = []Reason{
	ReasonEmpty, ReasonTooLarge, ReasonInvalidUTF8, ReasonMalformedJSON, ReasonNotObject,
	ReasonMissingField, ReasonWrongType, ReasonOutOfRange, ReasonBadSensorID, ReasonTSOutOfRange,
}

// DecodeError is the error DecodeEvent returns for a record that does not fit
// the schema. Field names the offending field, when there is one.
type DecodeError struct {
	Reason Reason
	Field  string
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: field %q: %s", e.Reason, e.Field, e.Detail)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
}

// ReasonOf returns the Reason of a decode error, or "" when err is not one.
func ReasonOf(err error) Reason {
	var de *DecodeError
	if errors.As(err, &de) {
		return de.Reason
	}
	return ""
}

func reject(r Reason, field, format string, args ...any) error {
	return &DecodeError{Reason: r, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// DecodeEvent is the reference decoder: it parses one record value with
// encoding/json and applies every validation rule of the contract. nowMs is
// the reference time for the "too far in the future" rule; the streamer passes
// its batch's planned timestamp, so that a re-run batch decides the same way.
//
// Rules, in the order they are checked:
//   - empty value; value over MaxValueBytes; bytes that are not UTF-8;
//   - JSON syntax (malformed_json); a top-level value that is not an object;
//   - each field present and not null (missing_field), of its JSON type
//     (wrong_type): sensor_id string, ts integer, temp and hum numbers, ok bool;
//   - numbers that do not fit a float64 or int64 (out_of_range);
//   - sensor_id non-empty, at most MaxSensorIDBytes, without control characters;
//   - ts in [MinTS, nowMs+MaxFutureMs]; temp and hum within their ranges.
//
// Unknown fields are ignored. A duplicated key takes its last value, as
// encoding/json does.
//
// Any faster decoder must agree with this one on every input.
func DecodeEvent(value []byte, nowMs int64) (Event, error) {
	var ev Event
	switch {
	case len(value) == 0:
		return ev, reject(ReasonEmpty, "", "record value is empty")
	case len(value) > MaxValueBytes:
		return ev, reject(ReasonTooLarge, "", "record value is %d bytes, the limit is %d", len(value), MaxValueBytes)
	case !utf8.Valid(value):
		return ev, reject(ReasonInvalidUTF8, "", "record value is not valid UTF-8")
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return ev, reject(ReasonMalformedJSON, "", "%v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ev, reject(ReasonMalformedJSON, "", "trailing data after the JSON value")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return ev, reject(ReasonNotObject, "", "record value is JSON but not an object")
	}

	// Fields are checked in schema order so that the first problem reported is stable.
	v, err := field(obj, "sensor_id")
	if err != nil {
		return ev, err
	}
	s, ok := v.(string)
	if !ok {
		return ev, reject(ReasonWrongType, "sensor_id", "want a string, got %s", jsonType(v))
	}
	ev.SensorID = s

	if v, err = field(obj, "ts"); err != nil {
		return ev, err
	}
	n, ok := v.(json.Number)
	if !ok {
		return ev, reject(ReasonWrongType, "ts", "want an integer, got %s", jsonType(v))
	}
	if !isIntegerLiteral(string(n)) {
		return ev, reject(ReasonWrongType, "ts", "want an integer, got %s", n)
	}
	ts, perr := strconv.ParseInt(string(n), 10, 64)
	if perr != nil {
		return ev, reject(ReasonOutOfRange, "ts", "%s does not fit an int64", n)
	}
	ev.TS = ts

	if ev.Temp, err = number(obj, "temp"); err != nil {
		return ev, err
	}
	if ev.Hum, err = number(obj, "hum"); err != nil {
		return ev, err
	}
	if v, err = field(obj, "ok"); err != nil {
		return ev, err
	}
	b, ok := v.(bool)
	if !ok {
		return ev, reject(ReasonWrongType, "ok", "want a boolean, got %s", jsonType(v))
	}
	ev.OK = b

	return ev, Validate(ev, nowMs)
}

// Validate applies the contract's value rules (sensor_id shape, ts window,
// measurement ranges) to an already decoded event.
func Validate(ev Event, nowMs int64) error {
	if err := validSensorID(ev.SensorID); err != nil {
		return err
	}
	if ev.TS < MinTS {
		return reject(ReasonTSOutOfRange, "ts", "%d is before 2000-01-01", ev.TS)
	}
	if ev.TS > nowMs+MaxFutureMs {
		return reject(ReasonTSOutOfRange, "ts", "%d is more than 24h after the batch time %d", ev.TS, nowMs)
	}
	if !(ev.Temp >= MinTemp && ev.Temp <= MaxTemp) {
		return reject(ReasonOutOfRange, "temp", "%v is outside [%v, %v]", ev.Temp, MinTemp, MaxTemp)
	}
	if !(ev.Hum >= MinHum && ev.Hum <= MaxHum) {
		return reject(ReasonOutOfRange, "hum", "%v is outside [%v, %v]", ev.Hum, MinHum, MaxHum)
	}
	return nil
}

func validSensorID(s string) error {
	if s == "" {
		return reject(ReasonBadSensorID, "sensor_id", "empty")
	}
	if len(s) > MaxSensorIDBytes {
		return reject(ReasonBadSensorID, "sensor_id", "%d bytes, the limit is %d", len(s), MaxSensorIDBytes)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return reject(ReasonBadSensorID, "sensor_id", "contains a control character")
		}
	}
	return nil
}

func field(obj map[string]any, name string) (any, error) {
	v, ok := obj[name]
	if !ok || v == nil {
		return nil, reject(ReasonMissingField, name, "required field is missing or null")
	}
	return v, nil
}

func number(obj map[string]any, name string) (float64, error) {
	v, err := field(obj, name)
	if err != nil {
		return 0, err
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, reject(ReasonWrongType, name, "want a number, got %s", jsonType(v))
	}
	f, perr := strconv.ParseFloat(string(n), 64)
	if perr != nil || math.IsInf(f, 0) {
		return 0, reject(ReasonOutOfRange, name, "%s does not fit a float64", n)
	}
	return f, nil
}

// isIntegerLiteral reports whether a JSON number literal has neither a
// fraction nor an exponent.
func isIntegerLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	return true
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return "null"
	}
}

// AppendJSON appends the event's canonical JSON encoding to dst, field order
// and number formatting as the seed's generator writes them. It never fails.
func AppendJSON(dst []byte, ev Event) []byte {
	dst = append(dst, `{"sensor_id":`...)
	dst = appendString(dst, ev.SensorID)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, ev.TS, 10)
	dst = append(dst, `,"temp":`...)
	dst = appendFloat(dst, ev.Temp)
	dst = append(dst, `,"hum":`...)
	dst = appendFloat(dst, ev.Hum)
	dst = append(dst, `,"ok":`...)
	dst = strconv.AppendBool(dst, ev.OK)
	return append(dst, '}')
}

func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func appendFloat(dst []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		// Python's json writes 27.0 for a whole float: keep it a float literal.
		dst = strconv.AppendFloat(dst, f, 'f', 1, 64)
		return dst
	}
	if m := math.Round(f * 100); math.Abs(f) < 1e6 && m/100 == f {
		return appendCents(dst, int64(m))
	}
	return strconv.AppendFloat(dst, f, 'g', -1, 64)
}

// appendCents writes the decimal m/100 with its trailing zeros removed; m is
// not a multiple of 100 and |m| < 1e8. For a float64 f that is the nearest
// double to such a decimal (m/100 == f in float64) and |f| < 1e6, this is the
// text strconv.AppendFloat(f, 'g', -1, 64) writes: the shortest literal that
// reads back as f is that decimal (any other decimal of as few digits differs
// from it by 0.01 or more, far more than f's rounding interval), and 'g'
// writes it without an exponent below 1e6 (and above 1e-4). The sensors'
// readings are all such values (Round2): this skips the general shortest-
// literal search, the producer's largest cost after Kafka itself.
func appendCents(dst []byte, m int64) []byte {
	if m < 0 {
		dst = append(dst, '-')
		m = -m
	}
	dst = strconv.AppendInt(dst, m/100, 10)
	cents := m % 100
	dst = append(dst, '.', byte('0'+cents/10))
	if cents%10 != 0 {
		dst = append(dst, byte('0'+cents%10))
	}
	return dst
}

// Round2 rounds to 2 decimals, as the seed's round(x, 2).
func Round2(f float64) float64 { return math.Round(f*100) / 100 }
