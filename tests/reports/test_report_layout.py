"""The PDF an executive reads (issue 24): every page rendered to PNG (pdftoppm), and layout facts
read from the PDF's own word boxes (`pdftotext -bbox`): no word drawn over another, every word on
its page, every table row present once, the cover's tenant and real range, values in their units."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_engine.reports.figures import format_duration, format_value, partial_buckets
from analytics_engine.reports.render import render_pdf, render_xlsx
from tests.reports.sample import render_sample, sample_sections

WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)


def pages_of(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, float, float, str]]]]:
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return [
        (float(w), float(h), [(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in WORD.findall(body)])
        for w, h, body in PAGE.findall(html)
    ]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    assert shutil.which("pdftoppm"), "poppler-utils missing: scripts/bootstrap.d/system installs it"
    return render_sample(tmp_path_factory.mktemp("report"))


def test_every_page_renders_to_png(sample: Path) -> None:
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(sample), str(sample.parent / "page")], check=True)
    images = sorted(sample.parent.glob("page-*.png"))
    assert len(images) == len(pages_of(sample)) >= 8
    assert all(image.stat().st_size > 3000 for image in images)


def test_no_word_overlaps_another_and_every_word_is_on_its_page(sample: Path) -> None:
    for number, (width, height, words) in enumerate(pages_of(sample), start=1):
        assert len(words) > 10, f"page {number} has no text boxes"
        for x0, y0, x1, y1, text in words:
            assert x0 >= 0 and x1 <= width and y0 >= 0 and y1 <= height, (number, text)
        for i, (a0, b0, a1, b1, first) in enumerate(words):
            for c0, d0, c1, d1, second in words[i + 1 :]:
                overlap_x = min(a1, c1) - max(a0, c0)
                overlap_y = min(b1, d1) - max(b0, d0)
                assert overlap_x <= 0.5 or overlap_y <= 0.5, f"page {number}: {first!r} over {second!r}"


def test_every_table_row_is_on_a_page_once(sample: Path) -> None:
    text = subprocess.run(["pdftotext", "-layout", str(sample), "-"], capture_output=True, text=True, check=True)
    revenue = next(s for s in sample_sections() if s.title == "Revenue").tables[0]
    assert len(revenue.rows) > 40  # more than a page holds
    lines = text.stdout.splitlines()
    for row in revenue.rows:
        day = format_value(row[0], "date")
        amount = format_value(row[1], "currency", "EUR")
        assert sum(1 for line in lines if day in line and amount in line) == 1, (day, amount)
    assert "Revenue (continued: rows" in text.stdout


def test_cover_has_tenant_real_range_and_changes(sample: Path) -> None:
    cover = subprocess.run(["pdftotext", "-l", "1", "-layout", str(sample), "-"], capture_output=True, text=True)
    text = cover.stdout
    assert "Acme Learning" in text and "5 Oct 2026 to 7 Dec 2026 (UTC)" in text and "-7d" not in text
    assert "▲ 14.0% vs previous period (926)" in text  # the big number against the previous week
    assert "12.8%" in text and "▲ 1.8 pts vs previous period (11.0%)" in text  # a funnel: a percentage
    assert "39.0%" in text and "total 274" not in text  # retention: people back, not a sum
    assert "EUR" in text  # a currency metric shows its unit
    assert "3.20 : 1" in text and "social value 52,300.00 EUR for 16,320.00 EUR invested" in text  # SROI
    assert "could not be computed" in text


def test_funnel_page_shows_percentages_and_durations(sample: Path) -> None:
    text = subprocess.run(["pdftotext", "-layout", str(sample), "-"], capture_output=True, text=True).stdout
    assert "2 d 5 h" in text and "2 h 3 min" in text
    assert "190,881" not in text and "190881" not in text and "0.1279" not in text
    assert "12.8%" in text and "33.5%" in text


def test_partial_buckets_are_the_range_edges() -> None:
    sections = {s.title: s for s in sample_sections()}
    daily = sections["Signups by plan"].result
    assert daily is not None
    labels = [p.label for p in daily.series[0].points]
    # The range starts at 14:30 on the first day and ends at 14:30 today: both are partial.
    assert partial_buckets(daily, labels) == [True] + [False] * (len(labels) - 2) + [True]


def test_durations_read_as_days_and_hours() -> None:
    assert format_duration(190_881) == "2 d 5 h"
    assert format_duration(7_410) == "2 h 3 min" and format_duration(65) == "1 min 5 s"
    assert format_value(0.1279, "ratio") == "12.8%" and format_value(21107.159999999993, "currency", "EUR") == (
        "21,107.16 EUR"
    )


def test_font_subsetting_logs_nothing_into_the_json_log(tmp_path, capfd) -> None:  # type: ignore[no-untyped-def]
    """fontTools (matplotlib's font subsetting) logs at INFO as plain text: `serve`'s JSON log keeps it out."""
    import structlog

    from analytics_engine.observability.logging import configure_logging

    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("info", json=True)
        assert logging.getLogger("fontTools").getEffectiveLevel() >= logging.WARNING
        render_pdf(tmp_path / "r.pdf", "R", "Acme · today", sample_sections()[:2], generated=datetime.now(UTC))
    finally:
        logging.getLogger("fontTools").setLevel(logging.NOTSET)
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, level
    err = capfd.readouterr().err
    assert "fontTools" not in err and "pruned" not in err
    for line in err.splitlines():
        if line.strip():
            json.loads(line)


def test_xlsx_of_a_report_is_typed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    render_xlsx(tmp_path / "r.xlsx", sample_sections())
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    funnel = book["Trial to paid"]
    assert funnel["E4"].value == 0.1279 and funnel["E4"].number_format == "0.00%"


def test_today_is_partial_when_the_range_runs_to_the_end_of_today() -> None:
    """`-7d` resolves to whole local days up to tomorrow's midnight: today is still incomplete."""
    from analytics_engine.insights.results import Point, Series, TrendsResult

    days = [f"2026-12-0{d}" for d in range(1, 8)]
    result = TrendsResult(
        kind="trends",
        timezone="UTC",
        date_from=datetime(2026, 12, 1, tzinfo=UTC),
        date_to=datetime(2026, 12, 8, tzinfo=UTC),
        computed_at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC),
        interval="day",
        series=[Series(label="s", points=[Point(label=d, bucket=d, value=1.0) for d in days])],
    )
    assert partial_buckets(result, days) == [False] * 6 + [True]


def test_a_crowded_section_still_overlaps_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ten stacked series with long breakdown values, 60 daily buckets, a 12-column table with long
    cells and 700 rows: the legend, the ticks, the cells and the notes keep to their own places."""
    from analytics_engine.exports.integrations import section_for
    from analytics_engine.insights.results import Point, Series, TrendsResult

    start = datetime(2026, 10, 1, tzinfo=UTC)
    days = [(start.date() + timedelta(days=d)).isoformat() for d in range(60)]
    series = [
        Series(
            label=f"a rather long breakdown value number {n} from a property",
            points=[Point(label=d, bucket=d, value=float(10 * n + i % 5)) for i, d in enumerate(days)],
        )
        for n in range(10)
    ]
    result = TrendsResult(
        kind="trends",
        timezone="UTC",
        date_from=start,
        date_to=datetime(2026, 11, 30, tzinfo=UTC),
        interval="day",
        computed_at=datetime(2026, 12, 7, tzinfo=UTC),
        series=series,
    )
    crowded = section_for("A crowded board widget with a long title", result)
    crowded.viz = "bar"
    wide = section_for("Wide", result)
    wide.tables[0].columns = [f"column with a long name {i}" for i in range(12)]
    wide.tables[0].kinds = ["text"] * 12
    wide.tables[0].rows = [[f"cell {r} " + "x" * 60] + [r * i for i in range(1, 12)] for r in range(700)]
    path = tmp_path / "crowded.pdf"
    pages = render_pdf(
        path,
        "Stress",
        "",
        [crowded, wide],
        generated=datetime(2026, 12, 7, tzinfo=UTC),
        tenant="A tenant",
        period="1 Oct 2026 to 30 Nov 2026 (UTC)",
    )
    assert pages == len(pages_of(path))
    test_no_word_overlaps_another_and_every_word_is_on_its_page(path)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True).stdout
    assert "Showing 500 of 700 rows; 8 of 12 columns. Every number is in the XLSX file." in text


def test_long_names_stay_told_apart() -> None:
    from analytics_engine.reports.render import _distinct

    values = [f"a rather long breakdown value number {n} from a property" for n in range(3)]
    assert _distinct(values, 24) == ["…number 0…", "…number 1…", "…number 2…"]
    assert _distinct(["Chrome", "Firefox on a very long platform name"], 12) == ["Chrome", "Firef…m name"]


def test_many_sections_continue_the_cover_without_overlap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from analytics_engine.exports.integrations import Section

    sections = [Section(f"Section number {n} with a name", "error", None, [], error="no data") for n in range(20)]
    path = tmp_path / "many.pdf"
    pages = render_pdf(path, "Many", "", sections, generated=datetime(2026, 12, 7, tzinfo=UTC), tenant="T", period="P")
    assert pages == 3 + 20  # covers of 8, 11 and 1 headlines, then a page per section
    test_no_word_overlaps_another_and_every_word_is_on_its_page(path)
    covers = subprocess.run(["pdftotext", "-l", "3", "-layout", str(path), "-"], capture_output=True, text=True)
    assert all(f"Section number {n} with a name" in covers.stdout for n in range(20))
