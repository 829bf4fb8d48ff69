-- User sessions: a session per user lasts while the gaps between the
-- user's clicks are under 30 minutes; each session once, when the
-- watermark passes its end (last click + 30 minutes).
--   {"user_id": "U17", "page": "/cart", "ts": 1764756900123}
CREATE SOURCE clicks (
  user_id STRING NOT NULL,
  page    STRING,
  ts      BIGINT NOT NULL,
  event_time AS timestamp_millis(ts),
  WATERMARK FOR event_time AS event_time - INTERVAL '5' MINUTES
) WITH (connector = 'kafka', topic = 'clicks', format = 'json');

CREATE SINK user_sessions WITH (connector = 'delta', path = 'user_sessions', mode = 'append') AS
SELECT user_id,
       session_window.start AS session_start,
       session_window.end   AS session_end,
       count(*)             AS clicks,
       approx_count_distinct(page) AS pages
FROM clicks
GROUP BY session_window(event_time, '30 minutes'), user_id;
