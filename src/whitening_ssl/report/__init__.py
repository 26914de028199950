"""Reproduction table: our results next to the paper's numbers, and the figures of runs.

Usage::

    python -m whitening_ssl.report PATH [PATH ...] [--plots] [--output FILE]

Every ``results.json`` under each PATH (a run directory, a Hydra sweep directory, or the file
itself) is read (:mod:`.collect`). The results of one model are its pretraining run's and those of
the ``stage=linear`` / ``stage=knn`` runs of its checkpoint: they make one row, with the online
figure, the untrained baseline and the stage's figure side by side (:mod:`.rows`). Models are merged
into one row when they share (method, dataset) and every setting that differs between the models of
that (method, dataset) (:mod:`.settings`): only seeds are averaged. A row gives the mean, and with
more than one run the sample standard deviation and n; ``runs`` counts models, not result files.
The table (:mod:`.table`) is printed and written to ``--output`` (default ``PATH/reproduction.md``
when a single directory is given); ``--plots`` draws a figure per metric with a curve per run
(:mod:`.figures`) into ``PATH/plots/``.

The keys whose values differ become columns of the table, e.g. after ``python run.py -m
method.whiten=zca,cholesky`` a ``method.whiten`` column with one row per whitening. ImageNet rows
are split by pretraining epochs, as the paper's number depends on them: a pretraining run's
``epochs``, or ``pretrain_epochs`` for a linear / k-NN run (whose ``epochs`` are the probe's); a
linear / k-NN run without ``pretrain_epochs`` joins the method's only ImageNet pretraining row when
there is exactly one.
"""

from .collect import METRICS, RESULTS_FILE, Model, collect_results, models
from .command import REPORT_FILE, main
from .figures import PLOT_METRICS, baselines, curves, run_labels, write_plots
from .rows import Figure, Row, build_rows
from .run_settings import IGNORED_SETTINGS, PRETRAIN_IGNORED_SETTINGS, flatten_settings, run_settings
from .table import markdown_table

__all__ = [
    "IGNORED_SETTINGS",
    "METRICS",
    "PLOT_METRICS",
    "PRETRAIN_IGNORED_SETTINGS",
    "REPORT_FILE",
    "RESULTS_FILE",
    "Figure",
    "Model",
    "Row",
    "baselines",
    "build_rows",
    "collect_results",
    "curves",
    "flatten_settings",
    "main",
    "markdown_table",
    "models",
    "run_labels",
    "run_settings",
    "write_plots",
]
