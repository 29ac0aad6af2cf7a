"""The real-data stress test's design: which factors vary, at which levels, how often.

The paper's real-data simulations vary one factor of a real screen at a time, by
subsampling and re-mixing its cells, everything else at a *base* regime (all control cells,
each perturbation's cells split into a truth and a replicate half, `n_perturbations`
perturbations drawn per repeat, all genes):

==================  ==========================================================  ===========
factor              a level                                                     parameter
==================  ==========================================================  ===========
``n_p``             truth cells per perturbation (the replicate gets as many)   n_k
``n0``              control cells                                               n₀
``k``               perturbations                                               k
``degs``            a bin of perturbations by their number of DEGs              p_effect
``effect``          a bin of perturbations by mean |Δ| of their DEGs            effect
``control_bias``    β: the control mean moved to a + β·(c − a) (a: the pooled   β
                    perturbed mean; 1 is the data, 0 no bias, 2 twice it)
``n_genes``         genes kept (normalised over them, as the simulator does)    G
``library_size``    cells restricted to a quantile bin of their depth           μ_l
==================  ==========================================================  ===========

Each (factor, level) is drawn `repeats` times with its own seeded subsample, and each
draw is a *view*: a dataset built from the screen's summaries and scored like a trial.
Every repeat also scores the base regime itself (factor ``base``). β = 0 makes the control
the pooled perturbed mean, where a delta against the control of the mean baseline is
zero and its correlations undefined: the default levels start at 0.25.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from simulator.errors import check, check_number, is_integer, is_number

__all__ = ["BASE", "BINNED", "LABEL_OF", "PARAMETER_OF", "Design", "Factors"]

BASE = "base"  # the views of the base regime itself, one per repeat (level 1)
# factor -> the simulation parameter it stands for (the `varied` column of the results)
PARAMETER_OF = {BASE: "", "n_p": "n_cells_per_perturbation", "n0": "n_control_cells",
                "k": "n_perturbations", "degs": "deg_fraction", "effect": "effect_size",
                "control_bias": "control_bias", "n_genes": "n_genes",
                "library_size": "library_size_log_mean"}
BINNED = ("degs", "effect", "library_size")  # levels are quantile bins, numbered from 1
LABEL_OF = {BASE: "the screen's own regime", "n_p": "truth cells per perturbation",
            "n0": "control cells",
            "k": "perturbations", "degs": "DEG-count bin", "effect": "effect-size bin",
            "control_bias": "control bias β", "n_genes": "genes",
            "library_size": "cell-depth bin"}


@dataclass(frozen=True)
class Factors:
    """The levels of each factor; an empty list (a bin count of 0) turns it off.

    Parameters
    ----------
    n_p : tuple of int >= 1
        Truth cells per perturbation (the replicate gets as many).
    n0 : tuple of int >= 2
        Control cells.
    k : tuple of int >= 2
        Perturbations.
    degs, effect : int, 0 or 2..20
        Quantile bins of the perturbations by their number of DEGs, by the mean
        ``|delta|`` of their DEGs.
    control_bias : tuple of float >= 0
        Values of β: the control mean moved to ``a + β (c - a)``.
    n_genes : tuple of int >= 2
        Genes kept.
    library_size : int, 0 or 2..20
        Quantile bins of the cells by their depth (total counts).

    Examples
    --------
    >>> factors = Factors(n_p=[10, 5], n0=[10], k=[], degs=0, effect=3, control_bias=[1.0],
    ...                   n_genes=[], library_size=0)
    >>> factors.n_p, factors.active, factors.levels("effect")
    ((5, 10), ['n_p', 'n0', 'effect', 'control_bias'], (1, 2, 3))
    """

    n_p: tuple[int, ...] = (5, 10, 20, 50)
    n0: tuple[int, ...] = (10, 30, 100, 300, 1000)
    k: tuple[int, ...] = (10, 30, 100, 300)
    degs: int = 3
    effect: int = 3
    control_bias: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0)
    n_genes: tuple[int, ...] = (250, 500, 1000, 2000)
    library_size: int = 4

    def __post_init__(self) -> None:
        for name, low in (("n_p", 1), ("n0", 2), ("k", 2), ("n_genes", 2)):
            levels = getattr(self, name)
            check(isinstance(levels, list | tuple) and all(
                is_integer(v) and v >= low for v in levels) and len(set(levels)) == len(levels),
                f"factors.{name}", levels, f"a list of distinct integers >= {low} (empty: off)")
            object.__setattr__(self, name, tuple(sorted(int(v) for v in levels)))
        levels = self.control_bias
        check(isinstance(levels, list | tuple) and all(is_number(v) and v >= 0 for v in levels)
              and len(set(levels)) == len(levels), "factors.control_bias", levels,
              "a list of distinct finite numbers >= 0 (empty: off)")
        object.__setattr__(self, "control_bias", tuple(sorted(float(v) for v in levels)))
        for name in BINNED:
            value = getattr(self, name)
            check(is_integer(value) and (value == 0 or 2 <= value <= 20), f"factors.{name}",
                  value, "a number of bins from 2 to 20, or 0 (off)")

    def levels(self, factor: str) -> tuple[float, ...]:
        """The levels of `factor`: its values, or bin numbers 1..B for a binned factor."""
        value = getattr(self, factor)
        return tuple(range(1, value + 1)) if factor in BINNED else value

    @property
    def active(self) -> list[str]:
        """The factors with at least one level, in declaration order."""
        return [f.name for f in fields(self) if self.levels(f.name)]


@dataclass(frozen=True)
class Design:
    """The whole real-data stress test: factors, repeats, the base regime and the DEG calls.

    Parameters
    ----------
    factors : Factors
        The levels of each factor.
    repeats : int
        Seeded subsamples per level (>= 1).
    n_perturbations : int or None
        Perturbations of every view but the `k` and bin factors' (drawn per repeat; None or
        more than the screen has: all).
    seed : int
        Seeds every split and subsample (`simulator.streams`).
    alpha : float
        FDR level of the DEG calls (Welch t vs control, Benjamini-Hochberg).

    Examples
    --------
    >>> Design(repeats=2, n_perturbations=None).factors.levels("n0")
    (10, 30, 100, 300, 1000)
    >>> Design(repeats=0)
    Traceback (most recent call last):
    ...
    simulator.errors.ValidationError: repeats must be an integer in [1, 100] (got 0)
    """

    factors: Factors = Factors()
    repeats: int = 3
    n_perturbations: int | None = 100
    seed: int = 0
    alpha: float = 0.05

    def __post_init__(self) -> None:
        check_number(self.repeats, "repeats", low=1, high=100, integer=True)
        if self.n_perturbations is not None:
            check_number(self.n_perturbations, "n_perturbations", low=2, integer=True)
        check(is_integer(self.seed) and self.seed >= 0, "seed", self.seed, "an integer >= 0")
        check_number(self.alpha, "alpha", low=0, high=1, low_open=True, high_open=True)
