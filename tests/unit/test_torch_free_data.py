"""The data layer's part of the pre-run check (``check=true``) runs without torch, torchvision, Lightning, timm
or PIL, and says exactly what it says in a process that has them: every dataset preset, and the bad options,
missing datasets and bad ``data.*`` values a user meets first."""

from __future__ import annotations

import json
import sys

from helpers import CONF, ROOT
from torch_free import json_torch_free

import whitening_ssl.data as data
from whitening_ssl.data import DATASETS, SYSTEM_DATA_DIRS

#: the checks as the stages call them, on the configuration ``python run.py dataset=<preset> <changes>`` composes
#: (each preset composed once, in the torch-free process; the changes applied as ``++key=value`` would)
OUTCOMES = """
import copy, dataclasses, json, sys
from omegaconf import OmegaConf
from whitening_ssl.data import check_dataset, check_pretraining_data
from whitening_ssl.validation import Checks

def outcome(cfg, changes, check_machine):
    cfg = copy.deepcopy(cfg)
    for key, value in changes.items():
        OmegaConf.update(cfg, key, value, force_add=True)
    checks = Checks(check_machine=check_machine)
    located = check_dataset(checks, cfg.dataset, needs_labels=True)
    check_pretraining_data(checks, cfg.data, located, world_size=1)
    return {"problems": checks.problems, "spec": None if located is None else dataclasses.asdict(located.spec)}
"""

#: a dataset of the user's own (docs/data.md): torch and the dataset classes imported by its build only
OWN_DATASET = """
from whitening_ssl.data import DatasetEntry, DatasetSpec, Option, register_dataset


def build(root, options, splits, on_bad_image):
    import torch

    from whitening_ssl.data import ArrayImageDataset

    images = torch.full((options.count, 8, 8, 3), 7, dtype=torch.uint8)
    return {split: ArrayImageDataset(images, torch.arange(options.count) % 2, ["a", "b"]) for split in splits}


MY_SQUARES = register_dataset(DatasetEntry(
    name="torch_free_squares", display_name="My squares", hint="nothing to get", build=build,
    spec=DatasetSpec("torch_free_squares", 2, 8, (0.5,) * 3, (0.25,) * 3),
    pretrain_size=lambda root, options: options.count, options={"count": Option(12, doc="images per split")}))
"""

ON_THIS_MACHINE = ("synthetic", "fashion_mnist")
BAD_DATA = {"data.verify_images": "some", "data.on_bad_image": "ignore", "data.num_workers": -1}


def _cases(tmp_path):
    """``(preset, changes, check_machine)``: every preset as it is, then what a user gets wrong first."""
    folder, imagenet = tmp_path / "images", tmp_path / "imagenet"
    for name in ("a", "b"):
        (folder / "train" / name).mkdir(parents=True)
        for index in range(5):
            (folder / "train" / name / f"{index}.jpg").write_bytes(b"")  # listed, never decoded by the checks
    for split in ("train", "val"):
        (imagenet / split).mkdir(parents=True)
    (tmp_path / "own_data.py").write_text(OWN_DATASET)
    presets = sorted(path.stem for path in (CONF / "dataset").glob("*.yaml"))
    fine = [(name, {}, False) for name in presets] + [(name, {}, True) for name in ON_THIS_MACHINE]
    fine += [
        (
            "fashion_mnist",
            {"data.pipeline": "device", "dataset.options.augmentation": "intl_cifar10", "data.num_views": 2},
            True,
        ),
        ("stl10", {"dataset.root": "/nonexistent", "dataset.download": True}, True),  # checked after the download
    ]
    bad = [
        ("synthetic", {"data.batch_size": 1024}, True),
        ("synthetic", {"dataset.options.augmentation": "intl_cifar10", "data.num_views": 3}, True),
        ("image_folder", {"dataset.root": str(folder), "data.pipeline": "device", "data.batch_size": 16}, True),
        ("synthetic", {"dataset.options.bogus": 1, "dataset.options.num_samples": 0}, True),
        ("cifar10", {"dataset.options.image_size": 8}, True),
        ("synthetic", {"dataset.options.augmentation": "nope"}, False),
        ("synthetic", {"dataset.name": "cifar11"}, False),
        ("cifar10", {"dataset.root": "/nonexistent", "dataset.download": False}, True),
        ("tiny_imagenet", {"dataset.root": "/nonexistent"}, True),
        ("image_folder", {"dataset.root": "/nonexistent"}, True),
        ("imagenet100", {"dataset.root": str(imagenet), "dataset.options.class_list": "/nonexistent.txt"}, True),
        ("synthetic", {"data.batch_size": 1, "data.num_views": 1, "data.pipeline": "gpu", **BAD_DATA}, True),
        (
            "cifar10",
            {"dataset.name": "own_data.MY_SQUARES", "dataset.root": str(tmp_path), "dataset.options.count": 9},
            True,
        ),
    ]
    return presets, fine, bad


def _in_process(configs, cases, tmp_path, monkeypatch):
    """:data:`OUTCOMES` here, where torch may be imported, on the configurations the torch-free process composed."""
    from omegaconf import OmegaConf

    monkeypatch.chdir(ROOT)  # the torch-free process's folder: ./data means the same
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {}
    exec(OUTCOMES, namespace)
    try:
        composed = {name: OmegaConf.create(config) for name, config in configs.items()}
        return json.loads(json.dumps([namespace["outcome"](composed[name], *rest) for name, *rest in cases]))
    finally:
        DATASETS.pop("torch_free_squares", None)
        sys.modules.pop("own_data", None)


def test_every_dataset_preset_is_checked_without_torch_with_the_same_lines(tmp_path, monkeypatch):
    presets, fine, bad = _cases(tmp_path)
    cases = fine + bad
    torch_free = json_torch_free(
        OUTCOMES
        + f"""
sys.path.insert(0, {str(tmp_path)!r})
from helpers import compose_config
from whitening_ssl.data import (
    DATASETS, BadImageError, DatasetNotFoundError, download_dataset, get_recipe, get_spec, parse
)
registered = list(DATASETS)
composed = {{name: compose_config([f"dataset={{name}}"]) for name in {presets!r}}}
outcomes = [outcome(composed[name], *rest) for name, *rest in {cases!r}]
configs = {{name: OmegaConf.to_container(OmegaConf.masked_copy(cfg, ["dataset", "data"])) for name, cfg in composed.items()}}
entry, options = parse("imagenet100", {{}})
assert get_spec("synthetic").image_size == 32 and get_recipe("small").name == "small"
light = sorted(name for name in sys.modules if name.split(".")[0] in ("PIL", "numpy"))
print(json.dumps({{"registered": registered, "outcomes": outcomes, "configs": configs, "light": light}}))
"""
    )
    assert isinstance(torch_free, dict)
    assert torch_free["light"] == []  # not even PIL or numpy
    assert set(presets) <= set(torch_free["registered"])  # every built-in dataset registered on import, in order
    assert torch_free["registered"] == [name for name in DATASETS if name in torch_free["registered"]]
    outcomes = _in_process(torch_free["configs"], cases, tmp_path, monkeypatch)
    assert torch_free["outcomes"] == outcomes
    found = dict(zip(map(repr, cases), outcomes))
    assert [found[repr(case)]["problems"] for case in fine[len(presets) :]] == [[]] * (len(fine) - len(presets))
    assert all(found[repr(case)]["problems"] for case in bad)  # one line each, the same in both processes
    assert found[repr(("synthetic", {}, True))]["spec"]["image_size"] == 32
    if SYSTEM_DATA_DIRS["fashion_mnist"].is_dir():
        assert found[repr(("fashion_mnist", {}, True))]["spec"]["num_classes"] == 10
    assert found[repr(bad[7])]["problems"][0].startswith("CIFAR-10 not found in /nonexistent/cifar-10-batches-py: ")
    assert found[repr(bad[10])]["problems"] == [
        "Class list /nonexistent.txt not found (set by dataset.options.class_list)"
    ]


def test_the_names_written_in_the_torch_free_modules_are_torchvisions_and_the_devices():
    from torchvision import datasets as tv_datasets
    from torchvision.datasets.folder import IMG_EXTENSIONS

    from whitening_ssl.data.device.filters import BLURS
    from whitening_ssl.data.device.ops import RESAMPLING_FILTERS
    from whitening_ssl.data.device.support import DEVICE_BLURS, DEVICE_INTERPOLATIONS
    from whitening_ssl.data.sources.fashion_mnist import FASHION_MNIST_MIRROR
    from whitening_ssl.data.sources.listing import IMAGE_EXTENSIONS
    from whitening_ssl.data.sources.torchvision_sets import TORCHVISION_FILES

    assert {
        name: (getattr(tv_datasets, name).base_folder, getattr(tv_datasets, name).url) for name in TORCHVISION_FILES
    } == TORCHVISION_FILES
    assert tv_datasets.FashionMNIST.mirrors[0] == FASHION_MNIST_MIRROR
    assert tuple(extension.lower() for extension in IMG_EXTENSIONS) == IMAGE_EXTENSIONS
    assert (tuple(RESAMPLING_FILTERS), tuple(BLURS)) == (DEVICE_INTERPOLATIONS, DEVICE_BLURS)


def test_every_name_the_lazy_namespace_lists_imports():
    assert all(getattr(data, name) is not None for name in data.__all__)
