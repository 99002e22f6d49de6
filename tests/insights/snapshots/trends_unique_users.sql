-- A:current
SELECT toStartOfWeek(timestamp, 1, {tz:String}) AS bucket, CAST([], 'Array(String)') AS bd, toFloat64(uniqExact(person_key)) AS value, grouping(bucket) AS is_total FROM `snap`.`events` WHERE tenant_id = {tenant_id:String} AND timestamp >= {p1:DateTime64(3)} AND timestamp < {p2:DateTime64(3)} AND event = {p3:String} GROUP BY GROUPING SETS ((bucket, bd), (bd))
-- params: {"p1": "2026-03-16 23:00:00.000", "p2": "2026-03-31 22:00:00.000", "p3": "signup", "tz": "Europe/Oslo"}
