"""Does the simulator look like your screen?
``python -m experiments.compare data=<screen.h5ad> label_key=<column> control_label=<label>``.

Estimates the screen's regime (`simulator.estimate_params`), simulates its twin and
`n_twins` independent twins (the paper's effects; and as many with ``effects=programs``
where the screen shows shared structure), each estimated again and compared with a twin of
its own, and compares the screen with its twin panel by panel, flagged where it departs
beyond what a twin departs from its own twin (`simulator.screen.compare`). Then scores
every metric on the screen's own regime (``experiments.realdata``'s base view, stored view
by view: a rerun after a kill resumes) and on a simulated trial of its twin, and tabulates
where their verdicts agree. Writes into
``out_dir``: ``estimate.json`` (the regime, ``sim.*`` and ``effects.*`` keys),
``panels.csv`` (panel, family, distance, twin range, flag), ``agreement.csv``,
``results.parquet`` / ``calibration.parquet`` (the screen's views), and ``figures/``
(``compare_panels.png`` and ``summary.md``).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import hydra
import matplotlib
import pandas as pd
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

import simulator
from experiments import CONF_DIR
from experiments.cli import clean_errors, evaluation_spec, writing_to
from experiments.realdata import study_fingerprint
from simulator import streams
from simulator.errors import check, check_number
from simulator.evaluation import EvaluationSpec
from simulator.model import GenePriors, simulate
from simulator.model.programs import program_effects
from simulator.report.compare import (
    agreement_table,
    compare_figure,
    compare_style,
    majority_verdicts,
    write_summary,
)
from simulator.report.style import save
from simulator.resources import check_memory, study_memory
from simulator.screen import Design, Factors, ScreenLevels
from simulator.screen.compare import check_twins, flag_panels, panel_data
from simulator.screen.estimate import ScreenEstimate, estimate_from_profile
from simulator.screen.profile import profile_h5ad
from simulator.sweep import run_study
from simulator.sweep.store import SweepStore
from simulator.sweep.trial import score_dataset

__all__ = ["main", "run_compare"]

RESULT_KEYS = ("label_key", "control_label", "layer", "seed", "alpha", "repeats",
               "n_perturbations", "predictors", "metrics")
NO_FACTORS = Factors(n_p=(), n0=(), k=(), degs=0, effect=0, control_bias=(), n_genes=(),
                     library_size=0)
TWIN_TRIAL = 2_000_000  # index of the twin trial's seed (`streams.twin_seed`)


def run_compare(cfg: DictConfig) -> Path:
    check(cfg.data is not None, "data", None, "the screen's h5ad file (data=screen.h5ad)")
    check_number(cfg.n_twins, "n_twins", low=2, integer=True)
    check_number(cfg.fit_cells, "fit_cells", low=2, integer=True)
    evaluation = evaluation_spec(cfg)
    design = Design(NO_FACTORS, cfg.repeats, cfg.n_perturbations, cfg.seed, cfg.alpha)
    priors = None if cfg.priors_path is None else GenePriors.from_csv(
        to_absolute_path(str(cfg.priors_path)))
    out_dir, data = Path(to_absolute_path(str(cfg.out_dir))), Path(to_absolute_path(str(cfg.data)))
    with writing_to(out_dir):
        pass
    started = time.perf_counter()
    profile, sample = profile_h5ad(data, cfg.label_key, cfg.control_label, layer=cfg.layer,
                                   seed=cfg.seed, max_perturbations=cfg.max_perturbations,
                                   fit_cells=cfg.fit_cells)
    estimate = estimate_from_profile(profile, sample, priors=priors, seed=cfg.seed,
                                     alpha=cfg.alpha)
    print(f"compare: estimated {describe(estimate)}", flush=True)
    screen = panel_data(profile, estimate.priors.theta, cfg.alpha)
    del profile, sample
    families = {"paper": None, **({"programs": estimate.programs} if estimate.programs else {})}
    flags, first = {}, {}
    for family, programs in families.items():
        twins = check_twins(screen, estimate, cfg.seed, cfg.n_twins, cfg.alpha,
                            cfg.fit_cells, programs)
        flags[family], first[family] = flag_panels(twins), twins.twin
    screen_verdicts = _screen_verdicts(cfg, data, design, evaluation, out_dir)
    twin_verdicts = {family: _twin_verdicts(estimate, programs, design, evaluation, cfg)
                     for family, programs in families.items()}
    agreement = agreement_table(screen_verdicts, twin_verdicts)
    _write_tables(out_dir, estimate, flags, agreement)
    summary = None
    if cfg.figures:
        matplotlib.use("Agg")
        with compare_style():
            save(compare_figure(screen, first, flags), out_dir / "figures", "compare_panels",
                 tight=False, formats=("png",))
        summary = write_summary(out_dir / "figures", f"Screen {data.name}: "
                                f"{describe(estimate)}.", estimate, flags, agreement,
                                cfg.n_twins)
    _print(flags, agreement, time.perf_counter() - started, out_dir, summary)
    return out_dir


def describe(estimate: ScreenEstimate) -> str:
    p = estimate.params
    programs = "" if estimate.programs is None else (
        f", shared structure (private_fraction {estimate.programs.private_fraction:.2f})")
    return (f"{p.n_genes:,} genes, n0 = {p.n_control_cells:,}, nk = "
            f"{p.n_cells_per_perturbation}, k = {p.n_perturbations}, deg_fraction = "
            f"{p.deg_fraction:.3g}, effect_size = {p.effect_size:.3g}, μ_l = "
            f"{p.library_size_log_mean:.3g}, σ_l = {p.library_size_log_sd:.3g}{programs}")


def _screen_verdicts(cfg: DictConfig, data: Path, design: Design, evaluation: EvaluationSpec,
                     out_dir: Path) -> pd.Series:
    """Each metric's majority verdict over the base views of the screen (stored in out_dir,
    resumed after a kill)."""
    store = SweepStore(out_dir, study_fingerprint(cfg, data, RESULT_KEYS))

    def planned(levels: ScreenLevels) -> None:
        check_memory(study_memory(levels, design, evaluation, cfg.n_threads), "this study",
                     cfg.force)
        store.open(OmegaConf.to_yaml(cfg, resolve=True), simulator.__version__, cfg.overwrite)

    try:
        tables = run_study(data, cfg.label_key, cfg.control_label, design, evaluation,
                           layer=cfg.layer, n_threads=cfg.n_threads, on_levels=planned,
                           store=store)
    finally:
        store.close()
    return majority_verdicts(tables.calibration)


def _twin_verdicts(estimate: ScreenEstimate, programs, design: Design,
                   evaluation: EvaluationSpec, cfg: DictConfig) -> pd.Series:
    """The verdicts of a simulated trial of the twin, its truth and replicate the halves of
    a perturbation's cells and its perturbations as many as the screen's base view."""
    params = estimate.params
    nk = params.n_cells_per_perturbation
    k = min(params.n_perturbations, design.n_perturbations or params.n_perturbations)
    trial = replace(params, n_cells_per_perturbation=max(2, (nk + 1) // 2),
                    n_replicate_cells=max(2, nk // 2), n_perturbations=k)
    seed = streams.twin_seed(cfg.seed, TWIN_TRIAL)
    direction = None if programs is None else program_effects(trial, programs, seed).direction
    dataset = simulate(trial, estimate.priors, seed, n_threads=cfg.n_threads,
                       direction=direction)
    verdicts = score_dataset(dataset, evaluation, n_threads=cfg.n_threads)[1]
    return verdicts.set_index("metric")["verdict"]


def _write_tables(out_dir: Path, estimate: ScreenEstimate, flags: dict,
                  agreement: pd.DataFrame) -> None:
    regime = {"sim": estimate.params.to_dict(),
              "effects": None if estimate.programs is None else estimate.programs.to_dict(),
              "details": {k: v for k, v in estimate.details.items()},
              "shared_share": estimate.structure.top_share}
    with writing_to(out_dir):
        (out_dir / "estimate.json").write_text(json.dumps(regime, indent=2, default=float))
        pd.concat([t.assign(family=f) for f, t in flags.items()]).to_csv(
            out_dir / "panels.csv", index=False)
        agreement.to_csv(out_dir / "agreement.csv", index=False)
        estimate.priors.to_csv(out_dir / "priors.csv")


def _print(flags: dict, agreement: pd.DataFrame, seconds: float, out_dir: Path,
           summary: Path | None) -> None:
    for family, table in flags.items():
        flagged = table.loc[table["flagged"], "panel"].tolist()
        print(f"{family} twin: panels flagged: {', '.join(flagged) if flagged else 'none'}")
        column = f"agrees_{family}"
        print(f"{family} twin: {int(agreement[column].sum())} of {len(agreement)} metrics get "
              "the screen's verdict")
    print(f"done in {seconds:.0f} s; tables in {out_dir}"
          + (f"; read {summary}" if summary else ""))


@hydra.main(version_base=None, config_path=str(CONF_DIR), config_name="compare")
@clean_errors
def main(cfg: DictConfig) -> None:
    run_compare(cfg)


if __name__ == "__main__":
    main()
