package contract

// Kafka topics of the lab.
const (
	// EventsTopic carries the sensors' readings, one JSON object per record,
	// keyed by sensor_id. The seed creates it with 3 partitions.
	EventsTopic = "eventos_sensores"
	// EventsPartitions is the partition count the producer creates the topic with.
	EventsPartitions = 3
	// DLQTopic receives every record the streamer could not decode, unchanged,
	// with the reason in the HeaderReason header.
	DLQTopic = EventsTopic + ".dlq"
	// AlertsTopic receives alerts raised by the streamer.
	AlertsTopic = "alertas_sensores"
	// LateTopic receives readings dropped as late, when enabled.
	LateTopic = EventsTopic + ".late"
)

// Headers the streamer sets on dead-letter (and late) records so that a
// consumer can tell why a record is there and where it came from. Together,
// source topic, partition and offset identify a record uniquely: a consumer can
// deduplicate on them.
const (
	HeaderReason          = "sensorlab.reason"
	HeaderDetail          = "sensorlab.detail"
	HeaderSourceTopic     = "sensorlab.source.topic"
	HeaderSourcePartition = "sensorlab.source.partition"
	HeaderSourceOffset    = "sensorlab.source.offset"
)

// Headers a replica's repartition stage sets on the records it re-keys into
// a repartition topic: where each came from and its key there (absent when
// it had none). The dead letters and late records of a re-keyed record name
// its origin, as they would without the repartition topic.
const (
	HeaderOriginTopic     = "sensorlab.origin.topic"
	HeaderOriginPartition = "sensorlab.origin.partition"
	HeaderOriginOffset    = "sensorlab.origin.offset"
	HeaderOriginKey       = "sensorlab.origin.key"
)
