"""Stored files that may hold a person: exports (`exports/`) and report artifacts (`reports/`).

Tables of rows are rewritten without the person's rows: CSV (a row with a field equal to an id),
NDJSON and JSON (a row with a value equal to an id, at any depth). Parquet is read and rewritten by
the warehouse (a row with a column equal to an id). XLSX (exports and report workbooks: one table
per sheet) is rewritten with openpyxl without the rows having a cell equal to an id, keeping every
other row, format, column width and frozen header; the rewritten workbook is checked (no cell, and
no byte of any member, holds an id any more) and deleted instead when it fails the check (an id
inside a longer text, a sheet name, a chart title). Any other file (PDF, HTML, images of reports) is
not edited: it is deleted when its bytes contain an id (docs/privacy.md says why a PDF is not
regenerated). The receipt names each file and what happened to it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics_engine.lifecycle.cold import checked_path, work_dir
from analytics_engine.lifecycle.derived import UNLIMITED

if TYPE_CHECKING:
    from analytics_engine.core import Core

PREFIXES = ("exports/", "reports/")


@dataclass
class FileHit:
    key: str
    rows: int  # rows holding the person (1 for a file judged as a whole)
    action: str  # rewritten or deleted


def _holds(value: Any, ids: set[str]) -> bool:
    if isinstance(value, dict):
        return any(_holds(item, ids) for item in value.values())
    if isinstance(value, list):
        return any(_holds(item, ids) for item in value)
    return value is not None and not isinstance(value, bool) and str(value) in ids


def _filter_csv(data: bytes, ids: set[str]) -> tuple[bytes, int]:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    kept = [row for row in rows if not any(cell in ids for cell in row)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    return out.getvalue().encode(), len(rows) - len(kept)


def _filter_ndjson(data: bytes, ids: set[str]) -> tuple[bytes, int]:
    lines = [line for line in data.split(b"\n") if line.strip()]
    kept = [line for line in lines if not _holds(json.loads(line), ids)]
    return b"".join(line + b"\n" for line in kept), len(lines) - len(kept)


def _filter_json(data: bytes, ids: set[str]) -> tuple[bytes, int]:
    removed = 0

    def prune(value: Any) -> Any:
        nonlocal removed
        if isinstance(value, list):
            kept = []
            for item in value:
                if isinstance(item, dict | list) and _holds(item, ids) and not isinstance(item, list):
                    removed += 1
                    continue
                kept.append(prune(item))
            return kept
        if isinstance(value, dict):
            return {key: prune(item) for key, item in value.items()}
        return value

    pruned = prune(json.loads(data))
    return json.dumps(pruned).encode(), removed


def _filter_xlsx(source: Path, target: Path, ids: set[str]) -> int | None:
    """Write `source` without the rows holding a cell equal to an id to `target`: the rows removed,
    or None when an id would stay in the workbook (the caller deletes the file then)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(source, rich_text=False)
    except Exception:  # not a workbook openpyxl reads: judged as a whole
        return None
    removed = 0
    for sheet in book.worksheets:
        matching = [row[0].row for row in sheet.iter_rows() if any(_is_id(cell.value, ids) for cell in row)]
        # Contiguous runs from the bottom, so the row numbers above stay valid.
        for first, count in reversed(_runs(matching)):
            sheet.delete_rows(first, count)
        removed += len(matching)
    for sheet in book.worksheets:
        if any(i in sheet.title for i in ids):
            return None
        for row in sheet.iter_rows(values_only=True):
            if any(value is not None and any(i in str(value) for i in ids) for value in row):
                return None
    if not removed:
        return 0
    book.save(target)
    if _contains(target, [i.encode() for i in ids]):
        return None
    return removed


def _is_id(value: Any, ids: set[str]) -> bool:
    return value is not None and not isinstance(value, bool) and str(value) in ids


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, count) runs of consecutive rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][0] + runs[-1][1] == row:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((row, 1))
    return runs


def _contains(path: Path, needles: list[bytes]) -> bool:
    data = path.read_bytes()
    if any(needle in data for needle in needles):
        return True
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(any(n in archive.read(name) for n in needles) for name in archive.namelist())
    return False


class FileEraser:
    def __init__(self, core: Core, tenant_id: str, ids: list[str]) -> None:
        self.core, self.tenant_id, self.ids = core, tenant_id, set(ids)
        self.storage = core.storage

    def keys(self) -> list[str]:
        return [item.key for prefix in PREFIXES for item in self.storage.list(self.tenant_id, prefix)]

    def _fetch(self, key: str) -> Path:
        local = work_dir(self.core) / f"erase-{key.replace('/', '_')}"
        with local.open("wb") as handle:
            for chunk in self.storage.open(self.tenant_id, key):
                handle.write(chunk)
        return local

    def _parquet(self, local: Path, target: Path) -> int:
        scope = self.core.warehouse.for_tenant(self.tenant_id, background=True)
        source = "file({src:String}, 'Parquet')"
        params = {"src": checked_path(local), "ids": sorted(self.ids)}
        columns = scope.query(
            f"SELECT * FROM {source} WHERE {{tenant_id:String}} != '' LIMIT 0", params, settings=UNLIMITED
        ).columns
        if not columns:
            return 0
        match = " OR ".join(f"has({{ids:Array(String)}}, toString(`{c.replace('`', '')}`))" for c in columns)
        hits = int(
            scope.query(
                f"SELECT count() FROM {source} WHERE {{tenant_id:String}} != '' AND ({match})",
                params,
                settings=UNLIMITED,
            ).scalar()
            or 0
        )
        if hits:
            scope.command(
                f"INSERT INTO FUNCTION file({{dst:String}}, 'Parquet') SELECT * FROM {source} "
                f"WHERE {{tenant_id:String}} != '' AND NOT ({match}) SETTINGS engine_file_truncate_on_insert = 1",
                {**params, "dst": checked_path(target)},
            )
        return hits

    def scan(self, *, apply: bool) -> list[FileHit]:
        """Files holding the person; with `apply`, each is rewritten or deleted."""
        hits: list[FileHit] = []
        for key in self.keys():
            local = self._fetch(key)
            target = local.with_name(local.name + ".new")
            try:
                hit = self._one(key, local, target)
                if hit is not None:
                    hits.append(hit)
                    if apply and hit.action == "deleted":
                        self.storage.delete(self.tenant_id, key)
                    elif apply:
                        self.storage.put_file(self.tenant_id, key, target)
            finally:
                local.unlink(missing_ok=True)
                target.unlink(missing_ok=True)
        return hits

    def _one(self, key: str, local: Path, target: Path) -> FileHit | None:
        suffix = Path(key).suffix.lower()
        ids = self.ids
        if suffix in (".csv", ".ndjson", ".jsonl", ".json"):
            data = local.read_bytes()
            edit = {".csv": _filter_csv, ".json": _filter_json}.get(suffix, _filter_ndjson)
            try:
                kept, removed = edit(data, ids)
            except (ValueError, UnicodeDecodeError):
                kept, removed = b"", 0
                if _contains(local, [i.encode() for i in ids]):
                    return FileHit(key, 1, "deleted")
            if removed:
                target.write_bytes(kept)
                return FileHit(key, removed, "rewritten")
            return None
        if suffix == ".parquet":
            removed = self._parquet(local, target)
            return FileHit(key, removed, "rewritten") if removed else None
        if suffix == ".xlsx" and _contains(local, [i.encode() for i in ids]):
            rows = _filter_xlsx(local, target, ids)
            if rows:
                return FileHit(key, rows, "rewritten")
            return FileHit(key, 1, "deleted")
        if _contains(local, [i.encode() for i in ids]):
            return FileHit(key, 1, "deleted")
        return None
