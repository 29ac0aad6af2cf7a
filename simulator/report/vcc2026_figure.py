"""The ``vcc2026_scores`` figure: the challenge's normalised scores and where its scale fails.

Left, each normalised score (`simulator.report.vcc2026.SCORES`) of the collapsed
predictors (``mean``, ``mean_cells``) and of the two positive baselines, one box per
predictor over the sweep's trials, against the preset's 0 (its baseline b) and 1 (its anchor
r). Right, the share of trials whose scale is within seed noise, per bin of the parameter
along which that share varies most, one line per member and one for any member or a
refusal.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import PercentFormatter

from simulator.evaluation.vcc2026 import MEMBERS, PREFIX
from simulator.report.failures import MIN_BIN_TRIALS, Bins, n_bins_for
from simulator.report.style import OKABE_ITO, line_style, log_axis, new_figure
from simulator.report.tables import PARAMETERS, varying_parameters
from simulator.report.vcc2026 import PREDICTORS, SCORES, Vcc2026Report

__all__ = ["SHOWN", "draw_vcc2026_scores"]

SHOWN = (-2.0, 3.0)  # the score axis; scores beyond it are drawn at its edge


def _short(metric: str) -> str:
    """``vcc26_de_wilcoxon_sig_jaccard_score`` -> ``sig_jaccard``; the overall score as is."""
    name = metric[len(PREFIX):].removesuffix("_score").removeprefix("de_wilcoxon_")
    return "overall (vcc26_score)" if name == "score" else name


def _draw_scores(ax: plt.Axes, report: Vcc2026Report) -> None:
    per_trial = report.per_trial
    predictors = [p for p in PREDICTORS if p in set(per_trial["predictor"])]
    width = 0.8 / max(len(predictors), 1)
    for k, predictor in enumerate(predictors):
        rows = per_trial[per_trial["predictor"] == predictor]
        values = [np.clip(rows.loc[rows["metric"] == m, "value"].dropna().to_numpy(float),
                          *SHOWN) for m in SCORES]
        positions = np.arange(len(SCORES)) - 0.4 + width * (k + 0.5)
        drawn = [i for i, v in enumerate(values) if len(v)]
        ax.boxplot([values[i] for i in drawn], positions=positions[drawn], widths=width * 0.9,
                   orientation="horizontal", patch_artist=True, showfliers=True, manage_ticks=False,
                   boxprops={"facecolor": OKABE_ITO[k], "alpha": 0.75, "lw": 0.6},
                   medianprops={"color": "black", "lw": 1.0},
                   flierprops={"marker": ".", "ms": 3, "alpha": 0.5},
                   whiskerprops={"lw": 0.6}, capprops={"lw": 0.6})
        ax.plot([], [], "s", color=OKABE_ITO[k], alpha=0.75, label=predictor)
    for x, text in ((0.0, "b: baseline"), (1.0, "r: anchor")):
        ax.axvline(x, color="0.4", lw=0.8, ls="--")
        ax.text(x, len(SCORES) - 0.45, text, fontsize=7, ha="center", color="0.3")
    ax.set_yticks(range(len(SCORES)), [_short(m) for m in SCORES], fontsize=8)
    ax.set_ylim(len(SCORES) - 0.3, -0.6)
    ax.set_xlim(SHOWN[0] - 0.1, SHOWN[1] + 0.1)
    ax.set_xlabel(f"normalised score (u − b)/(r − b), one value per trial\n"
                  f"(drawn within [{SHOWN[0]:g}, {SHOWN[1]:g}])", fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(predictors),
              frameon=False, title="predictor", title_fontsize=8)


def _draw_stability(ax: plt.Axes, report: Vcc2026Report) -> None:
    stability = report.stability
    overall = report.scores.set_index("metric").loc[SCORES[0], "unstable_region"]
    params = varying_parameters(stability)
    if not params:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no parameter varies", ha="center", transform=ax.transAxes)
        return
    param = overall.param if overall is not None else params[0]
    spec, bins = PARAMETERS[param], Bins.of(stability, param, n_bins_for(len(stability)))
    frame = stability.assign(bin=bins.assign(stability[param].to_numpy(float)))
    columns = [("unstable", "any member, or refused"),
               *((f"unstable_{member}", member.removeprefix("de_wilcoxon_"))
                 for member in MEMBERS)]
    for k, (column, label) in enumerate(columns):
        if not stability[column].any() and column != "unstable":
            continue  # a member never unstable: no line
        shares = frame.groupby("bin")[column].agg(["mean", "size"]).reindex(range(bins.n))
        kept = shares["size"] >= MIN_BIN_TRIALS
        ax.plot(bins.positions[kept], shares.loc[kept, "mean"], ms=4, lw=1.3,
                label=f"{label} ({stability[column].mean():.0%})", **line_style(k))
    if bins.categorical:
        ax.set_xticks(bins.positions, [spec.format(v) for v in bins.values])
    elif spec.log:
        log_axis(ax, bins.lows.min(), bins.highs.max())
    ax.set_xlabel(spec.axis_label(wrap=True, scale=not bins.categorical), fontsize=9)
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("trials whose r − b is within\n2 standard errors of the anchor", fontsize=9)
    ax.legend(fontsize=7, title="member (share of all trials)", title_fontsize=7,
              loc="upper left", bbox_to_anchor=(1.02, 1.0))


def draw_vcc2026_scores(report: Vcc2026Report, fig: plt.Figure | None = None) -> plt.Figure:
    """Both panels into `fig` (a new 11 x 4.4 in figure when None); returns it."""
    fig = new_figure(fig, (11.0, 4.4))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0],
                                                  "wspace": 0.45})
    _draw_scores(left, report)
    _draw_stability(right, report)
    left.set_title("(a) the challenge's normalised scores", fontsize=10, loc="left")
    right.set_title("(b) where its scale is within seed noise", fontsize=10, loc="left")
    fig.suptitle(f"The Virtual Cell Challenge 2026 score under collapse "
                 f"({report.n_trials} trials)", fontsize=11)
    return fig
