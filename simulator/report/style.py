"""The house style of every figure: colours, markers, axes helpers, layout and saving.

matplotlib and seaborn, colour-blind-safe (Okabe & Ito). The library never picks a
matplotlib backend; the apps use Agg.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from cycler import cycler
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator
from PIL import Image

__all__ = [
    "DIVERGING",
    "MAX_POINTS",
    "OKABE_ITO",
    "POINT_COLOUR",
    "TREND_COLOUR",
    "Layout",
    "house_rc",
    "house_style",
    "line_style",
    "log_axis",
    "new_axes",
    "new_figure",
    "p_text",
    "plain_format",
    "point_alpha",
    "r_text",
    "sample_note",
    "save",
    "style",
]

# Okabe & Ito (2008), safe for every common colour-vision deficiency; grey replaces the
# yellow, which is too faint for lines on white.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
             "#999999")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", ":", "-.")
DIVERGING = "RdBu"  # ColorBrewer, colour-blind safe; red = collapse wins, blue = calibrated
MAX_POINTS = 1500  # scatter at most this many trials in a single panel
TREND_COLOUR, POINT_COLOUR = OKABE_ITO[1], OKABE_ITO[0]


def plain_format() -> FuncFormatter:
    """Tick labels as written by hand: 0.05, not 0.050; 1000, not 10^3."""
    return FuncFormatter(lambda value, _: f"{value:g}")


# what the house style sets beyond seaborn's "paper" context and "ticks" style
HOUSE_RC = {"axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": 200,
            "pdf.fonttype": 42, "legend.frameon": False,
            # a fixed title height: no axes has top ticks to dodge, and placing titles
            # automatically measures every tick label (half the draw time)
            "axes.titley": 1.0}


def house_rc() -> dict[str, Any]:
    """The house style as matplotlib settings.

    Seaborn's "paper" context (font scale 1.1) and "ticks" style, the Okabe-Ito colour
    cycle, no top or right spine, 200 dpi PNGs and TrueType (editable) text in PDFs:
    what ``sns.set_theme`` would set, without setting it.

    Returns
    -------
    dict
        rcParams names and values, for `matplotlib.pyplot.rc_context`.

    Examples
    --------
    >>> house_rc()["savefig.dpi"]
    200
    """
    return {**sns.axes_style("ticks"), **sns.plotting_context("paper", font_scale=1.1),
            "axes.prop_cycle": cycler(color=sns.color_palette(list(OKABE_ITO))), **HOUSE_RC}


@contextmanager
def house_style() -> Iterator[None]:
    """Draw in the house style (`house_rc`) inside the block, matplotlib's settings unchanged after.

    Every figure of the library is drawn and saved inside it. matplotlib places and sizes
    tick labels when it renders a figure, and saves at ``savefig.dpi``: a figure drawn
    inside the block but saved outside it takes the caller's settings for those.

    Yields
    ------
    None
        The block runs with the house style; rcParams are restored when it ends.

    Examples
    --------
    >>> import matplotlib as mpl
    >>> with house_style():
    ...     mpl.rcParams["savefig.dpi"]
    200.0
    >>> mpl.rcParams["savefig.dpi"] == 200
    False
    """
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # font subsetting chatter
    with plt.rc_context(house_rc()):
        yield


def style() -> None:
    """Set the house style (`house_rc`) globally, for scripts that draw outside `house_style`.

    The library never calls it: its figures are drawn inside `house_style`.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> with plt.rc_context():  # restores matplotlib's settings afterwards
    ...     style()
    ...     plt.rcParams["pdf.fonttype"]
    42
    """
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    plt.rcParams.update(house_rc())


def new_axes(ax: plt.Axes | None, figsize: tuple[float, float]) -> plt.Axes:
    """`ax`, or the single Axes of a new figure of `figsize` (inches) when None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def new_figure(fig: plt.Figure | None, figsize: tuple[float, float]) -> plt.Figure:
    """`fig`, or a new figure of `figsize` (inches) when None."""
    return plt.figure(figsize=figsize) if fig is None else fig


def save(fig: plt.Figure, out_dir: Path, name: str, tight: bool = True,
         dpi: float | None = None, formats: tuple[str, ...] = ("png", "pdf")) -> Path:
    """Write `name`.png and `name`.pdf (those of `formats`).

    `tight=False` for figures laid out by hand (a tight bounding box costs an extra draw of every
    panel). The PNG is reduced to a 256-colour palette: scatters of thousands of anti-aliased points
    compress 4x smaller, unchanged to the eye.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.png"
    bbox = "tight" if tight else None
    if "png" in formats:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches=bbox, pad_inches=0.05, dpi=dpi,
                    pil_kwargs={"compress_level": 1})  # decoded again at once: compress little
        Image.open(buffer).convert("RGB").quantize(
            256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
            path, compress_level=9)
    if "pdf" in formats:
        fig.savefig(out_dir / f"{name}.pdf", bbox_inches=bbox, pad_inches=0.05, dpi=150)
    plt.close(fig)
    return path


def line_style(k: int) -> dict:
    """The k-th distinct colour + marker + linestyle.

    Colours repeat only with another linestyle and marker, so no two lines of a figure look alike.
    """
    return {"color": OKABE_ITO[k % 8], "marker": MARKERS[(k + k // 8) % 8],
            "ls": LINESTYLES[(k // 8) % 4]}


def r_text(r: float) -> str:
    """R to two decimals, or n/a where it is undefined (constant values, < 3 trials)."""
    return "n/a" if np.isnan(r) else f"{r:.2f}"


def p_text(p: float) -> str:
    """'p = 1.6e-15', or 'p < 1e-300' where the p-value underflows to 0."""
    if np.isnan(p):
        return "p = n/a"
    return "p < 1e-300" if p == 0 else "p = " + f"{p:.1e}".replace("e-0", "e-")


def log_axis(ax, low: float, high: float, small: bool = False) -> None:
    """Log x axis with plain labels.

    Decades beyond two decades, 1-2-5 within, denser below one decade unless the panel is `small`
    (matplotlib would fall back to crowded linear ticks). Small panels also drop the unlabelled
    minor ticks, which cost most of a grid's draw time.
    """
    ax.set_xscale("log")
    ratio = high / max(low, 1e-300)
    subs = ((1.0,) if ratio > 100 else (1.0, 2.0, 5.0) if ratio > 10 or small
            else (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(plain_format())
    ax.xaxis.set_minor_formatter(NullFormatter())
    if small:
        ax.xaxis.set_minor_locator(NullLocator())


def sample_note(n: int, max_points: int = MAX_POINTS) -> str:
    """Caption note when a scatter shows a sample of the trials."""
    return f" ({max_points} drawn at random)" if n > max_points else ""


def point_alpha(n: int) -> float:
    """Transparency that keeps 10 or 10,000 points legible."""
    return float(np.clip(300 / max(n, 1), 0.08, 0.8))


@dataclass(frozen=True)
class Layout:
    """A panel grid in inches.

    Panel size, spacing and margins. Laid out by hand, the figure needs neither tight_layout nor a
    tight bounding box: each costs a full extra pass over every panel's ticks, a third of the build
    time of the 30-panel figures.
    """

    panel: tuple[float, float]
    space: tuple[float, float] = (0.3, 0.6)  # between panels: width, height
    margins: tuple[float, float, float, float] = (0.9, 0.2, 0.7, 0.75)  # left right top bottom

    def figure(self, n: int, n_cols: int, fig: plt.Figure | None = None,
               **kwargs) -> tuple[plt.Figure, np.ndarray]:
        """Lay out n panels in rows of n_cols; spare cells switched off.

        Parameters
        ----------
        n, n_cols : int
            Panels, and panels per row.
        fig : Figure, optional
            The figure to draw into (its panels placed in the proportions of the house
            size); a new figure of the house size when None.
        **kwargs
            Passed to `matplotlib.figure.Figure.subplots` (e.g. ``sharey=True``).

        Returns
        -------
        fig : Figure
        axes : (n_rows, n_cols) ndarray of Axes
        """
        n_rows = int(np.ceil(n / n_cols))
        (w, h), (ws, hs), (left, right, top, bottom) = self.panel, self.space, self.margins
        fig_w = left + right + n_cols * w + (n_cols - 1) * ws
        fig_h = top + bottom + n_rows * h + (n_rows - 1) * hs
        fig = new_figure(fig, (fig_w, fig_h))
        axes = fig.subplots(n_rows, n_cols, squeeze=False,
                            gridspec_kw=dict(left=left / fig_w, right=1 - right / fig_w,
                                             top=1 - top / fig_h, bottom=bottom / fig_h,
                                             wspace=ws / w, hspace=hs / h), **kwargs)
        for ax in axes.flat[n:]:
            ax.set_axis_off()
        return fig, axes

    @staticmethod
    def title(fig: plt.Figure, text: str, size: float = 10) -> None:
        """The figure title, its top a fixed 0.08 inch below the figure's edge."""
        fig.suptitle(text, fontsize=size, y=1 - 0.08 / fig.get_figheight(), va="top")
