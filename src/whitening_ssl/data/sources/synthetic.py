"""The ``synthetic`` dataset: random class-dependent images generated in memory (tests, benchmarks).

Each class has a random low-resolution (4 x 4) colour pattern upsampled to the image size; an image
is its class's pattern plus Gaussian noise (std 0.1), labels balanced and shuffled. The class signal
is strong enough for a small network to learn, which makes it a fast end-to-end smoke-test dataset.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from whitening_ssl.data.options import DatasetOptions, Option
from whitening_ssl.data.registry import DatasetEntry, DatasetSpec, register_dataset

if TYPE_CHECKING:  # torch: imported when the images are generated, not when the dataset is checked
    import torch
    from torch.utils.data import Dataset

    from whitening_ssl.data.sources.images import ArrayImageDataset

SYNTHETIC_TEST_SEED_OFFSET = 1_000_003
NOISE_STD = 0.1


def make_synthetic_patterns(num_classes: int, image_size: int, generator: torch.Generator) -> torch.Tensor:
    """One random 4 x 4 colour pattern per class, upsampled (bilinear) to ``[num_classes, 3, size, size]``."""
    import torch
    import torch.nn.functional as F

    low_res = torch.rand(num_classes, 3, 4, 4, generator=generator)
    return F.interpolate(low_res, size=(image_size, image_size), mode="bilinear", align_corners=False)


def make_synthetic_dataset(patterns: torch.Tensor, num_samples: int, generator: torch.Generator) -> ArrayImageDataset:
    """``num_samples`` uint8 images ``[N, H, W, 3]``: a class's pattern plus noise, balanced shuffled labels."""
    import torch

    from whitening_ssl.data.sources.images import ArrayImageDataset

    num_classes = len(patterns)
    labels = (torch.arange(num_samples) % num_classes)[torch.randperm(num_samples, generator=generator)]
    noise = NOISE_STD * torch.randn(num_samples, *patterns.shape[1:], generator=generator)
    images = (patterns[labels] + noise).clamp(0.0, 1.0)
    data = (images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    return ArrayImageDataset(data, labels, [f"class_{index}" for index in range(num_classes)])


def _spec(root: Path, options: DatasetOptions) -> DatasetSpec:
    return DatasetSpec("synthetic", options.num_classes, options.image_size, (0.5,) * 3, (0.25,) * 3, stem="cifar")


def _build(root: Path, options: DatasetOptions, splits: Collection[str], on_bad_image: str) -> dict[str, Dataset]:
    import torch

    generator = torch.Generator().manual_seed(options.seed)
    patterns = make_synthetic_patterns(options.num_classes, options.image_size, generator)
    train = make_synthetic_dataset(patterns, options.num_samples, generator)
    test = make_synthetic_dataset(
        patterns, options.num_test, torch.Generator().manual_seed(options.seed + SYNTHETIC_TEST_SEED_OFFSET)
    )
    built = {"pretrain": train, "train": train, "test": test}
    return {name: built[name] for name in splits}


register_dataset(
    DatasetEntry(
        name="synthetic",
        display_name="Synthetic images",
        hint="nothing to get: the images are generated in memory",
        spec=_spec,
        build=_build,
        pretrain_size=lambda root, options: options.num_samples,
        in_memory=True,
        options={
            "num_samples": Option(512, doc="images of the training split (pretraining and labelled training)"),
            "num_test": Option(256, doc="images of the test split"),
            "image_size": Option(32, doc="image side in pixels"),
            "num_classes": Option(10, doc="classes, one colour pattern each"),
        },
    )
)
