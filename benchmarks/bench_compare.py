"""``experiments.compare`` on the 300,000-cell benchmark screen of bench_screen.py: wall
time and peak RSS (required: < 2 GB); and, with --false-flags N, how often the compare flags
any panel of the simulator's own screens (N seeds of a small screen).

Usage: python benchmarks/bench_compare.py [--cells N] [--genes G] [--perturbations K]
           [--twins M] [--max-perturbations P]
       python benchmarks/bench_compare.py --false-flags 100 [--twins M]

The screen is written by bench_screen.write_screen (gamma-Poisson counts, per-cell depth,
5% control cells, K perturbations scaling 2% of the genes 2-fold) in its own process; the
compare runs in a fresh process (a child would report a larger parent's peak RSS).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's packages


def compare_child(path: str, out_dir: str, twins: int, max_perturbations: int) -> None:
    """``experiments.compare`` on the screen, run as the docs run it, in this process."""
    import runpy

    sys.argv = ["compare", f"data={path}", "label_key=guide", f"out_dir={out_dir}",
                f"n_twins={twins}", f"max_perturbations={max_perturbations}"]
    start = time.perf_counter()
    try:
        runpy.run_module("experiments.compare", run_name="__main__")
    finally:
        print(json.dumps({"seconds": time.perf_counter() - start,
                          "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def false_flags(n_seeds: int, twins: int) -> None:
    """The share of the simulator's own small screens on which any panel is flagged."""
    import numpy as np
    import pandas as pd
    from scipy import sparse

    from simulator import GenePriors, SimulationParams, simulate_counts
    from simulator.model.countsio import require_anndata
    from simulator.screen.compare import check_twins, flag_panels, panel_data
    from simulator.screen.estimate import estimate_from_profile
    from simulator.screen.profile import profile_h5ad

    anndata = require_anndata()
    params = SimulationParams(n_genes=500, n_control_cells=200, n_perturbations=20,
                              n_cells_per_perturbation=30, n_replicate_cells=0)
    flagged, panels = 0, {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "screen.h5ad"
        for seed in range(n_seeds):
            cells = simulate_counts(params, GenePriors.default(), seed=1000 + seed)
            obs = pd.DataFrame({"perturbation": cells.obs["perturbation"].astype(str)})
            obs.index = obs.index.astype(str)
            anndata.AnnData(sparse.csr_matrix(cells.counts.astype(np.float32)), obs=obs,
                            var=pd.DataFrame(index=cells.genes)).write_h5ad(path)
            profile, sample = profile_h5ad(path, "perturbation", "control", fit_cells=20_000)
            estimate = estimate_from_profile(profile, sample)
            screen = panel_data(profile, estimate.priors.theta, 0.05)
            table = flag_panels(check_twins(screen, estimate, 0, twins, 0.05, 20_000))
            flagged += bool(table["flagged"].any())
            for panel in table.loc[table["flagged"], "panel"]:
                panels[panel] = panels.get(panel, 0) + 1
    print(f"{n_seeds} simulated screens ({params.n_cells:,} cells x {params.n_genes} genes), "
          f"{twins} twins each: a panel flagged on {flagged} ({flagged / n_seeds:.1%}; bound "
          f"1/{twins + 1} = {1 / (twins + 1):.1%}); by panel {panels}; "
          f"{time.perf_counter() - start:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300_000)
    parser.add_argument("--genes", type=int, default=8_000)
    parser.add_argument("--perturbations", type=int, default=500)
    parser.add_argument("--twins", type=int, default=29)
    parser.add_argument("--max-perturbations", type=int, default=100)
    parser.add_argument("--false-flags", type=int, default=0)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        compare_child(args.child[0], args.child[1], int(args.child[2]), int(args.child[3]))
        return
    if args.false_flags:
        false_flags(args.false_flags, args.twins)
        return
    from bench_screen import write_in_child

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "screen.h5ad"
        write_in_child(path, args.cells, args.genes, args.perturbations)
        done = subprocess.run([sys.executable, __file__, "--child", str(path),
                               str(Path(directory) / "compare"), str(args.twins),
                               str(args.max_perturbations)],
                              capture_output=True, text=True, check=True)
        lines = done.stdout.strip().splitlines()
        figures = json.loads(lines[-1])
        print("\n".join(f"  {line}" for line in lines[:-1]))
        print(f"compare ({args.twins} twins, {args.max_perturbations} perturbations profiled): "
              f"{figures['seconds']:.0f} s, peak RSS {figures['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
