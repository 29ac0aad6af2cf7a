"""Regenerate the default gene prior shipped with the package, and its figure.

Usage: ``python scripts/make_default_priors.py`` (from anywhere). Writes
simulator/model/data/default_priors.csv.gz and figures/default_priors.png; the seed is fixed and
the gzip header carries no time stamp, so the output is byte-for-byte reproducible.

The prior is a parametric stand-in for a deeply sequenced 10x Perturb-seq screen in K562
cells (Replogle et al. 2022, essential-gene screen, median ~11k UMIs per cell), so the
tool runs with no data download. The model, and why each number is plausible:

- 8192 genes (the paper's largest G), named G00001 ... G08192.
- Mean count per control cell (size factor 1): mu ~ LogNormal(meanlog=-0.98, sdlog=1.5).
  E[mu] = exp(-0.98 + 1.5²/2) = 1.16, so the 8192 genes sum to ~9,500 UMIs per cell: an
  ~11k-UMI cell keeps ~85% of its UMIs in its 8k most expressed genes. sdlog 1.5 spreads
  the means over ~4 decades (0.001 to ~50-100 UMIs per cell), as in 10x data: median gene
  ~0.4 UMIs per cell, top genes (ribosomal-protein-like) tens of UMIs.
- Dispersion 1/theta = a + b / mu with a = 0.10, b = 0.15 (the parametric trend DESeq2
  fits), times LogNormal(0, 0.3²) gene-to-gene scatter. Variance = (1 + b) mu + a mu²:
  lowly expressed genes are nearly Poisson (+15%), as UMI counts are (Svensson 2020),
  while highly expressed genes approach theta = 1/a = 10 (asymptotic dispersion 0.1, the
  low end of the 0.1-0.2 typical of highly expressed genes in homogeneous 10x cells; the
  simulator's size factors add the cell-to-cell part on top).
- Control-vs-perturbed shift: each gene is shifted with probability 0.30, by a natural-log
  fold change ~ Normal(0, 0.3²) (95% within x/÷ 1.8); the others have mu_perturbed =
  mu_control. This is the shared response of a pooled essential-gene screen (stress,
  slower proliferation) averaged over thousands of knockdowns: broad but modest. The
  simulator's `control_bias` scales exactly this shift.
- Values are rounded to 6 significant digits (file ~100 KB); `GenePriors.to_csv` writes
  them back unchanged, so the shipped file round-trips exactly.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from scipy import stats

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from simulator.model.priors import GenePriors

SEED = 20250101
N_GENES = 8192
MEAN_LOG, MEAN_SDLOG = -0.98, 1.5
ASYMPTOTIC_DISPERSION, EXTRA_POISSON = 0.10, 0.15
DISPERSION_SCATTER_SD = 0.3
SHIFTED_FRACTION, SHIFT_LOG_SD = 0.30, 0.3
ROOT = Path(__file__).resolve().parents[1]


def round_significant(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """Round to `digits` significant digits (exactly what "%.6g" prints)."""
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
              color="#D55E00",
              label=rf"trend $1/\theta = {ASYMPTOTIC_DISPERSION} + {EXTRA_POISSON}/\mu$")
    left.set(xlabel=r"$\log_{10}$ mean count per control cell ($\mu$)",
             ylabel=r"$\log_{10}$ dispersion ($1/\theta$)", title="Mean-dispersion")
    left.legend(frameon=False)
    lfc = np.log(priors.mu_perturbed / priors.mu_control)
    shifted = lfc[lfc != 0]
    right.hist(shifted, bins=60, density=True, color="#009E73", label="shifted genes")
    grid = np.linspace(shifted.min(), shifted.max(), 200)
    right.plot(grid, stats.norm.pdf(grid, 0.0, SHIFT_LOG_SD), color="#D55E00",
               label=rf"Normal(0, {SHIFT_LOG_SD}$^2$)")
    right.set(xlabel=r"$\ln$ (mu_perturbed / mu_control)", ylabel="density",
              title=f"Control shift ({np.mean(lfc != 0):.0%} of genes shifted)")
    right.legend(frameon=False)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)


def main() -> None:
    priors = make_priors()
    out = ROOT / "simulator" / "model" / "data" / "default_priors.csv.gz"
    priors.to_csv(out)
    plot(priors, ROOT / "figures" / "default_priors.png")
    total = priors.mu_control.sum()
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB): {priors.n_genes} genes, "
          f"{total:,.0f} UMIs per control cell, median mu {np.median(priors.mu_control):.2f}, "
          f"median theta {np.median(priors.theta):.2f}")


if __name__ == "__main__":
    main()
