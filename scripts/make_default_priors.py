"""Regenerate the default gene prior shipped with the package, and its figure.

Usage: python scripts/make_default_priors.py   (writes simulator/data/default_priors.csv.gz
and figures/default_priors.png; fixed seed, so the output is reproducible)

The prior is a parametric stand-in for a deeply sequenced 10x Perturb-seq screen in K562
cells (e.g. Replogle et al. 2022, essential-gene screen, median ~11k UMIs per cell), so
the tool runs with no data download. The model and why each number is plausible:

- 8192 genes (the paper's largest G), named G00001...
- Mean counts per control cell: LogNormal(meanlog=-0.98, sdlog=1.5). The sum over genes
  is then ~9,500 UMIs per cell (~85% of an ~11k-UMI cell sits in its top 8k genes), the
  median gene has ~0.4 UMIs per cell and the top genes (ribosomal-protein-like) ~100+.
- Mean-dispersion trend 1/theta = 0.10 + 0.15/mu, with log-normal scatter (sd 0.3) around
  it: the form DESeq2 fits ("asymptotic dispersion + extra-Poisson / mean"); theta rises
  from ~0.7 at mu = 0.1 to ~9 for highly expressed genes, in line with the regularised
  theta-mean relation sctransform reports for 10x UMI data.
- Control-vs-perturbed shift: 30% of genes differ between control and pooled perturbed
  cells, with a natural-log fold change ~ Normal(0, 0.3²) (|log2 FC| mostly < 0.6): the
  shared stress and proliferation response of a pooled essential-gene screen. The rest
  have mu_perturbed = mu_control. `control_bias` scales exactly this shift.
- Values are rounded to 6 significant digits to keep the file small.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from simulator.priors import GenePriors

SEED = 20250101
N_GENES = 8192
MEAN_LOG, MEAN_SDLOG = -0.98, 1.5
ASYMPTOTIC_DISPERSION, EXTRA_POISSON = 0.10, 0.15
DISPERSION_SCATTER_SD = 0.3
SHIFTED_FRACTION, SHIFT_LOG_SD = 0.30, 0.3
ROOT = Path(__file__).resolve().parents[1]


def round_significant(values: np.ndarray, digits: int = 6) -> np.ndarray:
    return np.array([float(f"{v:.{digits}g}") for v in values])


def make_priors() -> GenePriors:
    rng = np.random.default_rng(np.random.SeedSequence(SEED))
    mu_control = rng.lognormal(MEAN_LOG, MEAN_SDLOG, N_GENES)
    trend = ASYMPTOTIC_DISPERSION + EXTRA_POISSON / mu_control
    dispersion = trend * rng.lognormal(0.0, DISPERSION_SCATTER_SD, N_GENES)
    shifted = rng.random(N_GENES) < SHIFTED_FRACTION
    log_fold_change = np.where(shifted, rng.normal(0.0, SHIFT_LOG_SD, N_GENES), 0.0)
    return GenePriors(
        genes=np.array([f"G{i:05d}" for i in range(1, N_GENES + 1)]),
        mu_control=round_significant(mu_control),
        mu_perturbed=round_significant(mu_control * np.exp(log_fold_change)),
        theta=round_significant(1.0 / dispersion),
    )


def plot(priors: GenePriors, path: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=150)
    mu = priors.mu_control
    left.scatter(np.log10(mu), np.log10(1 / priors.theta), s=2, alpha=0.3, color="#0072B2",
                 rasterized=True)
    grid = np.logspace(np.log10(mu.min()), np.log10(mu.max()), 200)
    left.plot(np.log10(grid), np.log10(ASYMPTOTIC_DISPERSION + EXTRA_POISSON / grid),
              color="#D55E00", label=r"trend $1/\theta = a + b/\mu$")
    left.set(xlabel=r"$\log_{10}$ mean count per control cell ($\mu$)",
             ylabel=r"$\log_{10}$ dispersion ($1/\theta$)", title="Mean-dispersion")
    left.legend(frameon=False)
    lfc = np.log2(priors.mu_perturbed / priors.mu_control)
    right.hist(lfc[lfc != 0], bins=60, color="#009E73")
    right.set(xlabel=r"$\log_2$ (mu_perturbed / mu_control)", ylabel="genes",
              title=f"Control shift ({np.mean(lfc != 0):.0%} of genes)")
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    priors = make_priors()
    out = ROOT / "simulator" / "data" / "default_priors.csv.gz"
    priors.to_frame().to_csv(out, index=False, float_format="%.6g")
    plot(priors, ROOT / "figures" / "default_priors.png")
    total = priors.mu_control.sum()
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB): {priors.n_genes} genes, "
          f"{total:,.0f} UMIs per control cell, median mu {np.median(priors.mu_control):.2f}, "
          f"median theta {np.median(priors.theta):.2f}")


if __name__ == "__main__":
    main()
