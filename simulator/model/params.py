"""`SimulationParams`: every knob of the generative model, declared once.

Each field carries a `Knob` in its metadata: meaning, paper symbol, unit, bounds, axis
scale and the paper's sweep range. Validation messages, the Hydra schema, figure axis
labels and filters, the README parameter table and ``--help`` all derive from it, so a new
parameter is one field here plus the code that uses it.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from simulator.errors import ValidationError, check, check_choice, check_number, is_integer

__all__ = [
    "KNOBS",
    "NUMERIC",
    "DegMode",
    "Knob",
    "SimulationParams",
    "WeightMode",
    "from_mapping",
    "knob",
    "markdown_table",
]


class DegMode(StrEnum):
    """How a trial calls its differentially expressed genes (`SimulationParams.deg_mode`).

    Attributes
    ----------
    PAPER : str
        ``"paper"``: the ``|affected|`` smallest Welch p-values, n = nk for both groups.
    BH : str
        ``"bh"``: Benjamini-Hochberg adjusted p < `SimulationParams.alpha`, true cell counts.

    Examples
    --------
    >>> DegMode("bh") is DegMode.BH, DegMode.PAPER == "paper"
    (True, True)
    """

    PAPER = "paper"  # the |affected| smallest Welch p-values, n = nk for both groups
    BH = "bh"  # Benjamini-Hochberg adjusted p < alpha, true cell counts


class WeightMode(StrEnum):
    """How a trial weights genes (`SimulationParams.weight_mode`).

    Attributes
    ----------
    PAPER : str
        ``"paper"``: scanpy's ``t-test_overestim_var`` of each perturbation against the rest.
    WELCH_TRUE_N : str
        ``"welch_true_n"``: Welch's t with the rest's true cell count.

    Examples
    --------
    >>> [str(mode) for mode in WeightMode]
    ['paper', 'welch_true_n']
    """

    PAPER = "paper"  # scanpy's t-test_overestim_var against the rest
    WELCH_TRUE_N = "welch_true_n"  # Welch's t with the rest's true cell count


@dataclass(frozen=True)
class Knob:
    """How one simulation parameter is explained, validated and drawn.

    Attributes
    ----------
    meaning : str
        One line for the parameter table and ``--help``.
    paper_symbol : str
        As the paper writes it, e.g. ``n0 (N0)``; "—" for none.
    label, symbol, math : str
        Figure and summary names: ``control cells``, ``n₀``, ``$n_0$``.
    unit : str
        Axis unit.
    log : bool
        Drawn on a log axis, trends against log10.
    kind : str
        "int", "float" or "choice".
    low, high : float or None
        Bounds; None for none.
    low_open, high_open : bool
        Whether a bound is open (excluded).
    choices : tuple of str
        Allowed values of a "choice" knob.
    nullable : bool
        None is allowed (and means what `meaning` says).
    paper_sweep : str
        The paper's sweep range, for the parameter table.

    Examples
    --------
    >>> effect_size = KNOBS["effect_size"]
    >>> effect_size.text, effect_size.unit, effect_size.low_open
    ('effect size f', 'fold change', True)
    >>> effect_size.validate("effect_size", 0.0)
    Traceback (most recent call last):
    ...
    simulator.errors.ValidationError: effect_size must be > 0 (got 0.0)
    """

    meaning: str
    label: str
    symbol: str
    math: str
    unit: str
    kind: str = "float"
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    nullable: bool = False
    log: bool = False
    paper_symbol: str = "—"
    paper_sweep: str = "—"

    @property
    def integer(self) -> bool:
        """Whether the parameter takes whole numbers only (``kind == "int"``)."""
        return self.kind == "int"

    @property
    def text(self) -> str:
        """Plain-text name with the symbol, for summary.md: ``control cells n₀``."""
        return f"{self.label} {self.symbol}"

    def validate(self, key: str, value: Any) -> None:
        """Raise `ValidationError` naming `key` unless `value` is allowed."""
        if value is None and self.nullable:
            return
        if self.kind == "choice":
            check_choice(value, key, self.choices)
        elif self.nullable:
            check(is_integer(value) and value >= self.low, key, value,
                  f"null or an integer >= {self.low:g}")
        else:
            check_number(value, key, low=self.low, high=self.high, low_open=self.low_open,
                         high_open=self.high_open, integer=self.integer)


def knob(default: Any, **declaration: Any) -> Field:
    """A dataclass field with its `Knob`."""
    return field(default=default, metadata={"knob": Knob(**declaration)})


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of one simulated trial, validated on construction.

    Defaults give a trial that simulates in about a second and still shows the
    control-bias artefact. `KNOBS` declares each field (meaning, unit, bounds, paper
    symbol); a value outside its bounds raises `ValidationError` naming the field.

    Parameters
    ----------
    n_genes : int >= 2
        Genes G simulated: a random subset, without replacement, of the prior's genes.
    n_control_cells : int >= 2
        Control cells n0.
    n_cells_per_perturbation : int >= 2
        Truth cells nk of each perturbation.
    n_perturbations : int >= 2
        Perturbations K.
    deg_fraction : float in [0, 1]
        Probability that a gene is affected by a perturbation.
    effect_size : float > 0
        Fold change f of an affected gene: x f or / f, each with probability 1/2.
    control_bias : float >= 0
        Scales the control-vs-perturbed shift of the prior: 0 = an unbiased control,
        1 = the prior's shift.
    library_size_log_mean, library_size_log_sd : float
        Log-mean and log-sd of the per-cell size factor (log-normal).
    n_replicate_cells : int >= 0 or None
        Cells of the independent technical replicate per perturbation; None = nk, 0 = off.
    deg_mode : {"paper", "bh"}
        DEG calling (`DegMode`).
    alpha : float in (0, 1)
        FDR level of ``deg_mode="bh"``.
    weight_mode : {"paper", "welch_true_n"}
        Gene weights (`WeightMode`).

    Examples
    --------
    >>> params = SimulationParams(n_genes=50, n_control_cells=20,
    ...                           n_cells_per_perturbation=10, n_perturbations=3)
    >>> params.replicate_cells, params.n_cells
    (10, 80)
    >>> SimulationParams(n_genes=1)
    Traceback (most recent call last):
    ...
    simulator.errors.ValidationError: n_genes must be an integer >= 2 (got 1)
    """

    n_genes: int = knob(
        2000, meaning="genes simulated: a random subset, without replacement, of the prior's "
        "genes", label="genes", symbol="G", math=r"$G$", unit="count", kind="int", low=2,
        paper_symbol="G", paper_sweep="1000–8192, uniform integer")
    n_control_cells: int = knob(
        500, meaning="control cells", label="control cells", symbol="n₀", math=r"$n_0$",
        unit="cells", kind="int", low=2, log=True, paper_symbol="n0 (N0)",
        paper_sweep="10–8192, log-uniform integer")
    n_cells_per_perturbation: int = knob(
        50, meaning="truth cells per perturbation", label="cells per perturbation",
        symbol="n_k", math=r"$n_k$", unit="cells", kind="int", low=2, log=True,
        paper_symbol="nk (Nk)", paper_sweep="10–256, log-uniform integer")
    n_perturbations: int = knob(
        100, meaning="perturbations (two are needed for the vs-rest weights)",
        label="perturbations", symbol="k", math=r"$k$", unit="count", kind="int", low=2,
        log=True, paper_symbol="k (P)", paper_sweep="10–2000, log-uniform integer")
    deg_fraction: float = knob(
        0.05, meaning="probability that a gene is affected by a perturbation",
        label="DEG fraction", symbol="p_effect", math=r"$p_\mathrm{effect}$", unit="per gene",
        low=0.0, high=1.0, paper_symbol="p_effect", paper_sweep="0.001–0.1")
    effect_size: float = knob(
        2.0, meaning="fold change f of an affected gene: ×f or ÷f, each with probability ½",
        label="effect size", symbol="f", math=r"$f$", unit="fold change", low=0.0,
        low_open=True, paper_symbol="effect_factor", paper_sweep="1.2–5.0")
    control_bias: float = knob(
        1.0, meaning="scales the control-vs-perturbed shift (below): 0 = an unbiased control, "
        "1 = the prior's shift, 2 = twice it",
        label="control bias", symbol="β", math=r"$\beta$", unit="× prior shift", low=0.0,
        paper_symbol="β (B)", paper_sweep="0–2")
    library_size_log_mean: float = knob(
        1.0, meaning="log-mean of the per-cell size factor (log-normal)", label="library size "
        "log-mean", symbol="μ_l", math=r"$\mu_l$", unit="log size factor", low=-20.0,
        high=20.0, log=True, paper_symbol="μ_l", paper_sweep="0.2–5.0, log-uniform")
    library_size_log_sd: float = knob(
        0.1714, meaning="log-sd of the per-cell size factor", label="library size log-sd",
        symbol="σ_l", math=r"$\sigma_l$", unit="log size factor", low=0.0, high=5.0,
        paper_symbol="σ_l", paper_sweep="fixed")
    n_replicate_cells: int | None = knob(
        None, meaning="cells of the independent technical replicate per perturbation; "
        "`null` = nk, 0 = off", label="replicate cells", symbol="n_rep",
        math=r"$n_\mathrm{rep}$", unit="cells", kind="int", low=0, nullable=True)
    deg_mode: str = knob(
        "paper", meaning="`paper` or `bh` DEG calling (below)", label="DEG calling",
        symbol="", math="", unit="", kind="choice", choices=tuple(DegMode))
    alpha: float = knob(
        0.05, meaning="FDR level of `deg_mode=bh`", label="FDR level", symbol="α",
        math=r"$\alpha$", unit="deg_mode=bh only", low=0.0, high=1.0, low_open=True,
        high_open=True)
    weight_mode: str = knob(
        "paper", meaning="`paper` or `welch_true_n` gene weights (below)",
        label="gene weights", symbol="", math="", unit="", kind="choice",
        choices=tuple(WeightMode))

    def __post_init__(self) -> None:
        for f in fields(self):
            KNOBS[f.name].validate(f.name, getattr(self, f.name))

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
        """Every field by name (a plain dict, e.g. for a results table)."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, mapping: Any) -> SimulationParams:
        """Build from a dict or OmegaConf node; unknown keys are an error, not ignored."""
        return from_mapping(cls, KNOBS, mapping, "simulation parameter")


def from_mapping(cls: type, knobs: dict[str, Knob], mapping: Any, what: str,
                 allowed: Any = None) -> Any:
    """``cls(**mapping)`` for a parameter class declared with `knobs`.

    A key outside `allowed` (default: the knobs) is an error naming it, not ignored; Hydra
    hands YAML floats written as ints (e.g. effect_size: 2) as int, so float knobs accept them.
    """
    data = dict(mapping)
    allowed = set(knobs if allowed is None else allowed)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(f"{unknown[0]} is not a {what} "
                              f"(allowed: {', '.join(sorted(allowed))})", unknown[0])
    for name, value in data.items():
        if name in knobs and knobs[name].kind == "float" and is_integer(value):
            data[name] = float(value)
    return cls(**data)


KNOBS: dict[str, Knob] = {f.name: f.metadata["knob"] for f in fields(SimulationParams)}
"""The `Knob` of each `SimulationParams` field, by field name, in declaration order."""
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(SimulationParams)
                            if f.default is not MISSING}
# Parameters a sweep can vary along a numeric axis (figures, filters, trends).
NUMERIC = tuple(name for name, k in KNOBS.items() if k.kind != "choice")


def _default_text(value: Any) -> str:
    return "null" if value is None else str(value)


def markdown_table() -> str:
    """The README's parameter table, one row per knob, from the declarations above."""
    lines = ["| name (`sim.<name>`) | paper symbol | meaning | default | paper sweep |",
             "|---|---|---|---|---|"]
    lines += [f"| `{name}` | {k.paper_symbol} | {k.meaning} | {_default_text(DEFAULTS[name])} | "
              f"{k.paper_sweep} |" for name, k in KNOBS.items()]
    return "\n".join(lines)
