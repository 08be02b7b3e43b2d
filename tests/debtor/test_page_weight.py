"""The overview's page weight stays at or below the 21.4 KB (gzip) measured before the second pass.

Runs bench/portal_load.py --weight-only: the overview served by gunicorn to a debtor with three
open invoices, its HTML plus every stylesheet, script and image it loads, each gzip-compressed.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 21_442  # bytes gzipped: the overview with the favicon (0d8d59a), "21.4 KB" in docs/benchmarks.md


@pytest.mark.skipif(not shutil.which("gunicorn", path=str(Path(sys.executable).parent)), reason="gunicorn not installed")
def test_the_overview_weighs_no_more_than_before_and_loads_nothing_from_other_hosts():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "portal_load.py"), "--weight-only"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    total = int(re.search(r"\| \*\*total\*\* \| [\d,]+ \| \*\*([\d,]+)\*\* \|", out).group(1).replace(",", ""))
    assert total <= BUDGET, out
    assert "Third-party requests: 0" in out
