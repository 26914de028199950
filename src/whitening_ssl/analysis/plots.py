"""Figures of the whitening-loss investigation (Weng et al., NeurIPS 2022): spectra, cosine histograms, sweeps.

Figures are built as :class:`matplotlib.figure.Figure` objects on the non-interactive Agg canvas, never
through ``pyplot``, so nothing opens a window or stays registered in a global figure list. Everything
drawn can be read back from the returned figure (what the tests do):

- :func:`plot_spectra` / :func:`plot_metric_curves`: ``fig.axes[0].lines[i].get_xydata()`` and
  ``.get_label()``, one line per representation / run, in the order given (each run's untrained
  baseline, when given, right after its curve);
- :func:`plot_cosine_histograms`: ``fig.axes[0].patches[i].get_data()`` gives ``(densities, edges,
  baseline)`` of each histogram (negatives first, then positives when given).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from torch import Tensor

#: the axes' place in the figure (fractions): fixed margins, which leave room for the labels and the title of
#: these 6 x 4 inch figures and cost nothing to lay out (a layout engine took half the time of a figure)
MARGINS = {"left": 0.12, "right": 0.97, "bottom": 0.12, "top": 0.92}


def _new_axes(figsize: tuple[float, float] = (6.0, 4.0)):
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    figure.subplots_adjust(**MARGINS)
    return figure, figure.add_subplot()


def _numpy(values: Tensor | Sequence[float]) -> np.ndarray:
    if isinstance(values, Tensor):
        return values.detach().to(device="cpu", dtype=torch.float64).numpy()
    return np.asarray(values, dtype=np.float64)


def plot_spectra(spectra: Mapping[str, Tensor], title: str = "Covariance spectrum") -> Figure:
    """Eigenvalues sorted in descending order against their index (1-based), log y axis, one curve per name.

    Typical input: ``{"backbone": ..., "embedding": ..., "whitened": ...}`` from
    :func:`~whitening_ssl.analysis.metrics.covariance_spectrum`. A flat curve means a well-conditioned
    (whitened) representation; a curve that drops by orders of magnitude shows dimensional collapse.
    Non-positive eigenvalues are kept in the line's data but not drawn (masked on the log axis).
    """
    if not spectra:
        raise ValueError("plot_spectra needs at least one spectrum: pass {name: eigenvalues}")
    figure, axes = _new_axes()
    for name, eigenvalues in spectra.items():
        descending = np.sort(_numpy(eigenvalues).ravel())[::-1]
        axes.plot(np.arange(1, descending.size + 1), descending, label=name)
    axes.set_yscale("log", nonpositive="mask")
    axes.set_xlabel("eigenvalue index (descending)")
    axes.set_ylabel("eigenvalue")
    axes.set_title(title)
    axes.legend()
    return figure


def plot_cosine_histograms(
    positive: Tensor | None, negative: Tensor, bins: int = 50, title: str = "Cosine similarity"
) -> Figure:
    """Overlaid density histograms of cosine similarities of negative and (optionally) positive pairs.

    Inputs are similarity samples, e.g. from :func:`~whitening_ssl.analysis.cosines.negative_cosine_samples`
    and :func:`~whitening_ssl.analysis.cosines.positive_cosine_samples`. Both share ``bins`` equal bins on
    ``[-1, 1]`` (values outside, from rounding, are clipped into the end bins) and are normalised to unit
    area, so sets of different sizes compare. Whitening losses push the negatives' histogram to centre on 0.
    """
    if bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    edges = np.linspace(-1.0, 1.0, bins + 1)
    figure, axes = _new_axes()
    samples = (
        {"negative pairs": negative} if positive is None else {"negative pairs": negative, "positive pairs": positive}
    )
    for label, similarities in samples.items():
        values = np.clip(_numpy(similarities).ravel(), -1.0, 1.0)
        if values.size == 0:
            raise ValueError(f"plot_cosine_histograms got no {label} samples: pass a non-empty tensor")
        densities, _ = np.histogram(values, bins=edges, density=True)
        axes.stairs(densities, edges, label=label, fill=True, alpha=0.5)
    axes.set_xlim(-1.0, 1.0)
    axes.set_xlabel("cosine similarity")
    axes.set_ylabel("density")
    axes.set_title(title)
    axes.legend()
    return figure


def plot_metric_curves(
    runs: Mapping[str, Sequence[tuple[float, float]]],
    metric: str,
    baselines: Mapping[str, float] | None = None,
    title: str | None = None,
    xlabel: str = "epoch",
) -> Figure:
    """One curve of ``metric`` against epoch per run (``{run_label: [(epoch, value), ...]}``), for a report.

    Points are drawn in increasing epoch order, each with a marker (large when a run has few points,
    so one evaluation shows as a point). ``baselines``: ``{run_label: value}`` of the untrained encoder,
    drawn at epoch 0 as a hollow square in the run's colour (its line, after the run's, is labelled
    ``"<run_label> (untrained)"``; the legend has one entry for them all). The epoch axis runs from 0
    to the last epoch. ``title``: the axes' title (default ``metric``); ``xlabel``: another x axis than
    epochs (e.g. minutes, from 0 too).
    """
    if not runs:
        raise ValueError(f"plot_metric_curves needs at least one run: pass {{run_label: [(epoch, {metric}), ...]}}")
    figure, axes = _new_axes()
    handles, last = [], 0.0
    for label, points in runs.items():
        curve = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        curve = curve[np.argsort(curve[:, 0], kind="stable")]
        (line,) = axes.plot(curve[:, 0], curve[:, 1], marker="o", markersize=6 if len(curve) <= 10 else 3, label=label)
        handles.append(line)
        last = max([last, *curve[:, 0]])
        if baselines and label in baselines:
            axes.plot(
                [0.0],
                [float(baselines[label])],
                linestyle="none",
                marker="s",
                markersize=7,
                markerfacecolor="none",
                color=line.get_color(),
                label=f"{label} (untrained)",
            )
    if baselines and any(label in baselines for label in runs):
        start = "epoch 0" if xlabel == "epoch" else "start"
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="s",
                markersize=7,
                markerfacecolor="none",
                color="0.4",
                label=f"untrained encoder ({start})",
            )
        )
    margin = max(0.5, 0.03 * last)
    axes.set_xlim(-margin, last + margin)
    axes.set_xlabel(xlabel)
    if xlabel == "epoch":
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    axes.set_ylabel(metric)
    axes.set_title(title or metric)
    axes.legend(handles=handles)
    return figure


def save_figure(figure: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Write ``figure`` as a PNG at ``path`` (parent folders created), close it, and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=dpi)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:  # a figure made by the caller through pyplot is released from its registry
        pyplot.close(figure)
    return path


def write_analysis_figures(analysis, folder: str | Path, stem: str = "", context: str = "") -> dict[str, str]:
    """The figures of an :class:`~whitening_ssl.analysis.model.Analysis` in ``folder``: ``spectra.png`` (the
    covariance eigenvalues of each representation) and ``cosine_<representation>.png`` (positives vs
    negatives), each name prefixed by ``stem``; ``context`` (the run, method and epoch) ends each title.
    Returns ``{figure: path}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = f"\n{context}" if context else ""
    written = {
        "spectra": str(
            save_figure(
                plot_spectra(analysis.spectra(), title=f"Covariance spectrum{suffix}"), folder / f"{stem}spectra.png"
            )
        )
    }
    for name, (positive, negative) in analysis.cosine_samples().items():
        figure = plot_cosine_histograms(positive, negative, title=f"Cosine similarity: {name}{suffix}")
        written[f"cosine_{name}"] = str(save_figure(figure, folder / f"{stem}cosine_{name}.png"))
    return written
