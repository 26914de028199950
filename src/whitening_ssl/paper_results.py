"""The published numbers this project reproduces, as data: the one place they live.

``PAPER_RESULTS[(method, dataset)]`` holds ``linear_top1`` and ``knn_top1`` (percent; linear probe
top-1 and 5-NN top-1) and ``source``: ``"paper"`` for numbers read from the official repositories and
papers, ``"copy"`` for numbers taken from third-party copies of the papers' tables. Entries a paper
leaves blank ("-") are absent: there is no key for them, not a ``None``.

- CW-RGP (Weng et al., NeurIPS 2022), table of Sec. 4.1: W-MSE, CW-RGP, SimCLR, BYOL on CIFAR-10/100,
  STL-10 and Tiny-ImageNet (ResNet-18, the fast protocol).
- INTL (Weng et al., ICLR 2024), the official repository's README: CIFAR-10/100 (ResNet-18, the fast
  protocol: linear top-1 and 5-NN, also top-5) and ImageNet-100 (ResNet-18).

- ReSA (Weng et al., ICML 2025), the official repository's README: ImageNet ResNet-50 linear top-1 and
  k-NN top-1 (100 and 200 epochs at batch 256, 800 epochs at batch 1024). Its CIFAR numbers are
  unpublished.

- ReSA's ViT code (the same repository, README): ImageNet ViT-S/16, 300 epochs at batch 1024, linear
  top-1 (the class tokens of the last 4 blocks) and k-NN top-1. LeJEPA as lightly's ImageNet benchmark runs
  it (lightly-ai/lightly README): ViT-S/16, 100 epochs at batch 512, linear and k-NN top-1, measured before
  a fix of lightly's LeJEPA loss. :data:`PAPER_IMAGENET_VIT`, compared only with runs of that backbone.

ImageNet (ResNet-50) has a linear top-1 (and for ReSA a k-NN top-1), and it depends on the number of pretraining epochs:
:data:`PAPER_IMAGENET` maps method -> epochs -> figure, and :func:`paper_numbers` picks the entry that
matches a run's epochs (none when the epochs differ from the published ones).
"""

from __future__ import annotations

#: Where the numbers come from (the report's footnote).
CITATION = (
    "Weng et al. 2022 (CW-RGP, NeurIPS), table of Sec. 4.1 (small datasets) and the official repository "
    "(ImageNet); Weng et al. 2024 (INTL, ICLR), the official repository's README; Weng et al. 2025 (ReSA, "
    "ICML), the official repository's README (ImageNet, ResNet-50 and ViT-S/16); LeJEPA (Balestriero & LeCun "
    "2025) ViT-S/16 as lightly-ai/lightly's ImageNet benchmark (README)"
)

#: Methods and datasets with published numbers, in the report's order.
PAPER_METHODS = ("cw_rgp4", "cw_rgp2", "w_mse4", "w_mse2", "intl", "intl_m", "resa", "simclr", "byol")
PAPER_DATASETS = ("cifar10", "cifar100", "stl10", "tiny_imagenet", "imagenet100")

#: ImageNet linear top-1 by method and pretraining epochs: CW-RGP 4 (batch 512), INTL (800 epochs, two views)
#: and INTL with multi-crop and the momentum encoder (intl_m).
PAPER_IMAGENET: dict[str, dict[int, float]] = {
    "cw_rgp4": {100: 69.7, 200: 71.0},
    "intl": {800: 73.1},
    "intl_m": {100: 73.5, 200: 75.2, 400: 76.1, 800: 76.6},
    "resa": {100: 71.9, 200: 73.4, 800: 75.2},
}
#: ImageNet k-NN top-1 (the DINO weighted k-NN) where the paper gives one, as :data:`PAPER_IMAGENET`.
PAPER_IMAGENET_KNN: dict[str, dict[int, float]] = {
    "resa": {100: 64.6, 200: 67.1, 800: 69.9},
}

#: ``backbone.name`` of the ResNet-50 runs the tables above are for, and of the ViT-S/16 ones below
RESNET50, VIT_S16 = "resnet50", "vit_small_patch16_224"
#: ImageNet ViT-S/16 (linear top-1, k-NN top-1) by method and pretraining epochs: ReSA's (batch 1024, two views of
#: 224 px) and LeJEPA's as lightly's benchmark (batch 512, 2 x 224 + 6 x 96 px views; before its loss fix).
PAPER_IMAGENET_VIT: dict[str, dict[int, tuple[float, float]]] = {
    "resa": {300: (72.7, 68.3)},
    "lejepa": {100: (64.0, 47.1)},
}


def _row(source: str, *cells: tuple[float, float] | None) -> dict[str, dict[str, object]]:
    """One method's (linear, knn) pairs over PAPER_DATASETS; ``None`` for a "-" entry."""
    return {
        dataset: {"linear_top1": cell[0], "knn_top1": cell[1], "source": source}
        for dataset, cell in zip(PAPER_DATASETS, cells)
        if cell is not None
    }


_TABLE = {
    #                        CIFAR-10         CIFAR-100        STL-10           Tiny-ImageNet    ImageNet-100
    "cw_rgp4": _row("paper", (92.47, 90.74), (68.26, 58.67), (92.04, 88.95), (50.24, 35.99), None),
    "cw_rgp2": _row("paper", (91.92, 89.54), (67.51, 57.35), (90.76, 87.34), (49.23, 34.04), None),
    "w_mse4": _row("copy", (91.99, 89.87), (67.64, 56.45), None, (49.20, 35.44), None),
    "w_mse2": _row("copy", (91.55, 89.69), (66.10, 56.69), (90.36, 87.10), (48.20, 34.16), None),
    "intl": _row("paper", (92.60, 90.03), (70.88, 61.90), None, None, (81.68, 73.46)),
    "simclr": _row("copy", (91.80, 88.42), (66.83, 56.56), (90.51, 85.68), (48.84, 32.86), None),
    "byol": _row("copy", (91.73, 89.45), (66.60, 56.82), (91.99, 88.64), (51.00, 36.24), None),
}

#: ``PAPER_RESULTS[(method, dataset)] = {"linear_top1": x, "knn_top1": y, "source": "paper" | "copy"}``.
#: ``(method, "imagenet")`` holds the best-epoch linear top-1 of :data:`PAPER_IMAGENET` and its ``epochs``;
#: use :func:`paper_numbers` to get the figure for a run's own epochs.
PAPER_RESULTS: dict[tuple[str, str], dict[str, object]] = {
    (method, dataset): entry for method, row in _TABLE.items() for dataset, entry in row.items()
}
for _method, _by_epochs in PAPER_IMAGENET.items():
    _epochs = max(_by_epochs, key=lambda epochs: _by_epochs[epochs])
    PAPER_RESULTS[(_method, "imagenet")] = {"linear_top1": _by_epochs[_epochs], "epochs": _epochs, "source": "paper"}

#: INTL's README also gives the linear top-5 (percent): dataset -> figure.
PAPER_INTL_TOP5 = {"cifar10": 99.80, "cifar100": 92.13, "imagenet100": 95.42}


def paper_numbers(
    method: str, dataset: str, epochs: int | None = None, backbone: str | None = None
) -> dict[str, object]:
    """The published figures for a run of ``method`` on ``dataset`` (exact names; ``{}`` if none).

    On ImageNet the linear top-1 is chosen by ``epochs`` (the pretraining epochs) from
    :data:`PAPER_IMAGENET` (the ResNet-50 figures, for a ``backbone`` that is not a ViT) or
    :data:`PAPER_IMAGENET_VIT` (``backbone`` :data:`VIT_S16`); with other or unknown epochs, or another ViT,
    there is no comparable number.
    """
    if dataset == "imagenet" and backbone == VIT_S16:
        figures = PAPER_IMAGENET_VIT.get(method, {}).get(int(epochs)) if epochs is not None else None
        if figures is None:
            return {}
        return {"linear_top1": figures[0], "knn_top1": figures[1], "epochs": int(epochs or 0), "source": "paper"}
    if dataset == "imagenet" and backbone is not None and backbone.startswith("vit"):
        return {}  # another ViT: the ResNet-50 numbers do not compare
    entry = PAPER_RESULTS.get((method, dataset))
    if entry is None:
        return {}
    if dataset == "imagenet":
        by_epochs = PAPER_IMAGENET.get(method, {})
        if epochs is None or int(epochs) not in by_epochs:
            return {}
        knn = PAPER_IMAGENET_KNN.get(method, {}).get(int(epochs))
        return {
            "linear_top1": by_epochs[int(epochs)],
            **({"knn_top1": knn} if knn is not None else {}),
            "epochs": int(epochs),
            "source": entry["source"],
        }
    return dict(entry)
