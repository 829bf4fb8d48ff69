-- The seed lab's batch job (spark_batch_from_parquet.py): every committed
-- window of the stream table, consolidated per sensor into
-- batch/agg_desde_stream (one overwrite per run). avg_temp_global and
-- avg_hum_global are unweighted means of the window means, as the seed's
-- avg(avg_temp) is.
CREATE TABLE stream (
  win_start TIMESTAMP NOT NULL, win_end TIMESTAMP NOT NULL, sensor_id STRING NOT NULL,
  eventos BIGINT NOT NULL, avg_temp DOUBLE NOT NULL, avg_hum DOUBLE NOT NULL,
  ok_count BIGINT NOT NULL, min_temp DOUBLE NOT NULL, max_temp DOUBLE NOT NULL
) WITH (connector = 'delta', path = 'stream');

CREATE SINK agg_desde_stream WITH (connector = 'delta', path = 'batch/agg_desde_stream', mode = 'overwrite') AS
SELECT sensor_id,
       sum(eventos)  AS total_eventos,
       avg(avg_temp) AS avg_temp_global,
       avg(avg_hum)  AS avg_hum_global,
       sum(ok_count) AS ok_total,
       count(*)      AS ventanas
FROM stream
GROUP BY sensor_id
ORDER BY sensor_id;
