"""Every setting of the service, read from `ANALYTICS_*` environment variables (or a `.env` file).

One class, one place: each field carries its help text, and `docs/configuration.md` is checked
against this class by a test so the documentation cannot drift.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

JOURNAL_FOLDER_NAME = "ingest-journal"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", env_file=".env", extra="ignore")

    # --- service -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    port: int = Field(3008, description="Port of the HTTP API.")
    data_dir: Path = Field(Path("data"), description="Folder for the embedded warehouse and metadata.")
    admin_key: str | None = Field(
        None, description="Platform admin key (Bearer). `serve` refuses to start without one unless --dev."
    )
    dev: bool = Field(False, description="Development mode: relaxed checks, a generated admin key.")
    log_level: str = Field("info", description="Log level: debug, info, warning, error.")
    log_json: bool = Field(True, description="Write logs as JSON lines (false: coloured console lines).")

    # --- warehouse -----------------------------------------------------------------------------
    warehouse_dsn: str | None = Field(
        None,
        description="ClickHouse DSN: `chdb:///path` (embedded, default `chdb:///<data_dir>/warehouse`) "
        "or `http(s)://user:pass@host:8123` for a server.",
    )
    warehouse_database: str = Field("analytics", description="ClickHouse database holding every table.")
    warehouse_pool_size: int = Field(4, ge=1, le=64, description="Warehouse connections kept open.")
    hot_retention_months: int = Field(
        13,
        ge=1,
        le=120,
        description="Whole UTC months of events kept hot in the warehouse (this month and the ones before); "
        "older months move to the cold tier and older events are refused at ingest (docs/lifecycle.md).",
    )
    query_timeout_seconds: float = Field(30.0, gt=0, description="Default max execution time of a query.")
    preaggregations: bool = Field(
        True,
        description="Answer retention and DAU/WAU/MAU from the `person_days` pre-aggregation when it gives "
        "the raw answer exactly (false: always raw events; the benchmarks' baseline).",
    )
    person_bitmaps: bool = Field(
        True,
        description="Answer first-time retention and DAU/WAU/MAU from the exact per-hour person bitmaps "
        "(`person_hours`, dense person ids) when they give the raw answer exactly; used only with the embedded "
        "warehouse (chDB: one process allocates the ids). With a ClickHouse server several processes could "
        "give one person two ids, so the bitmaps are not read there (docs/insights.md).",
    )
    clickhouse_cluster: str | None = Field(
        None,
        description="ClickHouse cluster name (a server DSN only): migrations create every table ON CLUSTER as "
        "Replicated*MergeTree behind a Distributed table sharded by tenant (docs/runbook.md).",
    )

    # --- cache ---------------------------------------------------------------------------------
    cache_url: str | None = Field(
        None, description="Redis URL of the result cache (`redis://127.0.0.1:6379/0`); unset: in-process LRU."
    )
    cache_max_entries: int = Field(10_000, ge=1, description="In-process cache: most entries kept.")
    cache_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="In-process cache: most value bytes kept (LRU eviction)."
    )
    cache_ttl_seconds: int = Field(300, ge=1, description="How long a result whose range includes now stays cached.")
    cache_ttl_closed_seconds: int = Field(
        86_400, ge=1, description="How long a result whose range ended in the past stays cached."
    )
    cache_timeout_seconds: float = Field(
        0.25, gt=0, description="Redis connect and read timeout; past it the lookup counts as a miss."
    )
    cache_retry_seconds: float = Field(
        5.0, ge=0, description="After a Redis error, skip Redis (all misses) for this long before retrying."
    )

    # --- query budgets (per-tenant defaults; the platform admin overrides per tenant; 0 = no limit)
    budget_max_execution_time: float = Field(
        30.0, ge=0, description="Budget default: seconds one query may run (ClickHouse max_execution_time)."
    )
    budget_max_rows_to_read: int = Field(
        2_000_000_000, ge=0, description="Budget default: rows one query may read (max_rows_to_read)."
    )
    budget_max_bytes_to_read: int = Field(
        200_000_000_000, ge=0, description="Budget default: bytes one query may read (max_bytes_to_read)."
    )
    budget_max_concurrent_queries: int = Field(
        4, ge=0, description="Budget default: queries one tenant may run at the same time."
    )
    budget_query_seconds_per_day: float = Field(
        3_600.0, ge=0, description="Budget default: warehouse seconds one tenant may use per UTC day."
    )
    budget_flush_seconds: float = Field(
        5.0, gt=0, description="How often per-tenant usage counters are written to the metadata database."
    )

    # --- metadata ------------------------------------------------------------------------------
    metadata_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the metadata database (default `sqlite:///<data_dir>/meta.db`; "
        "PostgreSQL: `postgresql+psycopg://user@host/db`).",
    )

    # --- ingest --------------------------------------------------------------------------------
    ingest_max_body_bytes: int = Field(20_000_000, ge=1024, description="Largest accepted request body.")
    ingest_max_events_per_request: int = Field(10_000, ge=1, description="Most events in one request.")
    ingest_max_properties: int = Field(200, ge=0, description="Most properties on one event.")
    ingest_max_property_bytes: int = Field(
        8_192, ge=16, description="Largest JSON size of one property value, in bytes."
    )
    ingest_max_name_length: int = Field(200, ge=1, description="Longest event name, distinct_id or key.")
    ingest_max_future_skew_seconds: int = Field(
        3_600, ge=0, description="How far in the future an event timestamp may lie."
    )
    ingest_max_past_days: int = Field(
        395, ge=1, description="How far in the past an event timestamp may lie (default: the hot retention)."
    )
    ingest_batch_max_events: int = Field(
        1_000, ge=1, description="Group commit: a batch closes when it holds this many events..."
    )
    ingest_batch_max_wait_ms: int = Field(10, ge=0, description="...or when its first event waited this long.")
    ingest_journal_dir: Path | None = Field(
        None,
        description="Folder of the write-ahead journal of event batches in flight (default "
        "`<data_dir>/ingest-journal`): replayed at start-up so a crash never leaves a table derived "
        "from events behind them (docs/ingest.md). Keep it on a disk that outlives the process.",
    )
    ingest_max_insert_events: int = Field(
        40_000,
        ge=1,
        description="Requests queued during an insert join the next one, up to this many events.",
    )
    ingest_max_concurrent_inserts: int = Field(
        2,
        ge=1,
        le=16,
        description="Group commit: inserts that may run at the same time (a further one only for a backlog "
        "of half an insert or more).",
    )
    ingest_gather_checks: bool = Field(
        True,
        description="Group commit: while an insert runs, check the requests arriving meanwhile together "
        "shortly before it ends (one duplicate look-up instead of one per request); false checks each batch "
        "as it closes.",
    )
    ingest_id_filter_max_ids: int = Field(
        25_000_000,
        ge=0,
        description="Embedded warehouse only: the duplicate check keeps an in-process filter of the client event ids "
        "of the last 7 days (4 bytes per id, so at most ~100 MiB at the default) and asks `event_ids` only "
        "about ids the filter may hold; more ids than this make it look every id up until the oldest leave the "
        "window. 0 turns it off (every id looked up, as with a ClickHouse server).",
    )

    # --- streaming ingest from NATS JetStream, and the outgoing event bus ----------------------
    nats_url: str = Field(
        "nats://127.0.0.1:4222", description="NATS server(s) of the firehose consumer (comma-separated URLs)."
    )
    nats_ingest: bool = Field(
        False, description="Run the NATS firehose consumer inside `serve` (needed with the embedded warehouse)."
    )
    nats_stream: str = Field("EVENTS", description="JetStream stream the consumer reads (created if missing).")
    nats_subjects: str = Field(
        "events.>", description="Subjects of that stream and the consumer's filter (comma-separated)."
    )
    nats_consumer: str = Field("analytics-ingest", description="Durable pull consumer name (one per deployment).")
    nats_stream_max_age_hours: int = Field(
        168, ge=1, description="Retention of a stream we create: messages older than this are discarded."
    )
    nats_batch_max_events: int = Field(
        1_000, ge=1, le=100_000, description="A NATS batch is inserted when it holds this many events..."
    )
    nats_batch_max_seconds: float = Field(
        10.0, gt=0, description="...or when its first message waited this long (seconds)."
    )
    nats_ack_wait_seconds: float = Field(
        60.0, ge=1, description="Unacknowledged messages are redelivered after this long (worker died)."
    )
    nats_retry_max_seconds: float = Field(
        30.0, ge=0.1, description="Longest wait between attempts to reach NATS or to retry a failed insert."
    )
    nats_tenant_cache_seconds: float = Field(
        30.0, ge=0, description="How long the consumer trusts its list of known tenant ids."
    )
    bus_url: str | None = Field(
        None, description="NATS URL of the outgoing event bus (`nats://127.0.0.1:4222`); unset: in-process only."
    )
    bus_stream: str = Field(
        "ANALYTICS_OUT", description="JetStream stream holding outgoing events (`analytics.>`, created if missing)."
    )

    # --- cohorts -------------------------------------------------------------------------------
    cohort_evaluation_interval_seconds: int = Field(
        3600, ge=1, description="Every active dynamic cohort is evaluated again on this interval inside `serve`."
    )
    cohort_versions_kept: int = Field(
        3, ge=2, le=100, description="Membership versions kept per cohort (older ones are deleted)."
    )

    # --- dashboards and live streams ----------------------------------------------------------
    dashboard_widget_cache_seconds: int = Field(
        60, ge=1, description="How long one widget's rendered result stays cached (per tenant, widget, filters)."
    )
    dashboard_widget_last_known_seconds: int = Field(
        7 * 86_400,
        ge=0,
        description="How long a widget's last answer is kept to be shown, labelled with its age, while a fresh one "
        "computes (stale-while-revalidate; the page asks with `allow_stale`); 0 keeps none.",
    )
    dashboard_warm: bool = Field(
        True,
        description="Compute every dashboard's widgets in the background when the service starts, and those "
        "opened in the last day after ingest bursts (at most every `dashboard_warm_min_interval_seconds` per "
        "tenant), so a first visit is answered from the widget cache; the queries count on the tenant's budget.",
    )
    dashboard_warm_min_interval_seconds: float = Field(
        30.0, ge=1, description="Shortest time between two background warms of one tenant's dashboards."
    )
    dashboard_render_threads: int = Field(
        8, ge=1, le=64, description="Widgets of one dashboard computed at the same time (threads)."
    )
    stream_max_per_tenant: int = Field(
        50, ge=1, description="Open dashboard streams (SSE) one tenant may hold; beyond it 429."
    )
    stream_client_queue: int = Field(
        64, ge=1, description="Messages buffered per stream client; a slower client loses its oldest ones."
    )
    stream_replay_size: int = Field(
        256, ge=1, description="Messages kept per dashboard for `Last-Event-ID` reconnects."
    )
    stream_heartbeat_seconds: float = Field(
        15.0, gt=0, description="Seconds between SSE heartbeat comments on an idle stream."
    )
    stream_interval_seconds: float = Field(
        0.0, ge=0, description="Also refresh streamed dashboards on this interval (0: only when events land)."
    )
    stream_debounce_ms: int = Field(
        200, ge=0, description="New events for a tenant within this window trigger one refresh, not many."
    )
    stream_token_ttl_seconds: int = Field(
        300, ge=10, description="Lifetime of the signed stream token the web page uses for EventSource."
    )
    stream_token_secret: str | None = Field(
        None, description="HMAC secret of stream tokens (set it when several processes serve; default: random)."
    )

    # --- object storage, exports and reports ---------------------------------------------------
    storage_url: str | None = Field(
        None,
        description="Where exports and report files live: a local folder (`file:///path`, default "
        "`<data_dir>/storage`) or any S3-compatible store (`s3://bucket/prefix`; credentials from the usual "
        "AWS_* variables).",
    )
    storage_s3_endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, Ceph...); empty for AWS S3."
    )
    storage_s3_region: str | None = Field(None, description="Region of the S3 bucket (default: boto3's).")
    storage_signing_key: str | None = Field(
        None,
        description="HMAC secret signing download URLs of local storage (default: generated once into "
        "`<data_dir>/storage-signing-key`). Set the same value on every process serving the same files.",
    )
    public_url: str | None = Field(
        None,
        description="Base URL of this service as recipients reach it (e.g. `https://analytics.example.com`), used "
        "for download links in report emails and webhooks (default `http://<host>:<port>`).",
    )
    download_url_ttl_seconds: int = Field(3_600, ge=10, le=7 * 86_400, description="Lifetime of a signed download URL.")
    export_workers: int = Field(2, ge=0, le=32, description="Export jobs run at the same time in `serve` (0: none).")
    export_retention_hours: int = Field(
        72, ge=1, description="Hours an export's file is kept; then it is deleted and the export shows `expired`."
    )
    export_stale_after_seconds: int = Field(
        60,
        ge=1,
        description="An export job `running` without a heartbeat for this long was left by a dead worker and "
        "is run again.",
    )
    smtp_host: str | None = Field(None, description="SMTP server for report emails (empty: email disabled).")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user (empty: no login).")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_from: str = Field("analytics@localhost", description="Sender address of report emails.")
    report_webhook_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one report webhook delivery.")
    outgoing_allow: Annotated[list[str], NoDecode] = Field(
        [],
        description="Outgoing HTTP (report webhooks): CIDRs or host names, comma-separated, let through although "
        "internal (loopback, private, link-local, unique-local, metadata addresses are refused otherwise).",
    )
    report_link_ttl_seconds: int = Field(
        7 * 86_400, ge=60, le=30 * 86_400, description="Lifetime of the download links in report emails and webhooks."
    )

    # --- sync (PostgreSQL -> warehouse) ---------------------------------------------------------
    sync_sources_file: Path | None = Field(
        None, description="YAML file declaring sync sources (docs/sync.md); sources may also come from the API."
    )
    sync_interval_seconds: int = Field(
        300, ge=5, description="`serve` runs an incremental sync of every source this often."
    )
    sync_schedule: bool = Field(True, description="Run the sync schedule inside `serve` (false: only by hand).")
    sync_chunk_rows: int = Field(
        100_000, ge=100, description="Rows per chunk; each chunk is written, then its checkpoint."
    )
    sync_overlap_seconds: int = Field(
        60,
        ge=0,
        description="updated_at cursors: each sync re-reads rows this far behind the checkpoint, so rows "
        "committed late with an earlier timestamp are not missed.",
    )

    # --- impact measurement --------------------------------------------------------------------
    impact_volunteer_hour_value: float = Field(
        29.95, ge=0, description="Value of one volunteer hour in SROI investment (USD; Independent Sector figure)."
    )
    impact_benchmark_k: int = Field(
        5, ge=2, description="Benchmarks: fewest distinct opted-in tenants a peer group needs, else suppressed."
    )
    impact_benchmark_epsilon: float | None = Field(
        None,
        gt=0,
        description="Benchmarks: Laplace noise epsilon per statistic (unset: no noise; smaller: more noise).",
    )
    impact_benchmark_refresh_seconds: int = Field(
        21_600, ge=60, description="Benchmarks: seconds between refreshes of the `benchmarks` table."
    )
    impact_benchmark_window_days: int = Field(
        365, ge=1, le=3_650, description="Benchmarks: days of data behind each tenant's SROI and VIS."
    )

    # --- materialized properties ---------------------------------------------------------------
    materialized_max_per_tenant: int = Field(
        20, ge=0, le=1_000, description="Materialized properties one tenant may have (past it: HTTP 422)."
    )
    materialized_max_columns: int = Field(
        100,
        ge=0,
        le=1_000,
        description="Materialized columns on `events` for all tenants together (tenants materializing "
        "the same property path and type share one; past it: HTTP 422).",
    )
    property_rollup_max_columns: int = Field(
        2,
        ge=0,
        le=100,
        description="Materialized string columns the property rollup's view reads, for all tenants together "
        "(first come at their backfill; every one costs insert CPU for every tenant's events). The others "
        "stay materialized but are not rolled up.",
    )
    property_rollup_max_values: int = Field(
        100,
        ge=1,
        le=100_000,
        description="Most distinct values a string column may have in one (tenant, event, UTC hour), measured "
        "at its rollup backfill over the stored events, to be rolled up (high-cardinality properties such as "
        "emails, URLs or paths are not: they would make the rollup as big as the events).",
    )
    materialized_auto: bool = Field(
        False,
        description="Materialize the suggested properties (used most by a tenant's dashboards and saved "
        "metrics) on a schedule inside `serve`, within the caps.",
    )
    materialized_auto_min_uses: int = Field(
        3, ge=1, description="Auto mode: uses in dashboards and metrics a property needs before it is materialized."
    )
    materialized_auto_interval_seconds: int = Field(
        3_600, ge=60, description="Auto mode: seconds between two passes over every tenant's suggestions."
    )
    materialized_refresh_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a process keeps its list of a tenant's ready columns before reading it again; "
        "a dropped column leaves `events` only after this delay, so no process still reads it.",
    )

    # --- forecasts (issue 19: forecasting/) ----------------------------------------------------
    forecast_max_horizon: int = Field(
        90, ge=1, le=1000, description="Most points `POST /v1/forecasts` forecasts ahead (a longer horizon is a 422)."
    )

    # --- restricted SQL (POST /v1/query, saved SQL metrics; docs/sql.md) ------------------------
    sql_default_limit: int = Field(
        1_000, ge=1, le=100_000, description="Restricted SQL: result rows when `limit` is not given."
    )
    sql_max_limit: int = Field(
        100_000, ge=1, le=1_000_000, description="Restricted SQL: the largest `limit` a query may ask for."
    )
    sql_max_memory_usage: int = Field(
        2_000_000_000, ge=0, description="Restricted SQL: bytes of memory one query may use (0: no limit)."
    )
    sql_max_result_bytes: int = Field(
        200_000_000, ge=0, description="Restricted SQL: bytes of result one query may return (0: no limit)."
    )

    # --- alerts (rules, evaluation, notifications) ----------------------------------------------
    alerts_enabled: bool = Field(True, description="Evaluate alert rules on their schedules inside `serve`.")
    alerts_tick_seconds: float = Field(
        15.0, gt=0, le=3_600, description="Seconds between two looks for due alert rules (each rule has its own slot)."
    )
    alerts_max_rules_per_tenant: int = Field(
        2_000, ge=0, description="Alert rules one tenant may have (past it: HTTP 422)."
    )
    alerts_simulate_max_points: int = Field(
        2_000, ge=10, le=5_000, description="Most points `POST /v1/alerts/simulate` replays (past it: HTTP 422)."
    )
    alerts_simulate_max_forecast_points: int = Field(
        200,
        ge=1,
        le=5_000,
        description="Most points simulate replays for a `forecast` condition (one model fit per point; past it: 422).",
    )
    alerts_webhook_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one alert webhook attempt.")
    alerts_webhook_attempts: int = Field(
        3, ge=1, le=10, description="Attempts of one alert webhook delivery (network errors, 429 and 5xx retried)."
    )
    alerts_webhook_backoff_seconds: float = Field(
        1.0, ge=0, description="Wait before the first webhook retry; doubled before each next one."
    )

    # --- lifecycle and privacy (retention tiers, erasure; docs/lifecycle.md, docs/privacy.md) ---------
    cold_retention_years: int = Field(
        5, ge=1, le=100, description="Years a month stays in the cold tier (Parquet) before its files are deleted."
    )
    lifecycle_interval_seconds: int = Field(
        86_400,
        ge=0,
        description="Seconds between two runs of the tiering job inside `serve` (0: only on demand, "
        "`analytics-engine lifecycle run` or `POST /v1/admin/lifecycle/run`).",
    )
    swap_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="Lease of a swap of a shared derived partition (erasure, tiering), held in the metadata "
        "database by one process at a time and renewed every third of it; a crashed holder's is taken over "
        "once it expires.",
    )
    insert_gate_across_processes: bool | None = Field(
        None,
        description="Hold the inserts of every process writing to the warehouse (not only this one's) while an "
        "erasure's or the tiering job's derived step or a journal replay runs, through leases in the metadata "
        'database (docs/privacy.md, "Several processes on one warehouse"). Default: on with a ClickHouse server '
        "DSN, off with chDB (one process per data folder).",
    )
    privacy_receipt_key: str | None = Field(
        None,
        description="Secret signing erasure receipts (HMAC-SHA256); default: generated once in "
        "`<data_dir>/privacy-receipt-key`. Keep it to verify receipts later.",
    )
    # --- AI insights (docs/ai.md): an optional OpenAI-compatible endpoint ---------------------------
    ai_url: str | None = Field(
        None,
        description="Base URL of an OpenAI-compatible API (`https://api.openai.com/v1`); unset: `/v1/ai/ask` "
        "answers with the offline parser only. Called through the outgoing-HTTP guard (`ANALYTICS_OUTGOING_ALLOW`).",
    )
    ai_model: str = Field("gpt-4o-mini", description="Model name sent to the AI endpoint.")
    ai_key: str | None = Field(None, description="Bearer key for the AI endpoint.")
    ai_timeout_seconds: float = Field(30.0, gt=0, le=600, description="Time allowed for one AI endpoint call.")
    ai_max_steps: int = Field(8, ge=1, le=30, description="Most model turns (tool calls) per question.")
    # --- memory (GET /v1/admin/debug/memory; docs/runbook.md "Memory") ------------------------------
    memory_tracemalloc: bool = Field(
        False,
        description="Trace Python allocations (tracemalloc) from start-up so `/v1/admin/debug/memory` shows the "
        "source lines holding most; costs CPU on every allocation: for a diagnosis only.",
    )
    malloc_trim_seconds: float = Field(
        30.0,
        ge=0,
        description="Every this many seconds, `malloc_trim(0)` hands the C heap's free pages back to the "
        "system (glibc only), and the embedded engine's jemalloc its dirty pages (`SYSTEM JEMALLOC PURGE`); "
        "0: never.",
    )
    embedded_mark_cache_bytes: int = Field(
        256 * 1024 * 1024, ge=0, description="Embedded warehouse (chDB): most bytes of its mark cache."
    )
    embedded_primary_index_cache_bytes: int = Field(
        128 * 1024 * 1024, ge=0, description="Embedded warehouse (chDB): most bytes of its primary index cache."
    )
    embedded_index_mark_cache_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Embedded warehouse (chDB): most bytes of its skip-index mark cache."
    )
    embedded_query_condition_cache_bytes: int = Field(
        32 * 1024 * 1024, ge=0, description="Embedded warehouse (chDB): most bytes of its query condition cache."
    )
    embedded_compiled_expression_cache_bytes: int = Field(
        32 * 1024 * 1024,
        ge=0,
        description="Embedded warehouse (chDB): most bytes of its compiled expression cache.",
    )

    @field_validator("outgoing_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: Any) -> Any:
        # One environment variable, comma-separated: "10.1.0.0/16,hooks.internal".
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if self.warehouse_dsn is None:
            self.warehouse_dsn = f"chdb://{(self.data_dir / 'warehouse').resolve()}"
        if self.metadata_url is None:
            self.metadata_url = f"sqlite:///{(self.data_dir / 'meta.db').resolve()}"
        return self

    @property
    def journal_folder(self) -> Path:
        """The ingest journal's folder (`ingest_journal_dir`, default `<data_dir>/ingest-journal`)."""
        return self.ingest_journal_dir or self.data_dir / JOURNAL_FOLDER_NAME

    @property
    def uses_embedded_warehouse(self) -> bool:
        return str(self.warehouse_dsn).startswith("chdb:")

    @property
    def shares_insert_gate(self) -> bool:
        if self.insert_gate_across_processes is not None:
            return self.insert_gate_across_processes
        return not self.uses_embedded_warehouse

    @property
    def embedded_engine_options(self) -> dict[str, int]:
        """The embedded engine's cache caps, as server settings given when it starts."""
        return {
            "mark_cache_size": self.embedded_mark_cache_bytes,
            "primary_index_cache_size": self.embedded_primary_index_cache_bytes,
            "index_mark_cache_size": self.embedded_index_mark_cache_bytes,
            "query_condition_cache_size": self.embedded_query_condition_cache_bytes,
            "compiled_expression_cache_size": self.embedded_compiled_expression_cache_bytes,
        }


@lru_cache
def get_settings() -> Settings:
    return Settings()
