-- Merges of the tables whose rows carry sketch or bitmap states read 256 rows per part at a time
-- instead of 8,192 (issue 26, resident memory). A `uniqCombined(14)` state is up to ~12 KB, so a
-- block of 8,192 such rows is ~100 MB per merged part: merging `metrics_by_property` of the 10M-event
-- bench peaked at 95.5 MiB over the process's start, 26.0 MiB with 256 rows, in the same CPU time
-- (docs/benchmarks.md, "Soak: the result cache's dead answers and the engine's freed pages"). The
-- granules of these tables are 64 rows already, for the same reason on the read side.
ALTER TABLE {db}.metrics_daily MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE {db}.metrics_monthly MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE {db}.metrics_by_property MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE {db}.metrics_by_property_days MODIFY SETTING merge_max_block_size = 256;

ALTER TABLE {db}.person_hours MODIFY SETTING merge_max_block_size = 256;
