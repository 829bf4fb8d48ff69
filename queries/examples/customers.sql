-- Events per customer per 5-minute window, with the amount spent, from
-- JSON whose timestamps are ISO-8601 strings:
--   {"customer_id": "C0042", "amount": "19.99", "ts": "2026-12-03T10:15:00.250Z"}
CREATE SOURCE purchases (
  customer_id STRING NOT NULL,
  amount      DECIMAL(10,2) NOT NULL,
  ts          TIMESTAMP NOT NULL,
  WATERMARK FOR ts AS ts - INTERVAL '2' MINUTES
) WITH (connector = 'kafka', topic = 'purchases', format = 'json');

CREATE SINK purchases_5m WITH (connector = 'delta', path = 'purchases_5m', mode = 'append') AS
SELECT window.start AS window_start,
       window.end   AS window_end,
       customer_id,
       count(*)     AS events,
       CAST(sum(amount) AS DECIMAL(10,2)) AS total_amount
FROM purchases
GROUP BY window(ts, '5 minutes'), customer_id;
