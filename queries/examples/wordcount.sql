-- Word count over a topic of text lines, the whole table on the console
-- each batch (complete mode): the first example of Structured Streaming's
-- guide. Feed it with: kcat -P -b localhost:9094 -t lines
CREATE SOURCE lines (value STRING) WITH (connector = 'kafka', topic = 'lines', format = 'text');

CREATE SINK word_counts WITH (connector = 'console', mode = 'complete') AS
SELECT word, count(*) AS count
FROM (SELECT explode(split(value, ' ')) AS word FROM lines) AS words
WHERE word <> ''
GROUP BY word
ORDER BY count DESC, word;
