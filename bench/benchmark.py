"""What a benchmark is: a name (as ``--only`` takes it), the figures it measures with
their units, and the function that measures them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.context import BenchContext
from bench.report import Figure

Measure = Callable[[BenchContext], dict[str, Figure]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    units: dict[str, str]
    measure: Measure
    # Runs on the shared scheduler + worker stack (started once, for C2 and C3).
    uses_worker_stack: bool = False
