-- Device telemetry: the average temperature per device in 5-minute
-- windows, and an alert row to Kafka for each window whose average exceeds
-- the threshold.
--   {"device_id": "D17", "temperature": 71.3, "event_time": 1764756900123}
CREATE SOURCE telemetry (
  device_id   STRING NOT NULL,
  temperature DOUBLE NOT NULL,
  event_time  BIGINT NOT NULL,
  ts AS timestamp_millis(event_time),
  WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE
) WITH (connector = 'kafka', topic = 'telemetry', format = 'json');

CREATE SINK device_temps WITH (connector = 'delta', path = 'device_temps', mode = 'append') AS
SELECT window.start AS window_start, window.end AS window_end, device_id,
       avg(temperature) AS avg_temperature, count(*) AS readings
FROM telemetry
GROUP BY window(ts, '5 minutes'), device_id;

CREATE SINK device_alerts WITH (connector = 'kafka', topic = 'device_alerts', mode = 'append', key = 'device_id') AS
SELECT device_id, window.start AS window_start, window.end AS window_end,
       avg(temperature) AS avg_temperature, 'high_temperature' AS alert
FROM telemetry
GROUP BY window(ts, '5 minutes'), device_id
HAVING avg(temperature) > 75.0D;
