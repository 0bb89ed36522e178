"""The `browser` marker (pytest.ini, --strict-markers) is on every browser test and on nothing else (issue 19)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collected(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 5), result.stdout[-2000:] + result.stderr[-2000:]  # 5: none collected
    return {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}


def test_every_browser_test_and_only_those_carry_the_browser_marker():
    files = _collected("-m", "browser", "tests/browser", "tests/test_images.py")
    browser_files = {str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "browser").glob("test_*.py")}
    assert files == browser_files
    assert not _collected("-m", "not browser", "tests/browser")


def test_the_marker_is_declared_for_strict_markers():
    ini = (ROOT / "pytest.ini").read_text()
    assert "--strict-markers" in ini and "browser:" in ini
