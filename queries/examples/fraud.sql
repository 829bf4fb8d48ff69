-- Users with more than 5 transactions in a sliding 10-minute window that
-- slides every minute: a candidate-fraud signal, each window once when the
-- watermark closes it.
--   {"user_id": "U981", "amount": 12.5, "ts": 1764756900123}
CREATE SOURCE transactions (
  user_id STRING NOT NULL,
  amount  DOUBLE,
  ts      BIGINT NOT NULL,
  event_time AS timestamp_millis(ts),
  WATERMARK FOR event_time AS event_time - INTERVAL '30' SECONDS
) WITH (connector = 'kafka', topic = 'transactions', format = 'json');

CREATE SINK suspicious_users WITH (connector = 'kafka', topic = 'suspicious_users', mode = 'append', key = 'user_id') AS
SELECT user_id, window.start AS window_start, window.end AS window_end,
       count(*) AS transactions, sum(amount) AS total_amount
FROM transactions
GROUP BY window(event_time, '10 minutes', '1 minute'), user_id
HAVING count(*) > 5;
