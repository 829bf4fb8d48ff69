-- The seed lab's streaming job (spark_streaming.py), as queries.
--
-- Sensor readings arrive as JSON on eventos_sensores:
--   {"sensor_id": "S007", "ts": 1732200000123, "temp": 27.41, "hum": 63.05, "ok": true}
-- A record that is not such an object goes to the dead-letter topic with
-- the decoder's reason (malformed_json, missing_field, wrong_type, …) or
-- with the name of the constraint it breaks. A reading whose event time is
-- at or before the watermark (too late for its window) goes to
-- eventos_sensores.late instead of vanishing, as Spark would drop it.
CREATE SOURCE sensors (
  sensor_id STRING NOT NULL,
  ts        BIGINT NOT NULL,
  temp      DOUBLE NOT NULL,
  hum       DOUBLE NOT NULL,
  ok        BOOLEAN NOT NULL,
  event_time AS timestamp_millis(ts),
  CONSTRAINT invalid_sensor_id CHECK (octet_length(sensor_id) BETWEEN 1 AND 64 AND NOT sensor_id RLIKE '[\\x00-\\x1f\\x7f]'),
  CONSTRAINT ts_out_of_range CHECK (ts >= 946684800000 AND ts <= unix_millis(current_timestamp()) + 86400000),
  CONSTRAINT out_of_range CHECK (temp BETWEEN -100 AND 150 AND hum BETWEEN 0 AND 100),
  WATERMARK FOR event_time AS event_time - INTERVAL '1' MINUTE
) WITH (connector = 'kafka', topic = 'eventos_sensores', format = 'json', late_topic = 'eventos_sensores.late');

-- 10-second windows per sensor into the Delta table `stream`, partitioned
-- by the window start's UTC day: each window once, when the watermark
-- closes it (append mode).
CREATE SINK stream WITH (connector = 'delta', path = 'stream', mode = 'append', partitioned_by = 'date') AS
SELECT window.start AS win_start,
       window.end   AS win_end,
       sensor_id,
       count(*)     AS eventos,
       avg(temp)    AS avg_temp,
       avg(hum)     AS avg_hum,
       sum(CASE WHEN ok THEN 1 ELSE 0 END) AS ok_count,
       min(temp)    AS min_temp,
       max(temp)    AS max_temp,
       CAST(window.start AS DATE) AS date
FROM sensors
GROUP BY window(event_time, '10 seconds'), sensor_id;

-- The same windows on the console, as they change (update mode).
CREATE SINK console WITH (connector = 'console', mode = 'update') AS
SELECT window.start AS win_start, window.end AS win_end, sensor_id,
       count(*) AS eventos, avg(temp) AS avg_temp, avg(hum) AS avg_hum,
       sum(CASE WHEN ok THEN 1 ELSE 0 END) AS ok_count
FROM sensors
GROUP BY window(event_time, '10 seconds'), sensor_id;

-- A high_temp alert for every closed window whose max_temp exceeds 39.5,
-- exactly once to Kafka, keyed by sensor_id.
CREATE SINK alerts WITH (connector = 'kafka', topic = 'alertas_sensores', mode = 'append', key = 'sensor_id') AS
SELECT 'high_temp'               AS type,
       sensor_id,
       unix_millis(window.end)   AS ts,
       unix_millis(window.start) AS win_start,
       unix_millis(window.end)   AS win_end,
       max(temp)                 AS max_temp,
       39.5D                     AS threshold
FROM sensors
GROUP BY window(event_time, '10 seconds'), sensor_id
HAVING max(temp) > 39.5D;
