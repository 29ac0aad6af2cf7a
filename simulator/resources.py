"""What a job will cost, estimated before it starts, and what the machine has.

The apps estimate peak memory and run time from the parameters alone, print the estimate,
and refuse a job whose memory estimate exceeds the memory available now (one line with
both figures; ``force=true`` runs it anyway), so a job too large fails in a second rather
than after an hour with an allocation traceback.

Memory of one trial (one process): the interpreter and compiled kernels, the summaries
`simulate` keeps (`SimulatedDataset`: (1 + K or 1 + 2K, G) means and variances and four
(K, G) per-perturbation arrays), then the larger of simulation's and evaluation's working
sets. The constants are measured by ``benchmarks/bench_memory.py``, which prints the
estimate beside the measured peak RSS (2-25% above it over K <= 8000, G <= 8192).
Time: the cost model fitted by ``benchmarks/bench_sweep.py`` to the paper's trials.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from simulator.errors import ValidationError
from simulator.evaluation import EvaluationSpec
from simulator.evaluation.predictors import needs_replicate
from simulator.model import SimulationParams
from simulator.screen import Design, ScreenLevels
from simulator.screen.h5ad import CHUNK_BYTES
from simulator.threads import resolve_threads

__all__ = [
    "VCC2026_SCALE_PASSES",
    "Estimate",
    "available_memory",
    "check_memory",
    "estimate_sweep",
    "estimate_trial",
    "format_bytes",
    "format_seconds",
    "n_scores",
    "provider_cost",
    "study_memory",
    "sweep_parent_memory",
    "trial_memory",
    "trial_seconds",
]

PROCESS_BYTES = 280e6  # interpreter, numpy, pandas, numba and the compiled kernels
SUMMARY_BYTES = 16  # per group x gene: float64 mean and variance
PER_PERTURBATION_BYTES = 19  # per perturbation x gene: masks (3), weights (8), a float64 temporary
SCORE_BLOCK_ENTRIES = 2**18  # simulator.evaluation.score.BLOCK_ENTRIES
SCORE_BLOCK_ARRAYS = 12  # float64 (block, G) intermediates per predictor in flight
SHARED_DISTANCES_MAX_K = 4096  # simulator.evaluation.metrics: (K, K) float64 up to this K
SCORE_ROW_BYTES = 64  # per perturbation x predictor x metric: values, tables, calibration
CELL_BLOCK = 512  # simulator.model.simulate.DEFAULT_BLOCK_CELLS; two per thread in flight
TRIAL_RECORD_BYTES = 600  # a sweep's `Trial` (parameters and seed) in the parent process
REPORT_ROW_BYTES = 400  # a results row as the figures read it (~380 B at 10,000 trials);
# the merge itself streams one trial file at a time

# Seconds on one core (benchmarks/bench_sweep.py, the paper's trials): per million
# cell x gene entries drawn, per million perturbation x gene entries scored; and per trial
# (tables, calibration, writing: the `quick` sweep's trials are mostly that).
SECONDS_PER_TRIAL = 0.05
SECONDS_PER_M_DRAWN = 0.0275
SECONDS_PER_M_SCORED = 0.296


@dataclass(frozen=True)
class Estimate:
    """A job's peak memory (bytes) and run time.

    The run time is `cpu_seconds` of work on `cores` cores, never faster than its longest
    single piece (`longest_seconds`).
    """

    memory: float
    cpu_seconds: float
    cores: int = 1
    longest_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        """Wall-clock seconds: the work spread over the cores, or the longest piece."""
        return max(self.cpu_seconds / self.cores, self.longest_seconds)

    def describe(self) -> str:
        """One line: the estimated peak memory and time."""
        on = f" on {self.cores} cores" if self.cores > 1 else ""
        return (f"estimated peak memory {format_bytes(self.memory)}, time "
                f"{format_seconds(self.seconds)}{on}")


def trial_memory(n_genes: int, n_perturbations: int, replicate: bool, n_cells: int,
                 n_scores: int, n_threads: int = 1) -> float:
    """Peak memory (bytes) of one trial in one process: simulate, evaluate, calibrate.

    n_scores: predictors x metrics scored per perturbation; n_threads: threads of
    the simulation and of scoring.
    """
    genes, perts = n_genes, n_perturbations
    groups = 1 + perts * (2 if replicate else 1)
    dataset = groups * genes * SUMMARY_BYTES + perts * genes * PER_PERTURBATION_BYTES
    simulating = min(n_cells, CELL_BLOCK * 2 * n_threads) * genes * 8
    block = min(perts * genes, SCORE_BLOCK_ENTRIES) * 8 * SCORE_BLOCK_ARRAYS
    scoring = (block * max(1, min(n_threads, n_scores))
               + perts * genes * 4  # the truth in single precision (discrimination)
               + (perts**2 * 8 if replicate and perts <= SHARED_DISTANCES_MAX_K else 0)
               + perts * n_scores * SCORE_ROW_BYTES)
    return PROCESS_BYTES + dataset + max(simulating, scoring)


def trial_seconds(n_genes: int, n_perturbations: int, n_cells: int) -> float:
    """Run time (seconds on one core) of one trial: drawing, then scoring."""
    return SECONDS_PER_TRIAL + (n_cells * n_genes * SECONDS_PER_M_DRAWN
                                + n_perturbations * n_genes * SECONDS_PER_M_SCORED) / 1e6


STUDY_SUM_BYTES = 32  # per row x gene summarised by a study: sums and squares, then moments


def study_memory(levels: ScreenLevels, design: Design, evaluation: EvaluationSpec,
                 n_threads: int | None = None) -> float:
    """Peak memory (bytes) of `simulator.sweep.run_study`.

    One repeat's summaries of every cell grouping (`simulator.screen.accumulate`), a dense
    chunk of the counts, the dataset of all perturbations (their DEGs are every view's
    affected genes) and the largest view scored, plus the tables of every view.
    """
    genes, perts = len(levels.genes), len(levels.names)
    base = min(perts, design.n_perturbations or perts)
    view_rows = 1 + 2 * base
    rows = {"n_p": lambda _: 2 * base * genes, "n0": lambda _: genes,
            "n_genes": lambda level: view_rows * level,
            "library_size": lambda _: view_rows * genes}
    summaries = (1 + 2 * perts) * genes + sum(
        rows[factor](level) for factor, values in levels.levels.items() if factor in rows
        for level in values)
    largest = max([base, *levels.levels.get("k", ())])
    threads = resolve_threads(n_threads)
    scores = n_scores(evaluation, replicate=True)
    return (summaries * STUDY_SUM_BYTES + CHUNK_BYTES
            + perts * genes * PER_PERTURBATION_BYTES
            + trial_memory(genes, largest, True, 0, scores, threads)
            + levels.n_views * scores * REPORT_ROW_BYTES)


def sweep_parent_memory(n_trials: int, n_scores: int) -> float:
    """Peak memory (bytes) of a sweep's own process: its trials and its figures' tables."""
    return PROCESS_BYTES + n_trials * (TRIAL_RECORD_BYTES + n_scores * REPORT_ROW_BYTES)


def n_scores(evaluation: EvaluationSpec, replicate: bool) -> int:
    """Predictors x metrics scored per perturbation."""
    predictors = [name for name in evaluation.predictors.expand()
                  if replicate or not needs_replicate(name)]
    return len(predictors) * len(evaluation.metric_list())


# Metric providers score cells (`simulator.evaluation.vcc`): the trial's counts, their
# normalised values, one prediction's cells and its AnnData, each cells x genes x 8 bytes;
# and about this many seconds per predictor at G = 1000, K = 50 (cell-eval's DE and metrics).
PROVIDER_CELL_COPIES = 4
PROVIDER_SECONDS_PER_PREDICTOR = 0.8
# cell_eval2 (`simulator.evaluation.vcc2026`) also keeps the raw counts (one copy more) and
# scores, besides every predictor, its baseline and the 5 half-splits of its anchor: about
# this many seconds per scoring pass at G = 1000, K = 50, 50 cells (benchmarks/bench_vcc2026.py).
VCC2026_CELL_COPIES = 1
VCC2026_SECONDS_PER_PASS = 1.5
VCC2026_SCALE_PASSES = 6


def provider_cost(params: SimulationParams, evaluation: EvaluationSpec) -> tuple[float, float]:
    """(bytes, seconds) a trial adds for its metric providers (0, 0 without)."""
    if not evaluation.providers:
        return 0.0, 0.0
    predictors = len(evaluation.predictors.expand()) + 2  # mean_cells, mean_vcc
    entries, scale = params.n_cells * params.n_genes * 8.0, params.n_perturbations / 50
    copies, seconds = PROVIDER_CELL_COPIES, 0.0
    if "cell_eval" in evaluation.providers:
        seconds += predictors * PROVIDER_SECONDS_PER_PREDICTOR * scale
    if "cell_eval2" in evaluation.providers:
        copies += VCC2026_CELL_COPIES
        seconds += (predictors + VCC2026_SCALE_PASSES) * VCC2026_SECONDS_PER_PASS * scale
    return entries * copies, seconds


def estimate_trial(params: SimulationParams, evaluation: EvaluationSpec,
                   n_threads: int = 1) -> Estimate:
    """One trial run in its own process on `n_threads` threads (``experiments.run``)."""
    replicate = params.replicate_cells > 0
    extra_memory, extra_seconds = provider_cost(params, evaluation)
    memory = trial_memory(params.n_genes, params.n_perturbations, replicate, params.n_cells,
                          n_scores(evaluation, replicate), n_threads) + extra_memory
    seconds = trial_seconds(params.n_genes, params.n_perturbations, params.n_cells)
    return Estimate(memory, seconds + extra_seconds, n_threads)


def estimate_sweep(trials: list[SimulationParams], evaluation: EvaluationSpec,
                   n_workers: int, processes: bool, local: bool = True) -> Estimate:
    """A sweep of single-threaded trials on `n_workers` workers.

    Memory: the parent's, plus (when the workers are `local`) the `n_workers` largest trials
    at once, each in its own process (`processes`) or sharing the parent's. Time: with
    perfect packing.
    """
    scores = {rep: n_scores(evaluation, rep) for rep in (False, True)}
    memory = sweep_parent_memory(len(trials), scores[True])
    largest = sorted((trial_memory(p.n_genes, p.n_perturbations, p.replicate_cells > 0,
                                   p.n_cells, scores[p.replicate_cells > 0])
                      + provider_cost(p, evaluation)[0] for p in trials),
                     reverse=True)[:n_workers]
    if local:
        memory += sum(largest) - (0 if processes else len(largest) * PROCESS_BYTES)
    seconds = [trial_seconds(p.n_genes, p.n_perturbations, p.n_cells)
               + provider_cost(p, evaluation)[1] for p in trials]
    return Estimate(memory, sum(seconds), n_workers, max(seconds, default=0.0))


def available_memory() -> float | None:
    """Bytes the machine can give now: MemAvailable, capped by a cgroup limit.

    None where the platform does not say.
    """
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = float(line.split()[1]) * 1024
    except OSError:
        try:
            available = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return None
    try:  # a container's limit (cgroup v2) binds before the machine's
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = float(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            left = float(limit) - used
            available = left if available is None else min(available, left)
    except (OSError, ValueError):
        pass
    return available


def check_memory(estimate: float, what: str, force: bool,
                 available: float | None = None) -> None:
    """Refuse `what` when `estimate` bytes exceed the memory available, unless `force`."""
    available = available_memory() if available is None else available
    if force or available is None or estimate <= available:
        return
    raise ValidationError(
        f"{what} needs about {format_bytes(estimate)} of memory but {format_bytes(available)} "
        "is available: reduce it, or set force=true to run it anyway", "force")


def format_bytes(n_bytes: float) -> str:
    """``1.5 GB``: three significant digits in kB, MB, GB or TB (powers of 1000)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes / 1e3:.3g} kB"


def format_seconds(seconds: float) -> str:
    """``under a second``, ``12 s``, ``4.5 min``, ``11 h``, ``1.2 days``."""
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s" if seconds >= 1 else "under a second"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}" if value < 10 else f"{math.floor(value + 0.5)} {unit}"
    raise AssertionError  # unreachable: seconds >= 60
