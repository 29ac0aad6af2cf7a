"""What a calibration says about a metric: the verdicts and their rules, declared once.

A trial's verdict (`trial_verdict`) comes from its median drf, the share of perturbations
preferring collapse and the ladder tau; a sweep's (`sweep_verdict`) from the per-trial
verdicts and medians over trials. `TRIAL_RULES` and `SWEEP_RULES` state the rules in words
for the README, summary.md and the apps, from the same thresholds.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd

__all__ = [
    "CALIBRATED_MIN_DRF",
    "CALIBRATED_MIN_TAU",
    "SWEEP_RULES",
    "TRIAL_RULES",
    "Verdict",
    "format_verdicts",
    "ladder_holds",
    "share_text",
    "sweep_verdict",
    "trial_verdict",
]

REWARDS_COLLAPSE_SHARE = 0.5  # per trial: collapse preferred in more than this share
CALIBRATED_MAX_COLLAPSE_SHARE = 0.25
CALIBRATED_MIN_DRF = 0.5
CALIBRATED_MIN_TAU = 0.6  # with 5 ladder steps: at most two discordant pairs of 10
SWEEP_MAJORITY = 0.5  # per sweep: "rewards collapse" in more than this share of trials
SWEEP_PARTIAL_SHARE = 0.2  # ... and from this share on, "fails in part of the space"


SHARE_THRESHOLDS = (REWARDS_COLLAPSE_SHARE, CALIBRATED_MAX_COLLAPSE_SHARE, SWEEP_MAJORITY,
                    SWEEP_PARTIAL_SHARE)


def share_text(share: float) -> str:
    """A share as a whole percentage, or with one decimal next to a verdict threshold.

    One decimal where rounding would put it on the other side of a threshold (19.7% is not
    "20%" next to a "from 20%" rule); "n/a" for NaN.
    """
    if np.isnan(share):
        return "n/a"
    rounded = round(share * 100) / 100
    crosses = any((share < t) != (rounded < t) or (share > t) != (rounded > t)
                  for t in SHARE_THRESHOLDS)
    return f"{share:.1%}" if crosses else f"{share:.0%}"


class Verdict(StrEnum):
    """Verdicts, in the order lists of metrics are printed.

    A member is its text (a `str`); `TRIAL_RULES` and `SWEEP_RULES` state when each holds.

    Attributes
    ----------
    REWARDS, PARTIAL, BLIND, CANNOT_SCORE, CALIBRATED, UNDEFINED : Verdict
        ``"rewards collapse"``, ``"fails in part of the space"`` (sweeps only), ``"blind
        to collapse"``, ``"cannot score collapse"``, ``"calibrated"``, ``"undefined"``.

    Examples
    --------
    >>> Verdict("rewards collapse") is Verdict.REWARDS, str(Verdict.CALIBRATED)
    (True, 'calibrated')
    """

    REWARDS = "rewards collapse"
    PARTIAL = "fails in part of the space"  # sweeps only
    BLIND = "blind to collapse"
    CANNOT_SCORE = "cannot score collapse"
    CALIBRATED = "calibrated"
    UNDEFINED = "undefined"


def ladder_holds(tau: float) -> bool:
    """The ladder condition: tau >= CALIBRATED_MIN_TAU (collapse scores worse step by step).

    Not required when no blend was scored (tau NaN). Verdicts, summary.md and the
    collapse-ladder figure all apply this one rule.
    """
    return bool(np.isnan(tau) or tau >= CALIBRATED_MIN_TAU)


def trial_verdict(drf: float, collapse_share: float, tau: float) -> Verdict:
    """One trial's verdict from median drf, collapse share and ladder tau (`TRIAL_RULES`)."""
    if np.isnan(collapse_share):
        return Verdict.UNDEFINED if np.isnan(drf) else Verdict.CANNOT_SCORE
    if collapse_share > REWARDS_COLLAPSE_SHARE:
        return Verdict.REWARDS
    if (collapse_share <= CALIBRATED_MAX_COLLAPSE_SHARE and drf >= CALIBRATED_MIN_DRF
            and ladder_holds(tau)):
        return Verdict.CALIBRATED
    return Verdict.BLIND


def sweep_verdict(share_rewarding: float, share_unscored: float, median_drf: float,
                  median_tau: float) -> Verdict:
    """A sweep's verdict for one metric (`SWEEP_RULES`); shares are over its trials."""
    if np.isnan(share_rewarding):
        return Verdict.UNDEFINED if np.isnan(median_drf) else Verdict.CANNOT_SCORE
    if share_unscored > SWEEP_MAJORITY:
        return Verdict.CANNOT_SCORE
    if share_rewarding > SWEEP_MAJORITY:
        return Verdict.REWARDS
    if share_rewarding >= SWEEP_PARTIAL_SHARE:
        return Verdict.PARTIAL
    if median_drf >= CALIBRATED_MIN_DRF and ladder_holds(median_tau):
        return Verdict.CALIBRATED
    return Verdict.BLIND


TRIAL_RULES = (
    f"Per-trial verdicts, first rule that holds: *cannot score collapse* (the mean baseline "
    f"has no defined score), *rewards collapse* (collapse preferred in more than "
    f"{REWARDS_COLLAPSE_SHARE:.0%} of the perturbations), *calibrated* (collapse preferred in "
    f"at most {CALIBRATED_MAX_COLLAPSE_SHARE:.0%}, median drf ≥ {CALIBRATED_MIN_DRF} and "
    f"ladder tau ≥ {CALIBRATED_MIN_TAU}; the tau condition is dropped when no blend was "
    f"scored), else *blind to collapse*.")

SWEEP_RULES = (
    f"*rewards collapse* when the per-trial verdict is \"rewards collapse\" in more than "
    f"{SWEEP_MAJORITY:.0%} of trials; *fails in part of the space* from "
    f"{SWEEP_PARTIAL_SHARE:.0%}; otherwise *calibrated* when median drf >= "
    f"{CALIBRATED_MIN_DRF} and median ladder tau >= {CALIBRATED_MIN_TAU}, else *blind to "
    f"collapse*; *cannot score collapse* when the mean baseline is undefined in most trials.")


def _number(value: float, spec: str, width: int) -> str:
    return f"{value:{width}{spec}}" if np.isfinite(value) else f"{'n/a':>{width}}"


def format_verdicts(trial_calibration: pd.DataFrame) -> str:
    """A compact aligned table of a trial's verdicts, one line per metric.

    A line holds the mean's and replicate's median scores, drf, share of perturbations
    preferring collapse, ladder tau and verdict; then a line per verdict names its metrics.

    Parameters
    ----------
    trial_calibration : pandas.DataFrame
        `Calibration.verdicts` of one trial.

    Returns
    -------
    str
        The table, lines joined by newlines, for printing.

    Examples
    --------
    >>> from simulator import SimulationParams, simulate, evaluate
    >>> from simulator.evaluation import calibrate
    >>> data = simulate(SimulationParams(n_genes=50, n_perturbations=6), seed=0)
    >>> text = format_verdicts(calibrate(evaluate(data, metrics=["mse", "mae"])).verdicts)
    >>> print(text.splitlines()[-1])
    rewards collapse (2 of 2): mse, mae
    """
    if trial_calibration.empty:
        return "no calibration: the mean and replicate predictors are needed (replicate off?)"
    width = max(len("metric"), *(len(str(m)) for m in trial_calibration["metric"]))
    lines = [f"{'metric':<{width}}  {'mean':>8}  {'replicate':>9}  {'drf':>6}  "
             f"{'collapse':>8}  {'tau':>5}  verdict",
             f"{'':<{width}}  {'baseline':>8}  {'':>9}  {'':>6}  {'pref.':>8}"]
    for r in trial_calibration.itertuples():
        lines.append(f"{r.metric:<{width}}  {_number(r.mean_score, '.3f', 8)}  "
                     f"{_number(r.replicate_score, '.3f', 9)}  {_number(r.drf, '.2f', 6)}  "
                     f"{share_text(r.collapse_preferred):>8}  "
                     f"{_number(r.ladder_tau, '.2f', 5)}  {r.verdict}")
    lines.append("")
    groups = trial_calibration.groupby("verdict", sort=False)["metric"]
    for name in Verdict:
        if name in groups.groups:
            members = groups.get_group(name).tolist()
            lines.append(f"{name} ({len(members)} of {len(trial_calibration)}): "
                         f"{', '.join(members)}")
    return "\n".join(lines)
