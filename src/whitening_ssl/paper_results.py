"""The published numbers this project reproduces, as data: the one place they live.

``PAPER_RESULTS[(method, dataset)]`` holds ``linear_top1`` and ``knn_top1`` (percent; linear probe
top-1 and 5-NN top-1 of the fast protocol, ResNet-18) and ``source``: ``"paper"`` for numbers read
from the official repositories, ``"copy"`` for numbers taken from third-party copies of the papers'
tables (marked "(copy)" in the notes). Entries the paper leaves blank ("-") are absent: there is no
key for them, not a ``None``.

ImageNet (ResNet-50, CW-RGP 4, batch 512) has only a linear top-1, and it depends on the number of
pretraining epochs: :data:`PAPER_IMAGENET` maps epochs to it, and :func:`paper_numbers` picks the
entry that matches a run's epochs (none when the epochs differ from the published ones).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

#: Where the numbers come from (the report's footnote). The small-dataset table is the comparison of
#: Sec. 4.1 of the paper; the ImageNet figures are those of the official repository's README.
CITATION = ("Weng et al. 2022 (CW-RGP, NeurIPS), table of Sec. 4.1 (small datasets) "
            "and the official repository (ImageNet)")

#: Methods and datasets with published numbers, in the notes' order.
PAPER_METHODS = ("cw_rgp4", "cw_rgp2", "w_mse4", "w_mse2", "simclr", "byol")
PAPER_DATASETS = ("cifar10", "cifar100", "stl10", "tiny_imagenet")

#: ImageNet linear top-1 of CW-RGP 4 (ResNet-50, batch 512) by pretraining epochs.
PAPER_IMAGENET: Dict[int, float] = {100: 69.7, 200: 71.0}


def _row(source: str, *cells: Optional[Tuple[float, float]]) -> Dict[str, Dict[str, object]]:
    """One method's (linear, knn) pairs over PAPER_DATASETS; ``None`` for a "-" entry."""
    return {dataset: {"linear_top1": cell[0], "knn_top1": cell[1], "source": source}
            for dataset, cell in zip(PAPER_DATASETS, cells) if cell is not None}


_TABLE = {
    #                        CIFAR-10         CIFAR-100        STL-10           Tiny-ImageNet
    "cw_rgp4": _row("paper", (92.47, 90.74), (68.26, 58.67), (92.04, 88.95), (50.24, 35.99)),
    "cw_rgp2": _row("paper", (91.92, 89.54), (67.51, 57.35), (90.76, 87.34), (49.23, 34.04)),
    "w_mse4": _row("copy", (91.99, 89.87), (67.64, 56.45), None, (49.20, 35.44)),
    "w_mse2": _row("copy", (91.55, 89.69), (66.10, 56.69), (90.36, 87.10), (48.20, 34.16)),
    "simclr": _row("copy", (91.80, 88.42), (66.83, 56.56), (90.51, 85.68), (48.84, 32.86)),
    "byol": _row("copy", (91.73, 89.45), (66.60, 56.82), (91.99, 88.64), (51.00, 36.24)),
}

#: ``PAPER_RESULTS[(method, dataset)] = {"linear_top1": x, "knn_top1": y, "source": "paper" | "copy"}``.
#: ``("cw_rgp4", "imagenet")`` holds the 200-epoch (best) linear top-1 and ``"epochs": 200``;
#: use :func:`paper_numbers` to get the figure for a run's own epochs.
PAPER_RESULTS: Dict[Tuple[str, str], Dict[str, object]] = {
    (method, dataset): entry for method, row in _TABLE.items() for dataset, entry in row.items()
}
PAPER_RESULTS[("cw_rgp4", "imagenet")] = {"linear_top1": PAPER_IMAGENET[200], "epochs": 200, "source": "paper"}


def paper_numbers(method: str, dataset: str, epochs: Optional[int] = None) -> Dict[str, object]:
    """The published figures for a run of ``method`` on ``dataset`` (exact names; ``{}`` if none).

    On ImageNet the linear top-1 is chosen by ``epochs`` (the pretraining epochs) from
    :data:`PAPER_IMAGENET`; with other or unknown epochs there is no comparable number.
    """
    entry = PAPER_RESULTS.get((method, dataset))
    if entry is None:
        return {}
    if dataset == "imagenet":
        if epochs is None or int(epochs) not in PAPER_IMAGENET:
            return {}
        return {"linear_top1": PAPER_IMAGENET[int(epochs)], "epochs": int(epochs), "source": entry["source"]}
    return dict(entry)
