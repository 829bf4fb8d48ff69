package contract

import "time"

// WindowRow is one aggregate of one sensor over one event-time window: the
// row the streamer writes under stream/. The first seven columns are the
// seed's, with its names and types; min_temp and max_temp are sensorlab's
// additions (alerts use max_temp).
//
// Timestamps are stored as Parquet TIMESTAMP(MICROS, isAdjustedToUTC=true),
// which Spark, DuckDB and pandas all read as UTC instants.
type WindowRow struct {
	WinStart time.Time `parquet:"win_start,timestamp(microsecond)" json:"win_start"`
	WinEnd   time.Time `parquet:"win_end,timestamp(microsecond)" json:"win_end"`
	SensorID string    `parquet:"sensor_id" json:"sensor_id"`
	Eventos  int64     `parquet:"eventos" json:"eventos"`
	AvgTemp  float64   `parquet:"avg_temp" json:"avg_temp"`
	AvgHum   float64   `parquet:"avg_hum" json:"avg_hum"`
	OKCount  int64     `parquet:"ok_count" json:"ok_count"`
	MinTemp  float64   `parquet:"min_temp" json:"min_temp"`
	MaxTemp  float64   `parquet:"max_temp" json:"max_temp"`
}

// BatchRow is one sensor's consolidation over every committed window row:
// the row of the Delta table batch/agg_desde_stream. Names, order and
// types are exactly the seed's:
//
//	sensor_id string, total_eventos int64, avg_temp_global double,
//	avg_hum_global double, ok_total int64, ventanas int64
//
// avg_temp_global and avg_hum_global are the unweighted means of the window
// means (the seed's avg(avg_temp)), not means weighted by eventos.
type BatchRow struct {
	SensorID      string  `parquet:"sensor_id" json:"sensor_id"`
	TotalEventos  int64   `parquet:"total_eventos" json:"total_eventos"`
	AvgTempGlobal float64 `parquet:"avg_temp_global" json:"avg_temp_global"`
	AvgHumGlobal  float64 `parquet:"avg_hum_global" json:"avg_hum_global"`
	OKTotal       int64   `parquet:"ok_total" json:"ok_total"`
	Ventanas      int64   `parquet:"ventanas" json:"ventanas"`
}

// Column describes one Parquet column as a reader sees it: its name, its
// physical type and its logical type ("" when it has none).
type Column struct {
	Name     string
	Physical string
	Logical  string
}

// WindowColumns is the window-row schema, in order.
var WindowColumns = []Column{
	{"win_start", "INT64", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
	{"win_end", "INT64", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"},
	{"sensor_id", "BYTE_ARRAY", "STRING"},
	{"eventos", "INT64", "INT(64,true)"},
	{"avg_temp", "DOUBLE", ""},
	{"avg_hum", "DOUBLE", ""},
	{"ok_count", "INT64", "INT(64,true)"},
	{"min_temp", "DOUBLE", ""},
	{"max_temp", "DOUBLE", ""},
}

// BatchColumns is the consolidated-row schema, in order.
var BatchColumns = []Column{
	{"sensor_id", "BYTE_ARRAY", "STRING"},
	{"total_eventos", "INT64", "INT(64,true)"},
	{"avg_temp_global", "DOUBLE", ""},
	{"avg_hum_global", "DOUBLE", ""},
	{"ok_total", "INT64", "INT(64,true)"},
	{"ventanas", "INT64", "INT(64,true)"},
}
