"""``data.pipeline=device`` on every in-memory dataset of the registry, as stored (tests/fakes.py stand-ins).

What a GPU run turns on (the device pipeline, channels_last, bf16-mixed, compile) is run here on CPU
tensors for one step per dataset, and the device's views are compared with the CPU pipeline's:
exactly (same pixels, identity parameters) and in distribution (paired per-image channel means and
spreads, within 4.5 standard errors plus the PIL pipeline's rounding).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from fakes import write_stand_in
from helpers import TINY, compose_config
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T

from whitening_ssl.data import (
    DATASETS,
    RECIPES,
    AugmentationRecipe,
    SSLDataModule,
    ToRGB,
    auto_pipeline,
    channels_first,
    get_spec,
    image_tensor,
)
from whitening_ssl.methods import PretrainModule
from whitening_ssl.stages import check_config, run
from whitening_ssl.validation import ConfigError

IN_MEMORY = [name for name, entry in DATASETS.items() if entry.in_memory]
NUM_IMAGES = 64
VIEWS = 16
# the PIL pipeline rounds each colour op's result down to uint8 (Image.blend: up to 4 ops, about 2 / 255 lower on
# average, measured 1 / 255 to 2.5 / 255 here), the device does not: pixel steps allowed beyond the statistical bound
PIL_ROUNDING_STEPS = 2.0
# tiny sizes, the preset's whitening kept (cw_rgp4: w_size 64, so a batch of 64), the stand-in's dataset; no
# labelled evaluation (it does not see the pipeline; the quickstart's test runs it)
RUN = [o for o in TINY if not o.startswith("dataset=")] + [
    "data.batch_size=64",
    "dataset.num_workers=0",
    "eval.enabled=false",
]
GPU_DEFAULTS = ["data.pipeline=device", "channels_last=true", "trainer.precision=bf16-mixed"]


@pytest.fixture
def stand_in(request, tmp_path, monkeypatch):
    """The stand-in of dataset ``request.param`` (torchvision's md5 checks accept it)."""
    written = write_stand_in(request.param, tmp_path / "data", num_images=NUM_IMAGES)
    written.accept(monkeypatch)
    return written


def _datamodule(stand_in, pipeline, num_views=VIEWS):
    datamodule = SSLDataModule(
        stand_in.name,
        root=str(stand_in.root),
        batch_size=16,
        num_views=num_views,
        num_workers=0,
        pipeline=pipeline,
        **stand_in.options,
    )
    datamodule.setup()
    return datamodule


# --- the images as one tensor, the views ---------------------------------------------------------------


@pytest.mark.parametrize("stand_in", IN_MEMORY, indirect=True)
def test_image_tensor_is_channels_first_with_the_cpu_pipelines_pixels(stand_in):
    """[N, C, H, W] uint8, C = 1 or 3: grey as stored, expanded to RGB equal to ToRGB's image, per item."""
    cpu = _datamodule(stand_in, "cpu").pretrain_dataset.base
    images, labels = image_tensor(cpu)
    assert images.dtype == torch.uint8 and images.ndim == 4 and images.shape[1] in (1, 3)
    assert len(images) == len(labels) == NUM_IMAGES
    to_tensor = T.Compose([ToRGB(), T.PILToTensor()])
    for index in (0, 1, NUM_IMAGES // 2, NUM_IMAGES - 1):
        image, label = cpu[index]
        assert torch.equal(images[index].expand(3, -1, -1), to_tensor(image)) and labels[index] == label


def _whole_images(params, height, width):
    """The parameters of views that are the whole images, untouched: no crop, jitter, grey, blur, solarisation
    or flip."""
    false = torch.zeros_like(params.flip)
    boxes = torch.tensor([0, 0, height, width]).expand(params.batch_size, 4)
    return dataclasses.replace(
        params, crop_boxes=boxes, flip=false, jitter_applied=false, grayscale=false, blur=false, solarize=false
    )


@pytest.mark.parametrize("stand_in", IN_MEMORY, indirect=True)
def test_cpu_and_device_views_agree(stand_in):
    cpu, device = _datamodule(stand_in, "cpu"), _datamodule(stand_in, "device")
    spec, augmentation = device.spec, device.device_augmentation
    size = spec.image_size
    mean, std = torch.tensor(spec.mean).view(3, 1, 1), torch.tensor(spec.std).view(3, 1, 1)

    # exactly: the whole image resized to the crop (identity when the sizes agree), normalised
    height, width = device.images.shape[-2:]
    params = _whole_images(augmentation.sample_params(NUM_IMAGES, height, width), height, width)
    whole = augmentation.apply(device.images, params)
    interpolation = T.InterpolationMode(augmentation.recipe.crop_interpolation)
    reference = T.Compose(
        [ToRGB(), T.Resize((size, size), interpolation), T.ToTensor(), T.Normalize(spec.mean, spec.std)]
    )
    expected = torch.stack([reference(cpu.pretrain_dataset.base[i][0]) for i in range(NUM_IMAGES)])
    # resizing (STL-10's 96 px to 64): PIL resamples rows, then columns, each pass rounded to uint8 (measured:
    # up to 1.8 steps, in 108 of the 786k values more than one)
    exact = (height, width) == (size, size)
    torch.testing.assert_close(whole, expected, rtol=0, atol=1e-5 if exact else 2.0 / 255 / min(spec.std))

    # in distribution: VIEWS random views of every image from each pipeline
    torch.manual_seed(0)
    cpu_views = torch.stack([torch.stack(cpu.pretrain_dataset[i][0]) for i in range(NUM_IMAGES)], dim=1)
    views, _ = device.make_views((torch.arange(NUM_IMAGES), torch.zeros(NUM_IMAGES, dtype=torch.long)))
    device_views = torch.stack(views)
    assert device_views.shape == cpu_views.shape == (VIEWS, NUM_IMAGES, 3, size, size)
    assert device_views.dtype == cpu_views.dtype == torch.float32
    low, high = (0 - mean) / std, (1 - mean) / std  # [0, 1] pixels, normalised
    for name, views in (("cpu", cpu_views), ("device", device_views)):
        assert (views >= low - 1e-5).all() and (views <= high + 1e-5).all(), name
    extremes = [views.amin(dim=(0, 1, 3, 4)) for views in (cpu_views, device_views)] + [
        views.amax(dim=(0, 1, 3, 4)) for views in (cpu_views, device_views)
    ]
    torch.testing.assert_close(extremes[0], extremes[1], rtol=0, atol=0.1)
    torch.testing.assert_close(extremes[2], extremes[3], rtol=0, atol=0.1)
    # paired over the images (the same images in both): per-image channel means and pixel spreads over the views
    for statistic in (lambda v: v.mean(dim=(3, 4)), lambda v: v.std(dim=(3, 4))):
        difference = statistic(cpu_views).mean(0) - statistic(device_views).mean(0)  # [N, 3]
        bound = 4.5 * difference.std(0) / math.sqrt(NUM_IMAGES) + PIL_ROUNDING_STEPS / 255 / std.view(3)
        assert (difference.mean(0).abs() < bound).all(), (difference.mean(0), bound)
    if device.images.shape[1] == 1:  # grey stays grey in three equal channels, as ToRGB makes it
        for views in (cpu_views, device_views):
            assert torch.equal(views[:, :, 0], views[:, :, 1]) and torch.equal(views[:, :, 1], views[:, :, 2])


def test_a_dataset_without_a_stand_in_is_named(tmp_path):
    with pytest.raises(LookupError, match="add a writer"):
        write_stand_in("no_such_dataset", tmp_path)


# --- one step of pretraining with the GPU defaults ------------------------------------------------------


def _watch_training(monkeypatch):
    """Record each training step's views and loss, and the trained parameters before and after."""
    seen = {"views": [], "losses": [], "channels_last": [], "autocast": [], "compiled": [], "before": {}, "after": {}}
    step, fit_start, train_end = PretrainModule.training_step, PretrainModule.on_fit_start, PretrainModule.on_train_end

    def training_step(self, batch, batch_idx):
        seen["views"].append([(tuple(v.shape), v.dtype) for v in batch[0]])
        seen["channels_last"].append(self.channels_last)
        seen["compiled"].append(getattr(self.backbone, "_compiled_call_impl", None) is not None)  # nn.Module.compile
        seen["autocast"].append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        loss = step(self, batch, batch_idx)
        seen["losses"].append(float(loss.detach().float()))
        return loss

    def snapshot(key):
        def hook(self):
            seen[key].update({n: p.detach().clone() for n, p in self.named_parameters() if p.requires_grad})
            return (fit_start if key == "before" else train_end)(self)

        return hook

    monkeypatch.setattr(PretrainModule, "training_step", training_step)
    monkeypatch.setattr(PretrainModule, "on_fit_start", snapshot("before"))
    monkeypatch.setattr(PretrainModule, "on_train_end", snapshot("after"))
    return seen


def _assert_trained(seen, results, size, steps=1, autocast=torch.bfloat16):
    """``steps`` steps on [B, 3, size, size] float32 views made on the device, the backbone channels_last, under
    ``autocast``; a finite loss, and the backbone and head moved."""
    assert results["global_step"] == steps and len(seen["losses"]) == steps
    assert seen["channels_last"] == [True] * steps and seen["autocast"] == [autocast] * steps
    assert all(math.isfinite(loss) for loss in seen["losses"]), seen["losses"]
    assert all(
        shape == (shape[0], 3, size, size) and dtype == torch.float32
        for views in seen["views"]
        for shape, dtype in views
    )
    moved = [name for name in seen["before"] if not torch.equal(seen["before"][name], seen["after"][name])]
    for network in ("backbone.", "head."):
        assert any(name.startswith(network) for name in moved), network
    assert results["config"]["data"]["pipeline"] == "device"


@pytest.mark.parametrize("stand_in", IN_MEMORY, indirect=True)
def test_one_step_with_the_gpu_defaults(stand_in, tmp_path, monkeypatch):
    seen = _watch_training(monkeypatch)
    run(compose_config(["debug=fdr", *RUN, *stand_in.overrides(), *GPU_DEFAULTS], run_dir=tmp_path / "run"))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    _assert_trained(seen, results, get_spec(stand_in.name, stand_in.root, **stand_in.options).image_size)


@pytest.mark.slow
@pytest.mark.parametrize("stand_in", ["fashion_mnist"], indirect=True)
def test_one_step_with_the_gpu_defaults_compiled(stand_in, tmp_path, monkeypatch):
    """``compile=true`` on top (torch.compile of the backbone: tens of seconds on a CPU)."""
    seen = _watch_training(monkeypatch)
    run(
        compose_config(
            ["debug=fdr", *RUN, *stand_in.overrides(), *GPU_DEFAULTS, "compile=true"], run_dir=tmp_path / "run"
        )
    )
    _assert_trained(seen, json.loads((tmp_path / "run" / "results.json").read_text()), 28)
    assert seen["compiled"] == [True]


def test_the_quickstart_on_a_gpu_makes_its_views_on_the_device(tmp_path, monkeypatch):
    """``experiment=quickstart`` as a GPU user gets it (the device pipeline, as on a CPU; channels_last), one step."""
    from whitening_ssl.stages import pretrain

    stand_in = write_stand_in("fashion_mnist", tmp_path / "data", num_images=128)
    monkeypatch.setattr(pretrain, "training_on_gpu", lambda cfg: True)
    seen = _watch_training(monkeypatch)
    tiny = ["data.batch_size=64", "++trainer.fast_dev_run=1", "eval.linear_epochs=2"]  # w_size 32 still divides it
    cfg = compose_config(
        ["experiment=quickstart", f"dataset.root={stand_in.root}", "logger=none", *tiny], run_dir=tmp_path / "run"
    )
    assert cfg.data.pipeline == "device" and cfg.channels_last == "auto"
    run(cfg)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    _assert_trained(seen, results, 28, autocast=None)  # the quickstart trains in float32
    assert seen["views"] == [[((cfg.data.batch_size, 3, 28, 28), torch.float32)] * cfg.data.num_views]
    assert {"knn_top1", "linear_top1"} <= set(results["untrained"]) & set(results["final"])  # the evaluation ran


# --- what the device pipeline cannot honour: one error line before training, auto picks cpu --------------


def _image_folder(root, count=72, size=20):  # 10% held out: 65 to pretrain on
    for k in range(count):
        folder = root / "train" / f"class_{k % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (size + k % 3, size), (8 * (k % 32), 100 * (k % 2), 50)).save(folder / f"{k}.png")
    return root


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_a_jitter_first_recipe_on_image_files_is_one_error_line_and_auto_picks_cpu(recipe, tmp_path):
    """Workers crop image files, so the device only sees crops: the same views only when the recipe crops first."""
    root = _image_folder(tmp_path / "images")
    dataset = [
        "dataset=image_folder",
        f"dataset.root={root}",
        f"++dataset.options.augmentation={recipe}",
        "dataset.options.image_size=16",
    ]
    views = [f"data.num_views={RECIPES[recipe].fixed_views}"] if RECIPES[recipe].fixed_views else []
    cfg = compose_config(
        [*TINY, *dataset, *views, "data.pipeline=device", "data.batch_size=64"], run_dir=tmp_path / "run"
    )
    crop_first = RECIPES[recipe].crop_first
    if crop_first:
        check_config(cfg)
    else:
        with pytest.raises(ConfigError) as caught:
            check_config(cfg)
        assert caught.value.problems == [
            f"data.pipeline=device cannot make the CPU pipeline's views of dataset=image_folder with recipe {recipe}: "
            f"its image files are cropped in DataLoader workers and recipe {recipe} jitters the full image before "
            "cropping (a crop-first recipe would do: dataset.options.augmentation=imagenet); use data.pipeline=cpu "
            "(data.pipeline=auto picks it here)"
        ]
        with pytest.raises(ConfigError):  # the DataModule, used directly, refuses it too
            SSLDataModule(
                "image_folder", root=str(root), num_workers=0, pipeline="device", augmentation=recipe, image_size=16
            ).setup()
    dataset_cfg = {"name": "image_folder", "root": str(root), "options": {"augmentation": recipe, "image_size": 16}}
    assert auto_pipeline(True, dataset_cfg)[0] == ("device" if crop_first else "cpu")
    assert auto_pipeline(False, dataset_cfg) == ("cpu", None)


def test_auto_on_a_gpu_trains_with_the_cpu_pipeline_where_the_device_cannot(tmp_path, monkeypatch):
    from whitening_ssl.stages import pretrain

    monkeypatch.setattr(pretrain, "training_on_gpu", lambda cfg: True)
    root = _image_folder(tmp_path / "images")
    run(
        compose_config(
            [
                "debug=fdr",
                *TINY,
                "dataset=image_folder",
                f"dataset.root={root}",
                "dataset.options.image_size=16",
                "dataset.num_workers=0",
                "data.batch_size=64",
                "eval.enabled=false",
                "channels_last=false",
            ],
            run_dir=tmp_path / "run",
        )
    )
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["global_step"] == 1 and results["config"]["data"]["pipeline"] == "cpu"


def test_an_op_the_device_lacks_is_one_error_line(tmp_path, monkeypatch):
    """A recipe with an op the device augmentation does not implement (here an equalisation probability)."""
    extended = dataclasses.make_dataclass(
        "EqualizingRecipe", [("equalize_p", float, 0.0)], bases=(AugmentationRecipe,), frozen=True
    )
    fields = {field.name: getattr(RECIPES["small"], field.name) for field in dataclasses.fields(AugmentationRecipe)}
    recipe = extended(**{**fields, "name": "equalize", "equalize_p": 0.2})
    monkeypatch.setitem(RECIPES, "equalize", recipe)
    dataset = ["++dataset.options.augmentation=equalize"]
    with pytest.raises(ConfigError) as caught:
        check_config(compose_config([*TINY, *dataset, "data.pipeline=device"], run_dir=tmp_path / "run"))
    assert caught.value.problems == [
        "data.pipeline=device cannot make the CPU pipeline's views of dataset=synthetic with recipe equalize: recipe "
        "equalize sets equalize_p=0.2, an op the device pipeline does not have; use data.pipeline=cpu "
        "(data.pipeline=auto picks it here)"
    ]
    check_config(compose_config([*TINY, *dataset, "data.pipeline=cpu"], run_dir=tmp_path / "run"))
    assert (
        auto_pipeline(True, {"name": "synthetic", "root": "./data", "options": {"augmentation": "equalize"}})[0]
        == "cpu"
    )


class _Unknown(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, index):
        return Image.new("RGB", (4, 4)), 0


def test_an_image_layout_the_device_does_not_know_is_one_error_line():
    grey = torch.zeros(2, 5, 6, dtype=torch.uint8)
    assert channels_first(grey, "NHW", "grey").shape == (2, 1, 5, 6)
    assert channels_first(grey.unsqueeze(-1).expand(2, 5, 6, 3), "NHWC", "rgb").shape == (2, 3, 5, 6)
    for images, layout, expected in [
        (torch.zeros(2, 5, 6, 4, dtype=torch.uint8), "NHWC", "4 channels"),  # RGBA
        (torch.zeros(2, 3, 5, 6, dtype=torch.uint8), "HWCN", "unknown image layout 'HWCN'"),
        (torch.zeros(2, 3, 5, 6, dtype=torch.float32), "NCHW", "not uint8 NCHW"),
        (torch.zeros(2, 5, 6, dtype=torch.uint8), "NCHW", "not uint8 NCHW"),
    ]:
        with pytest.raises(ConfigError, match=expected) as caught:
            channels_first(images, layout, "test")
        assert len(caught.value.problems) == 1 and "\n" not in str(caught.value)
        assert str(caught.value).endswith("use data.pipeline=cpu")
    with pytest.raises(ConfigError, match="cannot hold _Unknown images as one tensor"):
        image_tensor(_Unknown())
