"""Sweeps: a sweep file expanded into validated trials, run in parallel on Dask, ranked."""

from nncli.sweep.config import Run, Sweep, load_sweep
from nncli.sweep.report import Ledger, Ranked, rank
from nncli.sweep.runner import SweepResult, print_result, run_sweep

__all__ = [
    "Ledger",
    "Ranked",
    "Run",
    "Sweep",
    "SweepResult",
    "load_sweep",
    "print_result",
    "rank",
    "run_sweep",
]
