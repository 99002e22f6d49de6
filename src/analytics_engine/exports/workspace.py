"""Where an export attempt keeps its files before they reach storage, and the sweep of what dead
processes left there.

Layout: `<data_dir>/tmp/exports/<job_id>/a<attempt>/` holds the file being written
(`<job_id>.<ext>`) and xlsxwriter's temporary files (`xlsx-tmp/`). An attempt removes its own folder
on every way out of the handler (success, retry, give-up, cancel, error). What a killed process
left (SIGKILL, lost machine) is removed by the next attempt of the same job or, when the job never
runs again (recovery gave up, cancelled while queued, its record deleted), by `sweep_orphans`.

The attempt number in the path is what makes the sweep safe without a lock: a claim increments
`attempts` before the handler creates `a<attempts>`, so a folder numbered below the job's current
attempts, or equal to it while the job holds no live lease, is never written again."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import and_, select

from analytics_engine.jobs.schemas import FINAL_STATES, JobState
from analytics_engine.metadata.db import MetadataDB
from analytics_engine.metadata.models import Job, utcnow
from analytics_engine.observability.metrics import EXPORT_ORPHAN_BYTES_SWEPT, EXPORT_ORPHANS_SWEPT

log = structlog.get_logger(__name__)
ATTEMPT_FOLDER = re.compile(r"^a(\d+)$")


def export_temp_dir(settings: Any) -> Path:
    data_dir: Path = settings.data_dir
    return data_dir / "tmp" / "exports"


def report_temp_dir(settings: Any) -> Path:
    """Report runs are jobs too (reports/service.py): the same layout, attempts and sweep."""
    data_dir: Path = settings.data_dir
    return data_dir / "tmp" / "reports"


@dataclass(frozen=True)
class AttemptFiles:
    """The paths of one attempt: the file being written and xlsxwriter's scratch folder."""

    folder: Path
    output: Path
    xlsx_tmp: Path


@contextlib.contextmanager
def attempt_workspace(root: Path, job_id: str, attempt: int, ext: str) -> Iterator[AttemptFiles]:
    """The folder of one attempt, removed whatever way the block is left. Earlier attempts' folders
    of the same job are removed first: the claim is exclusive, so they belong to processes that died
    or lost the lease, and nothing of theirs can reach storage any more."""
    job_folder = root / job_id
    folder = job_folder / f"a{attempt}"
    if job_folder.is_dir():
        for entry in job_folder.iterdir():
            number = _attempt_number(entry.name)
            if number is not None and number < attempt:
                _remove(entry)
    files = AttemptFiles(folder, folder / f"{job_id}.{ext}", folder / "xlsx-tmp")
    try:
        _make_folder(files.xlsx_tmp)
        yield files
    finally:
        _remove(folder)
        with contextlib.suppress(OSError):  # not empty: a newer attempt is writing there
            job_folder.rmdir()


@dataclass
class SweepOutcome:
    removed: int = 0  # entries (attempt folders, old-layout files) deleted
    bytes: int = 0
    kept: int = 0  # entries of attempts running under a live lease


def sweep_orphans(root: Path, metadata: MetadataDB, *, running_here: Collection[str] = ()) -> SweepOutcome:
    """Delete what no live attempt will use again. An entry is kept when its job is running under a
    live lease (`state='running'` and `lease_expires_at` in the future, in this process or another
    sharing the metadata) and the entry is that attempt's (or newer); everything else is an orphan:
    earlier attempts, attempts whose process died (their lease expired), jobs that ended or whose
    record is gone, and files of the layout before attempt folders (`<job_id>.<ext>`,
    `<job_id>.xlsx-tmp`). `running_here` (this process's running job ids) is kept whatever the
    lease says. The lease rule is the job runner's own: the runner re-queues or fails a job once
    its lease expired, so nothing with an expired lease will finish into storage.

    The folder is listed before the jobs are read: a claim made after the read writes a folder
    numbered above what was read (kept), and one made before it shows as a live lease (kept)."""
    outcome = SweepOutcome()
    if not root.is_dir():
        return outcome
    entries = sorted(root.iterdir())
    if not entries:
        return outcome
    job_ids = {entry.name.split(".", 1)[0] for entry in entries}
    now = utcnow()
    live_lease = and_(Job.state == JobState.running.value, Job.lease_expires_at > now)
    final = [state.value for state in FINAL_STATES]
    jobs: dict[str, tuple[int, bool, bool]] = {}  # id -> (attempts, live lease, ended)
    with metadata.session() as session:
        for chunk in _chunks(sorted(job_ids), 500):
            rows = session.execute(
                select(Job.id, Job.attempts, live_lease, Job.state.in_(final)).where(Job.id.in_(chunk))
            )
            for job_id, attempts, live, ended in rows:
                jobs[job_id] = (int(attempts or 0), bool(live) or job_id in running_here, bool(ended))
    for entry in entries:
        job_id = entry.name.split(".", 1)[0]
        # No record: the export was removed (or never ran here); nothing will claim it again.
        attempts, live, ended = jobs.get(job_id, (0, job_id in running_here, job_id not in running_here))
        if entry.is_dir() and entry.name == job_id:  # an attempt-folder layout entry
            for attempt in sorted(entry.iterdir()):
                number = _attempt_number(attempt.name)
                # An ended job is never claimed again; otherwise a folder above the attempts read
                # belongs to a claim made after the read, and the current one to a live lease.
                current = not ended and number is not None and (number > attempts or (number == attempts and live))
                _sweep_entry(attempt, keep=current, outcome=outcome, job_id=job_id)
            with contextlib.suppress(OSError):
                entry.rmdir()
        else:  # the old layout: one attempt at a time per job, so only a live lease keeps it
            _sweep_entry(entry, keep=live, outcome=outcome, job_id=job_id)
    if outcome.removed:
        EXPORT_ORPHANS_SWEPT.inc(outcome.removed)
        EXPORT_ORPHAN_BYTES_SWEPT.inc(outcome.bytes)
        log.info("exports.orphans_swept", removed=outcome.removed, bytes=outcome.bytes, kept=outcome.kept)
    return outcome


def _sweep_entry(entry: Path, *, keep: bool, outcome: SweepOutcome, job_id: str) -> None:
    if keep:
        outcome.kept += 1
        return
    size = _size(entry)
    _remove(entry)
    outcome.removed += 1
    outcome.bytes += size
    log.info("exports.orphan_removed", export_id=job_id, path=str(entry), bytes=size)


def _make_folder(path: Path) -> None:
    """mkdir -p that survives a sweep removing an empty parent between two of its steps."""
    for _ in range(3):
        try:
            path.mkdir(parents=True, exist_ok=True)
            return
        except FileNotFoundError:
            continue
    path.mkdir(parents=True, exist_ok=True)


def _attempt_number(name: str) -> int | None:
    match = ATTEMPT_FOLDER.match(name)
    return int(match.group(1)) if match else None


def _size(path: Path) -> int:
    with contextlib.suppress(OSError):
        if path.is_dir():
            return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        return path.stat().st_size
    return 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
