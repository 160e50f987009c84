"""Building the project's wheel the way a ``pip install`` would, for the packaging tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_wheel(workdir: Path) -> Path:
    """The wheel, built from a copy of the sources without build isolation (no download
    here), so that only what the packaging rules take goes in."""
    source = workdir / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("api", "scheduler", "worker", "shared"):
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    completed = subprocess.run(
        [*command, "-q", str(source), "-w", str(workdir / "out")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    (wheel,) = (workdir / "out").glob("chronos-*.whl")
    return wheel
