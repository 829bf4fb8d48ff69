package contract

// Alert is one record of the alerts topic (AlertsTopic), keyed by sensor_id.
// The streamer writes alerts exactly once for read_committed consumers.
//
//	{"type":"high_temp","sensor_id":"S007","ts":1732200010000,"win_start":1732200000000,
//	 "win_end":1732200010000,"max_temp":39.87,"threshold":39.5,"batch_id":12}
type Alert struct {
	Type     string `json:"type"`
	SensorID string `json:"sensor_id"`
	// TS is the event time the alert is about (epoch ms): a window's end for
	// high_temp, the silence deadline for sensor_silent, the reading's time for
	// sensor_recovered.
	TS        int64   `json:"ts"`
	WinStart  int64   `json:"win_start,omitempty"`
	WinEnd    int64   `json:"win_end,omitempty"`
	MaxTemp   float64 `json:"max_temp,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
	// LastSeen is the event time of the sensor's last reading before it fell
	// silent (sensor_silent, sensor_recovered).
	LastSeen int64 `json:"last_seen,omitempty"`
	BatchID  int64 `json:"batch_id"`
}

// Alert types.
const (
	// AlertHighTemp: a closed window's max_temp exceeded the threshold.
	AlertHighTemp = "high_temp"
	// AlertSilent: a sensor sent no reading for the silence timeout of event time.
	AlertSilent = "sensor_silent"
	// AlertRecovered: a silent sensor sent a reading again.
	AlertRecovered = "sensor_recovered"
)
