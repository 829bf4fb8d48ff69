-- Builds spark_checkpoint.parquet: a classic checkpoint with the column
-- layout Spark (Delta Lake 3.x) writes for a table partitioned by region,
-- including the columns this package does not write (deletionVector,
-- baseRowId, stats_parsed, ...). Run with DuckDB:
--   duckdb < spark_checkpoint.sql
-- The table: protocol 1/7 with domainMetadata, three live files (one with a
-- URL-encoded path, one in the null partition), one tombstone, two txns and
-- one metadata domain, at version 10.
CREATE TYPE dv AS STRUCT(storageType VARCHAR, pathOrInlineDv VARCHAR, "offset" INTEGER, sizeInBytes INTEGER, cardinality BIGINT, maxRowIndex BIGINT);
COPY (
  SELECT txn, "add", remove, metaData, protocol, domainMetadata FROM (VALUES
    (1, NULL, NULL, NULL, NULL, {'minReaderVersion': 1, 'minWriterVersion': 7, 'readerFeatures': NULL::VARCHAR[], 'writerFeatures': ['appendOnly', 'invariants', 'domainMetadata']}, NULL),
    (2, NULL, NULL, NULL, {'id': 'f00dcafe-0000-4000-8000-000000000000', 'name': NULL::VARCHAR, 'description': NULL::VARCHAR, 'format': {'provider': 'parquet', 'options': MAP {}::MAP(VARCHAR, VARCHAR)}, 'schemaString': '{"type":"struct","fields":[{"name":"id","type":"long","nullable":true,"metadata":{}},{"name":"region","type":"string","nullable":true,"metadata":{}}]}', 'partitionColumns': ['region'], 'configuration': MAP {'delta.checkpointInterval': '10', 'owner': 'spark'}, 'createdTime': 1732100000000}, NULL, NULL),
    (3, {'appId': 'query-a', 'version': 41::BIGINT, 'lastUpdated': 1732200000000}, NULL, NULL, NULL, NULL, NULL),
    (4, {'appId': 'query-b', 'version': 7::BIGINT, 'lastUpdated': NULL::BIGINT}, NULL, NULL, NULL, NULL, NULL),
    (5, NULL, {'path': 'region=eu/part-00000-1.c000.snappy.parquet', 'partitionValues': MAP {'region': 'eu'}, 'size': 1000::BIGINT, 'modificationTime': 1732200000000, 'dataChange': false, 'stats': '{"numRecords":10,"minValues":{"id":1},"maxValues":{"id":10},"nullCount":{"id":0}}', 'tags': NULL::MAP(VARCHAR, VARCHAR), 'deletionVector': NULL::dv, 'baseRowId': NULL::BIGINT, 'defaultRowCommitVersion': NULL::BIGINT, 'clusteringProvider': NULL::VARCHAR, 'stats_parsed': {'numRecords': 10::BIGINT, 'minValues': {'id': 1}, 'maxValues': {'id': 10}, 'nullCount': {'id': 0}}}, NULL, NULL, NULL, NULL),
    (6, NULL, {'path': 'region=a%253Db%20c/part-00001-2.c000.snappy.parquet', 'partitionValues': MAP {'region': 'a=b c'}, 'size': 2000::BIGINT, 'modificationTime': 1732200000000, 'dataChange': false, 'stats': '{"numRecords":20}', 'tags': MAP {'INSERTION_TIME': '1732200000000000'}, 'deletionVector': NULL::dv, 'baseRowId': NULL::BIGINT, 'defaultRowCommitVersion': NULL::BIGINT, 'clusteringProvider': NULL::VARCHAR, 'stats_parsed': {'numRecords': 20::BIGINT, 'minValues': {'id': NULL::BIGINT}, 'maxValues': {'id': NULL::BIGINT}, 'nullCount': {'id': NULL::BIGINT}}}, NULL, NULL, NULL, NULL),
    (7, NULL, {'path': 'region=__HIVE_DEFAULT_PARTITION__/part-00002-3.c000.snappy.parquet', 'partitionValues': MAP {'region': NULL::VARCHAR}, 'size': 3000::BIGINT, 'modificationTime': 1732200000000, 'dataChange': false, 'stats': NULL::VARCHAR, 'tags': NULL::MAP(VARCHAR, VARCHAR), 'deletionVector': NULL::dv, 'baseRowId': NULL::BIGINT, 'defaultRowCommitVersion': NULL::BIGINT, 'clusteringProvider': NULL::VARCHAR, 'stats_parsed': NULL}, NULL, NULL, NULL, NULL),
    (8, NULL, NULL, {'path': 'region=eu/part-00009-old.c000.snappy.parquet', 'deletionTimestamp': 1732150000000, 'dataChange': true, 'extendedFileMetadata': true, 'partitionValues': MAP {'region': 'eu'}, 'size': 900::BIGINT, 'deletionVector': NULL::dv, 'baseRowId': NULL::BIGINT, 'defaultRowCommitVersion': NULL::BIGINT}, NULL, NULL, NULL),
    (9, NULL, NULL, NULL, NULL, NULL, {'domain': 'com.example.owner', 'configuration': '{"team":"lab"}', 'removed': false})
  ) t(n, txn, "add", remove, metaData, protocol, domainMetadata) ORDER BY n
) TO 'spark_checkpoint.parquet' (FORMAT parquet, COMPRESSION snappy);
