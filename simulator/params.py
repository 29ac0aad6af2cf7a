"""`SimulationParams`: every knob of the generative model, validated in one place.

Paper symbols (Mejia et al. 2025, "Diversity by Design") map to our names as follows;
this is the only place they are spelled out in code.

=============================  ===============  ==============================================
name                           paper symbol     meaning
=============================  ===============  ==============================================
``n_genes``                    G                genes simulated (random subset of the prior)
``n_control_cells``            n0 (N0)          control cells
``n_cells_per_perturbation``   nk (Nk)          truth cells per perturbation
``n_perturbations``            k (P)            perturbations
``deg_fraction``               p_effect         P(gene affected) per perturbation
``effect_size``                effect_factor    fold change f of an affected gene (x f or / f)
``control_bias``               beta (B)         scales the control-vs-perturbed shift
``library_size_log_mean``      mu_l             log-mean of the per-cell size factor
``library_size_log_sd``        sigma_l          log-sd of the per-cell size factor
``n_replicate_cells``          -                cells of the technical replicate (0 = none)
=============================  ===============  ==============================================
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from simulator.errors import ValidationError, check

DEG_MODES = ("paper", "bh")
WEIGHT_MODES = ("paper", "welch_true_n")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of one simulated trial (SPEC §3), validated on construction.

    Defaults give a trial that simulates in about a second and still shows the
    control-bias artefact.

    Attributes
    ----------
    n_genes : int, >= 2
        Genes simulated, drawn without replacement from the prior (G).
    n_control_cells : int, >= 2
        Control cells (n0).
    n_cells_per_perturbation : int, >= 2
        Truth cells of each perturbation (nk).
    n_perturbations : int, >= 2
        Number of perturbations (k); two are needed for "vs rest" weights.
    deg_fraction : float in [0, 1]
        Probability that a gene is affected by a given perturbation (p_effect).
    effect_size : float > 0
        Fold change f of an affected gene: its mean is multiplied or divided by f
        with probability 1/2 each (effect_factor).
    control_bias : float >= 0
        beta: the perturbed baseline is ``mu_control + beta * (mu_perturbed - mu_control)``
        (floored at 0). 0 = control is unbiased, 1 = the prior's shift, 2 = doubled.
    library_size_log_mean : float
        mu_l: the per-cell size factor is LogNormal(mu_l, sigma_l) and multiplies the
        gene means. 1.0 is the geometric centre of the paper's 0.2-5 range.
    library_size_log_sd : float >= 0
        sigma_l (paper: 0.1714).
    n_replicate_cells : int >= 0 or None
        Cells of the independent technical replicate of each perturbation; None means
        ``n_cells_per_perturbation``, 0 turns the replicate off.
    deg_mode : {"paper", "bh"}
        How `deg_mask` is called (SPEC §4): "paper" takes, per perturbation, as many
        genes as it truly affects, ranked by Welch p-value with n = nk for both groups;
        "bh" flags Benjamini-Hochberg adjusted p < `alpha` using the true cell counts.
    alpha : float in (0, 1)
        FDR level of the "bh" mode.
    weight_mode : {"paper", "welch_true_n"}
        How the per-perturbation gene `weights` of WMSE and R²_w are computed: "paper" is
        the paper's "vs rest" t statistic (scanpy's ``t-test_overestim_var``: sample
        variances, the rest's cell count set to nk); "welch_true_n" the naive Welch t with
        the rest's true cell count, kept as a documented failure mode (its weights favour
        genes that are constant within a small group).
    """

    n_genes: int = 2000
    n_control_cells: int = 500
    n_cells_per_perturbation: int = 50
    n_perturbations: int = 100
    deg_fraction: float = 0.05
    effect_size: float = 2.0
    control_bias: float = 1.0
    library_size_log_mean: float = 1.0
    library_size_log_sd: float = 0.1714
    n_replicate_cells: int | None = None
    deg_mode: str = "paper"
    alpha: float = 0.05
    weight_mode: str = "paper"

    def __post_init__(self) -> None:
        p = "sim."
        for name in ("n_genes", "n_control_cells", "n_cells_per_perturbation", "n_perturbations"):
            value = getattr(self, name)
            check(_is_int(value) and value >= 2, p + name, value, "an integer >= 2")
        for name in ("deg_fraction", "effect_size", "control_bias", "library_size_log_mean",
                     "library_size_log_sd", "alpha"):
            value = getattr(self, name)
            check(_is_real(value), p + name, value, "a finite number")
        check(0.0 <= self.deg_fraction <= 1.0, p + "deg_fraction", self.deg_fraction, "in [0, 1]")
        check(self.effect_size > 0, p + "effect_size", self.effect_size, "> 0")
        check(self.control_bias >= 0, p + "control_bias", self.control_bias, ">= 0")
        check(self.library_size_log_sd >= 0, p + "library_size_log_sd",
              self.library_size_log_sd, "in [0, 5]")
        check(0.0 < self.alpha < 1.0, p + "alpha", self.alpha, "in (0, 1)")
        check(self.deg_mode in DEG_MODES, p + "deg_mode", self.deg_mode, f"one of {DEG_MODES}")
        check(self.weight_mode in WEIGHT_MODES, p + "weight_mode", self.weight_mode,
              f"one of {WEIGHT_MODES}")
        reps = self.n_replicate_cells
        check(reps is None or (_is_int(reps) and reps >= 0), p + "n_replicate_cells", reps,
              "null or an integer >= 0")
        # exp(20) ~ 5e8 keeps size factor x gene mean far inside the Poisson sampler's range.
        check(-20 <= self.library_size_log_mean <= 20, p + "library_size_log_mean",
              self.library_size_log_mean, "in [-20, 20]")
        check(self.library_size_log_sd <= 5, p + "library_size_log_sd",
              self.library_size_log_sd, "in [0, 5]")

    @property
    def replicate_cells(self) -> int:
        """Resolved replicate size: `n_replicate_cells`, or nk when it is None."""
        if self.n_replicate_cells is None:
            return self.n_cells_per_perturbation
        return self.n_replicate_cells

    @property
    def n_cells(self) -> int:
        """Total cells simulated (control, truth and replicate)."""
        per_perturbation = self.n_cells_per_perturbation + self.replicate_cells
        return self.n_control_cells + self.n_perturbations * per_perturbation

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_mapping(cls, mapping: Any) -> SimulationParams:
        """Build from a dict or OmegaConf node; unknown keys are an error, not ignored."""
        data = dict(mapping)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(
                f"sim.{unknown[0]} is not a simulation parameter "
                f"(allowed: {', '.join(sorted(known))})"
            )
        # Hydra hands YAML floats written as ints (e.g. effect_size: 2) as int: accept them.
        for f in fields(cls):
            if f.type in ("float",) and _is_int(data.get(f.name)):
                data[f.name] = float(data[f.name])
        return cls(**data)
