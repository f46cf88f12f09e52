"""``python -m bench --smoke``: the benchmark suite runs end to end in
seconds and writes every section of its results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import support

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.postgres
def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    """A smoke run measures the PBX API over HTTP, the engines' limits, the
    in-process service, rating and CDR import on SQLite and PostgreSQL, and
    writes them as JSON and Markdown."""
    support.require(shutil.which("wrk") is not None, "wrk is not installed")
    support.require(shutil.which("pgbench") is not None, "pgbench is not installed")
    support.require(support.postgres_available(), "PostgreSQL is not reachable")
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    for section in ("machine", "api", "engine", "statements", "inprocess", "rating", "cdr"):
        assert results.get(section), f"no {section} section"
    assert not results["skipped"]
    assert not results["failed"]
    for db in ("sqlite", "postgres"):
        level = results["api"][db]["serve"]["levels"][0]
        assert level["cycles_per_s"] > 0
        assert level["errors"] == 0
        assert results["inprocess"][db]["cycles_per_s"] > 0
        assert results["cdr"][db]["lines"] == 2_000
        assert results["statements"][db]["statements"] > 0
        assert results["headlines"][db]["cycles_per_engine_tx"] > 0
    assert results["engine"]["pgbench"]["levels"][0]["tps"] > 0
    assert results["engine"]["sqlite"]["tps"] > 0
    assert results["rating"]["lookups_per_s"] > 0
    assert results["machine"]["cores"]
    assert results["machine"]["postgresql"]
    markdown = (tmp_path / "latest.md").read_text()
    assert "cycles/s" in markdown
    assert "pgbench -N" in markdown
    assert "| sqlite |" in markdown
    assert "| postgres |" in markdown
