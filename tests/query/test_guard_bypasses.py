"""A corpus of known ways around SQL guards, each refused; and what a tenant may write, accepted.

Sources: the issue (table functions inside a CTE, an IN-subquery or a UNION; `merge('system', ...)`;
`1 IN fileCluster(...)`; the `*Cluster` twins; Cube's sql-runner bypass CVE-2022-23510), ClickHouse's
own security fixes (row policy bypass through `loop(table)`, ClickHouse#97682; settings that inject
SQL fragments in readonly mode, ClickHouse#105249), Snuba's read-only admin query fixes
(getsentry/snuba#8289, #8297: `url`/`remote`/`clusterAllReplicas`, `merge`/`dictionary`/`view`/`loop`,
comma joins, quoted identifiers, `#` and `//` comments) and PostHog's direct-query review
(PostHog/posthog#72906: denylists miss the `*Cluster` twins). The guard allowlists, so each of these
fails for the general reason (not a table of the tenant, not an allowed function or clause).
"""

from __future__ import annotations

import pytest

from analytics_engine.query.catalogue import Catalogue, build_catalogue
from analytics_engine.query.errors import SqlNotAllowed, SqlSyntaxError
from analytics_engine.query.guard import guard

CATALOGUE: Catalogue = build_catalogue(
    "analytics", {"donations": ("donations", [("tenant_id", "String"), ("id", "Int64"), ("amount", "Float64")])}
)

TABLE_FUNCTIONS = [
    "file('/etc/passwd', 'LineAsString')",
    "fileCluster('default', '/etc/passwd', 'LineAsString')",
    "url('http://169.254.169.254/latest/meta-data', 'LineAsString')",
    "urlCluster('default', 'http://127.0.0.1:8123/?query=SELECT+1', 'LineAsString')",
    "s3('http://minio:9000/bucket/*', 'CSV')",
    "s3Cluster('default', 'http://minio:9000/bucket/*', 'CSV')",
    "gcs('http://x/y', 'CSV')",
    "azureBlobStorage('conn', 'c', 'b')",
    "azureBlobStorageCluster('default', 'conn', 'c', 'b')",
    "hdfs('hdfs://h/x', 'CSV')",
    "hdfsCluster('default', 'hdfs://h/x', 'CSV')",
    "remote('127.0.0.1', 'analytics', 'events')",
    "remoteSecure('127.0.0.1', system.users)",
    "cluster('default', system.tables)",
    "clusterAllReplicas('default', system.tables)",
    "merge('system', '.*')",
    "merge('analytics', '^events$')",
    "merge(REGEXP('.*'), '.*')",
    "loop(analytics.events)",
    "loop('analytics', 'events')",
    "view(SELECT * FROM analytics.events)",
    "viewIfPermitted(SELECT * FROM analytics.events ELSE null('a Int8'))",
    "viewExplain('EXPLAIN', '', (SELECT 1))",
    "dictionary('d')",
    "input('a String')",
    "numbers(10)",
    "generateRandom('a String')",
    "values('a Int8', 1)",
    "format(JSONEachRow, '{\"a\": 1}')",
    "null('a Int8')",
    "jdbc('jdbc:x', 'q')",
    "odbc('DSN=x', 't')",
    "mysql('h:3306', 'db', 't', 'u', 'p')",
    "postgresql('127.0.0.1:5432', 'test', 't', 'u', 'p')",
    "sqlite('/tmp/x.db', 't')",
    "mongodb('h', 'db', 'c', 'u', 'p', 'a String')",
    "redis('h:6379', 'k', 'k String')",
    "executable('cat /etc/passwd', 'LineAsString', 'a String')",
    "python('import os')",
    "deltaLake('http://x/')",
    "deltaLakeCluster('default', 'http://x/')",
    "hudi('http://x/')",
    "hudiCluster('default', 'http://x/')",
    "iceberg('http://x/')",
    "icebergCluster('default', 'http://x/')",
    "icebergS3('http://x/')",
    "arrowFlight('h:1', 'd')",
    "mergeTreeIndex('analytics', 'events')",
    "mergeTreeProjection('analytics', 'events', 'p')",
    "fuzzJSON('{}')",
    "timeSeriesData('analytics', 'ts')",
    "FILE('/etc/passwd')",
    "`file`('/etc/passwd')",
]


@pytest.mark.parametrize("function", TABLE_FUNCTIONS)
@pytest.mark.parametrize(
    "template",
    [
        "SELECT * FROM {f}",
        "WITH x AS (SELECT * FROM {f}) SELECT * FROM x",
        "SELECT count() FROM events WHERE distinct_id IN (SELECT * FROM {f})",
        "SELECT event FROM events UNION ALL SELECT * FROM {f}",
        "SELECT * FROM events AS e LEFT JOIN {f} AS f ON 1 = 1",
        "SELECT * FROM events, {f}",
        "SELECT 1 IN {f}",
        "SELECT (SELECT count() FROM {f})",
        "SELECT * FROM (SELECT * FROM (SELECT * FROM {f}))",
        "SELECT * FROM events WHERE EXISTS (SELECT 1 FROM {f})",
        "SELECT {f}",
    ],
)
def test_table_functions_refused_everywhere(template: str, function: str) -> None:
    if template == "SELECT {f}" and function.startswith("format("):
        return  # as a scalar, format() is the string function (allowed); `JSONEachRow` is then a column
    with pytest.raises((SqlNotAllowed, SqlSyntaxError)):
        guard(template.format(f=function), CATALOGUE)


DANGEROUS_FUNCTIONS = [
    "file('/etc/passwd')",
    "url('http://x')",
    "dictGet('d', 'a', 1)",
    "dictGetString('d', 'a', 1)",
    "dictGetOrDefault('d', 'a', 1, 'x')",
    "dictHas('d', 1)",
    "joinGet('j', 'v', 1)",
    "joinGetOrNull('j', 'v', 1)",
    "getSetting('readonly')",
    "getSettingOrDefault('readonly', 0)",
    "currentDatabase()",
    "database()",
    "currentUser()",
    "user()",
    "hostName()",
    "hostname()",
    "fqdn()",
    "version()",
    "uptime()",
    "serverUUID()",
    "tcpPort()",
    "getMacro('x')",
    "getServerPort('tcp_port')",
    "getOSKernelVersion()",
    "buildId()",
    "filesystemAvailable()",
    "currentProfiles()",
    "currentRoles()",
    "hasColumnInTable('analytics', 'events', 'tenant_id')",
    "queryID()",
    "initialQueryID()",
    "getClientHTTPHeader('x')",
    "sleep(3)",
    "sleepEachRow(1)",
    "throwIf(1)",
    "globalVariable('x')",
    "catboostEvaluate('/x', 1)",
    "evalMLMethod(1)",
    "addressToLine(1)",
    "demangle('x')",
    "transactionID()",
    "s3Cluster('a')",
    "in(1, events)",
    "globalIn(1, events)",
    "notIn(1, events)",
    "arrayReduce('sum', [1])",
    "initializeAggregation('sumState', 1)",
    "identity(1)",
    "DICTGET('d', 'a', 1)",
    "quantile(0.5)(getSetting('readonly'))",
    "fileCluster('c', '/etc/passwd')(1)",
    "sumIf(1, getSetting('readonly') = 1)",
    "arrayMap(x -> getSetting(x), ['readonly'])",
    "tupleElement(dictGet('d', 'a', 1), 1)",
]


@pytest.mark.parametrize("call", DANGEROUS_FUNCTIONS)
def test_functions_outside_the_allowlist(call: str) -> None:
    for sql in (f"SELECT {call}", f"SELECT count() FROM events WHERE event = toString({call})"):
        with pytest.raises((SqlNotAllowed, SqlSyntaxError)):
            guard(sql, CATALOGUE)


REFUSED = [
    # other tables and databases
    "SELECT * FROM system.tables",
    "SELECT * FROM system.one",
    "SELECT name FROM system.settings",
    "SELECT * FROM system.query_log",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM INFORMATION_SCHEMA.COLUMNS",
    "SELECT * FROM analytics.events",
    "SELECT * FROM `analytics`.`events`",
    'SELECT * FROM "analytics"."events"',
    "SELECT * FROM default.events",
    "SELECT * FROM rejected_events",
    "SELECT * FROM event_ids",
    "SELECT * FROM schema_migrations",
    "SELECT * FROM benchmark_members",
    "SELECT * FROM person_weeks",
    "SELECT * FROM events_mv",
    "SELECT * FROM EVENTS",
    "SELECT * FROM `Events`",
    "SELECT * FROM évents",
    "SELECT * FROM events AS e JOIN system.users AS u ON 1 = 1",
    "SELECT * FROM events WHERE distinct_id IN (SELECT name FROM system.users)",
    "SELECT * FROM events WHERE distinct_id IN system.users",
    "SELECT * FROM events WHERE distinct_id IN persons",
    "SELECT * FROM events WHERE distinct_id IN (persons)",
    "SELECT * FROM events WHERE distinct_id NOT IN persons",
    "SELECT * FROM events WHERE distinct_id GLOBAL IN persons",
    "SELECT * FROM events WHERE (event, distinct_id) IN events",
    "SELECT 1 IN rejected_events",
    # statements and clauses
    "SELECT 1; SELECT 2",
    "SELECT 1; DROP TABLE events",
    "DROP TABLE events",
    "INSERT INTO events SELECT * FROM events",
    "ALTER TABLE events DELETE WHERE 1",
    "DELETE FROM events WHERE 1",
    "TRUNCATE TABLE events",
    "CREATE TABLE x AS events",
    "SET readonly = 0",
    "SHOW TABLES",
    "SHOW CREATE TABLE events",
    "DESCRIBE TABLE events",
    "DESCRIBE TABLE file('/etc/passwd')",
    "EXPLAIN SELECT * FROM system.one",
    "USE system",
    "KILL QUERY WHERE 1",
    "SYSTEM SHUTDOWN",
    "OPTIMIZE TABLE events",
    "GRANT ALL ON *.* TO default",
    "EXISTS TABLE system.users",
    "CHECK TABLE events",
    "SELECT * FROM events SETTINGS readonly = 0",
    "SELECT * FROM events SETTINGS max_execution_time = 100000",
    "SELECT * FROM events SETTINGS implicit_table_at_top_level = 'system.users'",
    "SELECT * FROM (SELECT * FROM events SETTINGS max_rows_to_read = 0)",
    "SELECT * FROM events SETTINGS SQL_tenant_id = 'other'",
    "SELECT * FROM events SETTINGS additional_table_filters = {'events': '1'}",
    "SELECT * FROM events SETTINGS select = 'name', implicit_table_at_top_level = 'system.users'",
    "CREATE FUNCTION f AS x -> x",
    "CREATE TEMPORARY TABLE t AS SELECT * FROM events",
    "SELECT * FROM events FORMAT JSON",
    "SELECT * FROM events FORMAT TabSeparated",
    "SELECT * FROM events INTO OUTFILE '/tmp/x'",
    "SELECT * FROM events INTO OUTFILE '/tmp/x' TRUNCATE",
    "SELECT * INTO t FROM events",
    "SELECT * FROM events FINAL",
    "SELECT * FROM events SAMPLE 0.1",
    "SELECT * FROM events SAMPLE 1/10 OFFSET 1/2",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r) SELECT * FROM r",
    "SELECT {tenant_id:String}",
    "SELECT count() FROM events WHERE event = {tenant_id:String}",
    "SELECT ?",
    "SELECT :x",
    "SELECT @x",
    "SELECT $1",
    # CTEs and aliases
    "WITH events AS (SELECT * FROM system.tables) SELECT * FROM events",
    "WITH persons AS (SELECT 1) SELECT * FROM persons",
    "WITH x AS (SELECT * FROM x) SELECT * FROM x",
    "WITH a AS (SELECT * FROM b), b AS (SELECT * FROM system.one) SELECT * FROM a",
    "WITH (SELECT 1) AS rejected_events SELECT * FROM rejected_events",
    "WITH 'x' AS rejected_events SELECT * FROM rejected_events",
    "WITH x AS (SELECT 1), x AS (SELECT 2) SELECT * FROM x",
    "WITH _tenant AS (SELECT 1) SELECT * FROM _tenant",
    "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) AS y, x",
    "SELECT * FROM (SELECT * FROM x) AS y",
    "SELECT * FROM events AS e(a, b)",
    # identifiers and comments hiding things
    "SELECT * FROM `system`.`one`",
    "SELECT * FROM system . one",
    "SELECT * FROM system/**/.one",
    "SELECT * FROM `system.one`",
    'SELECT * FROM "system.one"',
    "SELECT * FROM `even\\`ts`",
    'SELECT * FROM "ev""ents"',
    'SELECT `a"b` FROM events',
    "SELECT 1 AS `x\\` FROM system.one --` FROM events",
    "SELECT * FROM events WHERE 1 = 1 /* */ UNION ALL SELECT * FROM system.one",
    "SELECT 1 -- \n FROM system.one",
    "SELECT 1 /* \n */ FROM system.one",
    "SELECT 1 # comment\n FROM system.one",
    "SELECT * FROM file/**/('/etc/passwd')",
    "SELECT * FROM events WHERE event = '' UNION ALL SELECT name FROM system.users",
    # odd syntax: a function named, not called (APPLY calls it on every column)
    "SELECT * APPLY(file) FROM (SELECT '/etc/passwd' AS p)",
    "SELECT * APPLY file FROM events",
    "SELECT events.* APPLY(toString) FROM events",
    "SELECT COLUMNS('.*') APPLY(file) FROM events",
    "SELECT COLUMNS('.*') FROM events",
    "SELECT * REPLACE (file(event) AS event) FROM events",
    "SELECT * FROM events ARRAY JOIN file('/etc/passwd') AS line",
    "SELECT * FROM events AS e ASOF JOIN system.one AS o ON 1 = 1",
    "SELECT * FROM events PASTE JOIN system.one",
    "SELECT * FROM LATERAL (SELECT 1)",
    "SELECT * FROM UNNEST([1])",
    "SELECT * FROM events PIVOT (count() FOR event IN ('a'))",
    'SELECT CAST(1 AS "weird type")',
    "SELECT $$x$$",
    "SELECT * FROM events PREWHERE event = 'a'",
    "SELECT * FROM events QUALIFY row_number() OVER () = 1 FORMAT JSON",
    "",
    "   ",
    "-- only a comment",
    "SELECT",
    "SELECT * FROM",
    "SELECT ((((1)",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_refused(sql: str) -> None:
    with pytest.raises((SqlNotAllowed, SqlSyntaxError)) as caught:
        guard(sql, CATALOGUE)
    assert caught.value.status_code == 400


ACCEPTED = [
    "SELECT event, count() FROM events GROUP BY event ORDER BY count() DESC LIMIT 10",
    "SELECT toStartOfDay(timestamp) AS day, uniq(distinct_id) FROM events GROUP BY day ORDER BY day WITH FILL",
    "SELECT countIf(event = 'signup'), sumIf(properties.amount.:Float64, event = 'purchase') FROM events",
    "SELECT quantile(0.9)(properties.amount.:Float64), quantiles(0.5, 0.9)(toFloat64(person_key)) FROM events",
    "SELECT windowFunnel(3600)(toDateTime(timestamp), event = 'a', event = 'b') FROM events GROUP BY distinct_id",
    "WITH buyers AS (SELECT DISTINCT distinct_id FROM events WHERE event = 'purchase') SELECT count() FROM buyers",
    "WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b",
    "WITH 5 AS k SELECT k * 2",
    "SELECT p.distinct_id, c.cohort_id FROM persons AS p LEFT JOIN cohort_users AS c ON p.distinct_id = c.distinct_id",
    "SELECT * FROM events AS e INNER JOIN persons USING (distinct_id)",
    "SELECT e.event FROM events e, persons p WHERE e.distinct_id = p.distinct_id",
    "SELECT * FROM events WHERE distinct_id IN (SELECT distinct_id FROM cohort_users WHERE cohort_id = 'c1')",
    "SELECT * FROM events WHERE event IN ('a', 'b') AND distinct_id NOT IN ('x')",
    "SELECT event FROM events UNION ALL SELECT event FROM metrics_daily",
    "SELECT event FROM events INTERSECT SELECT event FROM metrics_monthly",
    "SELECT event FROM events EXCEPT SELECT event FROM metrics_monthly",
    "SELECT sum(amount) FROM donations",
    "SELECT arrayMap(x -> x * 2, [1, 2, 3]), arrayFilter(x -> x > 1, [1, 2])",
    "SELECT a FROM events ARRAY JOIN [1, 2, 3] AS a",
    "SELECT tag FROM events ARRAY JOIN JSONExtractArrayRaw(toJSONString(properties)) AS tag",
    "SELECT row_number() OVER (PARTITION BY event ORDER BY timestamp) FROM events",
    "SELECT lagInFrame(timestamp) OVER w FROM events WINDOW w AS (PARTITION BY distinct_id ORDER BY timestamp)",
    "SELECT * FROM events LIMIT 1 BY event",
    "SELECT * FROM events WHERE timestamp > now() - INTERVAL 7 DAY AND event = 'a'",
    "SELECT CASE WHEN event = 'a' THEN 1 ELSE 0 END, if(event = 'b', 1, 0), multiIf(event = 'c', 1, 2) FROM events",
    "SELECT CAST(person_key AS String), toString(timestamp), CAST('1' AS Nullable(Int64)) FROM events",
    "SELECT (SELECT count() FROM persons) AS people",
    "SELECT EXISTS (SELECT 1 FROM events)",
    "SELECT 'it''s', 'back\\\\slash', 'tab\\t', '{tenant_id:String}'",
    'SELECT "events".event FROM "events"',
    "SELECT `event` FROM `events`",
    "SELECT * EXCEPT (properties) FROM events",
    "SELECT sumMerge(s) FROM (SELECT sumState(1) AS s FROM events)",
    "SELECT uniqCombinedMerge(14)(st) FROM (SELECT uniqCombinedState(14)(distinct_id) AS st FROM events)",
    "SELECT JSONExtractString(toJSONString(properties), 'plan') FROM events",
    "SELECT map('a', 1)['a'], (1, 2).1, [1, 2][1], tuple(1, 'a')",
    "SELECT event AS `system` FROM events AS `file`",
    "SELECT * FROM (SELECT event FROM events) AS rejected_events",
    "SELECT 1 -- a comment\n",
    "/* a comment */ SELECT 2",
    "SELECT 1 AS x;",
    # a backslash escapes the quote: one string literal, for sqlglot as for ClickHouse (test_runs.py runs it)
    "SELECT count() FROM events WHERE event = '\\' UNION ALL SELECT name FROM system.users --'",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_accepted(sql: str) -> None:
    guarded = guard(sql, CATALOGUE)
    assert "{tenant_id:String}" in guarded.sql
    assert "tenant_id" not in sql or "{tenant_id:String}" in sql


def test_every_table_is_replaced_by_its_filtered_select() -> None:
    guarded = guard("SELECT * FROM events AS e LEFT JOIN persons AS p ON e.distinct_id = p.distinct_id", CATALOGUE)
    assert guarded.tables == ("events", "persons")
    assert guarded.sql.count('WHERE "tenant_id" = {tenant_id:String}') == 2
    assert ") AS e LEFT JOIN (" in guarded.sql and guarded.sql.endswith(") AS p ON e.distinct_id = p.distinct_id")


def test_comments_do_not_reach_the_warehouse() -> None:
    guarded = guard("SELECT 1 /* FROM system.one */ -- x", CATALOGUE)
    assert "system" not in guarded.sql and "--" not in guarded.sql


def test_refusal_says_why_and_where() -> None:
    with pytest.raises(SqlNotAllowed) as caught:
        guard("SELECT event\nFROM events\nWHERE distinct_id IN (SELECT * FROM url('http://x'))", CATALOGUE)
    details = caught.value.details
    assert "table functions" in details["reason"]
    assert details["position"]["line"] == 3
    with pytest.raises(SqlSyntaxError) as syntax:
        guard("SELECT FROM WHERE (", CATALOGUE)
    assert syntax.value.code == "sql_syntax_error"
    assert syntax.value.details["position"] is not None
    with pytest.raises(SqlSyntaxError) as second_line:
        guard("SELECT 1,\n  count( FROM events", CATALOGUE)
    where = second_line.value.details["position"]
    assert where["line"] == 2 and where["offset"] == len("SELECT 1,\n") + where["column"] - 1


def test_unknown_table_lists_the_tables() -> None:
    with pytest.raises(SqlNotAllowed) as caught:
        guard("SELECT * FROM orders", CATALOGUE)
    assert "donations" in caught.value.details["reason"] and "events" in caught.value.details["reason"]


def test_rewrite_writes_each_trusted_select_verbatim_and_leaves_the_catalogue_alone() -> None:
    from analytics_engine.query.dialect import emit

    before = {name: emit(table.select.copy()) for name, table in CATALOGUE.tables.items()}
    checked = guard("SELECT * FROM events AS e LEFT JOIN persons USING distinct_id", CATALOGUE, cached=False)
    assert f"({CATALOGUE.tables['events'].trusted_sql}) AS e" in checked.sql
    assert f"({CATALOGUE.tables['persons'].trusted_sql}) AS persons" in checked.sql
    assert {name: emit(table.select.copy()) for name, table in CATALOGUE.tables.items()} == before
