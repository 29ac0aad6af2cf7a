"""A real screen's cost: summarising it (`simulator.screen.summarise_screen`, what
``experiments.score`` reads) and the whole real-data stress test (``experiments.realdata``
with every factor at its default levels): time and peak memory.

Usage: python benchmarks/bench_screen.py [--cells N] [--genes G] [--perturbations K]
                                         [--no-study]

Writes a sparse h5ad of N cells x G genes (raw counts: gamma-Poisson with a per-gene mean
and a per-cell depth, ~90% zeros; 5% control cells, the rest spread over K perturbations,
each scaling 2% of the genes 2-fold up or down) into a temporary directory, then, each in a
fresh process, summarises it (streamed in row chunks, split into truth and replicate
halves, DEG calls and weights) and runs ``experiments.realdata`` on it, and reports the
wall times, entries per second and each process's peak RSS beside the app's estimate.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_screen(path: Path, n_cells: int, n_genes: int, n_perturbations: int) -> int:
    """The synthetic screen, written chunk by chunk into one CSR matrix; its non-zeros."""
    import anndata
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(0)
    gene_mean = rng.lognormal(-2.5, 1.5, n_genes)
    group = np.where(rng.random(n_cells) < 0.05, -1, rng.integers(0, n_perturbations, n_cells))
    labels = np.where(group < 0, "control", np.char.add("P", group.astype(str)))
    affected = rng.random((n_perturbations, n_genes)) < 0.02
    fold = np.where(affected, np.where(rng.random(affected.shape) < 0.5, 2.0, 0.5), 1.0)
    blocks = []
    for start in range(0, n_cells, 20_000):
        n = min(20_000, n_cells - start)
        depth = rng.lognormal(0, 0.3, n)[:, None]
        cells = group[start:start + n]
        scale = np.where(cells[:, None] < 0, 1.0, fold[np.maximum(cells, 0)])
        counts = rng.poisson(rng.gamma(0.5, 2 * gene_mean * depth * scale))
        blocks.append(sparse.csr_matrix(counts.astype(np.float32)))
    matrix = sparse.vstack(blocks, format="csr")
    anndata.AnnData(matrix, obs=pd.DataFrame({"guide": labels},
                                              index=np.arange(n_cells).astype(str)),
                    var=pd.DataFrame(index=[f"g{i}" for i in range(n_genes)])
                    ).write_h5ad(path)
    return matrix.nnz


def child(path: str) -> None:
    from simulator.screen import summarise_screen

    start = time.perf_counter()
    screen = summarise_screen(path, "guide", "control")
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "described": screen.describe()}))


def study_child(path: str, out_dir: str) -> None:
    """``experiments.realdata`` on the screen, run as docs/your-data.md runs it, in this process."""
    import runpy

    sys.argv = ["realdata", f"data={path}", "label_key=guide", f"out_dir={out_dir}"]
    start = time.perf_counter()
    try:
        runpy.run_module("experiments.realdata", run_name="__main__")
    finally:
        print(json.dumps({"seconds": time.perf_counter() - start,
                          "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def write_in_child(path: Path, n_cells: int, n_genes: int, n_perturbations: int) -> int:
    """`write_screen` in its own process, printing its size and time; the non-zeros.

    Each step of a benchmark runs in its own process: Linux keeps a process's peak RSS
    across exec, so a child forked from a large parent would report the parent's size.
    """
    started = time.perf_counter()
    nnz = int(subprocess.run([sys.executable, __file__, "--write", str(path),
                              f"--cells={n_cells}", f"--genes={n_genes}",
                              f"--perturbations={n_perturbations}"],
                             capture_output=True, text=True, check=True).stdout.split()[-1])
    print(f"wrote {n_cells:,} cells x {n_genes:,} genes ({nnz:,} non-zeros, "
          f"{path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - started:.0f} s")
    return nnz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=100_000)
    parser.add_argument("--genes", type=int, default=8_000)
    parser.add_argument("--perturbations", type=int, default=500)
    parser.add_argument("--no-study", action="store_true", help="summarise only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--study-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--write", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if args.study_child:
        study_child(*args.study_child)
        return
    if args.write:
        print(write_screen(Path(args.write), args.cells, args.genes, args.perturbations))
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "screen.h5ad"
        nnz = write_in_child(path, args.cells, args.genes, args.perturbations)
        out = subprocess.run([sys.executable, __file__, "--child", str(path)],
                             capture_output=True, text=True, check=True).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        entries = args.cells * args.genes
        print(f"summarised: {figures['described']}")
        print(f"  {figures['seconds']:.1f} s, {entries / figures['seconds'] / 1e6:.0f} M cell x "
              f"gene entries/s, {nnz / figures['seconds'] / 1e6:.1f} M non-zeros/s, peak RSS "
              f"{figures['peak_mb']:.0f} MB")
        if not args.no_study:
            study(path, Path(directory) / "study")


def study(path: Path, out_dir: Path) -> None:
    """The real-data stress test in a fresh process: its own lines, then time and memory."""
    done = subprocess.run([sys.executable, __file__, "--study-child", str(path), str(out_dir)],
                          capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    shown = [line for line in lines[:-1] if line.startswith(("screen:", "realdata:", "done:"))]
    print("realdata, every factor at its default levels:")
    print("\n".join(f"  {line}" for line in shown))
    print(f"  whole app (reading, {len(list(out_dir.glob('figures/*.png')))} figures and the "
          f"summary included): {figures['seconds']:.0f} s, peak RSS {figures['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
