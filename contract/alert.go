package contract

// Alert is one record of the alerts topic (AlertsTopic), keyed by sensor_id,
// as the seed's alerts query (queries/seed/streaming.sql) writes it with
// to_json: one high_temp alert per closed window whose max_temp exceeds the
// threshold. The streamer writes alerts exactly once for read_committed
// consumers; the batch that wrote one is in its sensorlab.batch_id header.
//
//	{"type":"high_temp","sensor_id":"S007","ts":1732200010000,"win_start":1732200000000,
//	 "win_end":1732200010000,"max_temp":39.87,"threshold":39.5}
type Alert struct {
	Type     string `json:"type"`
	SensorID string `json:"sensor_id"`
	// TS is the event time the alert is about (epoch ms): the window's end.
	TS        int64   `json:"ts"`
	WinStart  int64   `json:"win_start"`
	WinEnd    int64   `json:"win_end"`
	MaxTemp   float64 `json:"max_temp"`
	Threshold float64 `json:"threshold"`
}

// AlertHighTemp is the type of an alert on a closed window whose max_temp
// exceeded the threshold.
const AlertHighTemp = "high_temp"
