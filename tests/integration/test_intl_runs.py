"""INTL runs: a step of intl and intl_m with two views and with multi-crop on both pipelines, and the global
batch under 2-process DDP equal to one process on the concatenated batch."""

import math

import pytest
import torch
from helpers import compose_config

# --- training runs ---------------------------------------------------------------------------------------------

TINY_INTL = [
    "debug=fdr",
    "dataset=synthetic",
    "backbone=resnet_tiny",
    "backbone.width=8",
    "trainer=cpu",
    "logger=none",
    "eval.linear_epochs=2",
    "method.emb=64",
    "method.head_size=64",
    "data.batch_size=64",
]


@pytest.mark.parametrize("method", ["intl", "intl_m"])
def test_a_step_of_intl_trains_a_finite_loss_and_moves_the_weights(method, tmp_path):
    from whitening_ssl.stages import run

    cfg = compose_config([f"method={method}", *TINY_INTL], run_dir=tmp_path)
    losses = []
    from whitening_ssl.methods import INTLMethod

    original = INTLMethod.compute_loss

    def compute_loss(self, embeddings, views, measure=False):
        output = original(self, embeddings, views, measure)
        losses.append((float(output.loss.detach()), self.loss_fn.trade_off, embeddings.shape[0]))
        return output

    before = {}

    def on_fit_start(self):
        before.update({k: v.clone() for k, v in self.state_dict().items() if v.is_floating_point()})

    INTLMethod.on_fit_start = on_fit_start
    try:
        INTLMethod.compute_loss = compute_loss
        run(cfg)
    finally:
        INTLMethod.compute_loss = original
        del INTLMethod.on_fit_start
    ((loss, trade_off, views),) = losses
    assert math.isfinite(loss) and trade_off == pytest.approx((math.log2(64) - 3) * 0.01)
    assert views == (1 if method == "intl_m" else 2)  # intl_m: the online network encodes view 1 only
    import json

    assert json.loads((tmp_path / "results.json").read_text())["method"] == method
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert any(not torch.equal(state[k], v) for k, v in before.items() if k.startswith("backbone."))
    if method == "intl_m":  # the momentum copy moved towards the online network (m < 1), without gradients
        assert any(not torch.equal(state[k], v) for k, v in before.items() if k.startswith("momentum_backbone."))


@pytest.fixture
def small_multicrop():
    """INTL's multi-crop recipe at synthetic images' scale: 2 x 32 px, then 24 and 16 px views."""
    import dataclasses

    from whitening_ssl.data import RECIPES
    from whitening_ssl.data.recipes import ViewGroup, register_recipe

    recipe = dataclasses.replace(
        RECIPES["intl_imagenet_multicrop"],
        name="test_small_multicrop",
        views=(
            ViewGroup(count=2, crop_size=32, crop_scale=(0.2, 1.0)),
            ViewGroup(crop_size=24, crop_scale=(0.15, 0.8)),
            ViewGroup(crop_size=16, crop_scale=(0.1, 0.5)),
        ),
    )
    register_recipe(recipe)
    yield recipe.name
    del RECIPES[recipe.name]


@pytest.mark.parametrize("method", ["intl", "intl_m"])
@pytest.mark.parametrize("pipeline", ["cpu", "device"])
def test_a_step_of_intl_with_multi_crop(method, pipeline, small_multicrop, tmp_path, monkeypatch):
    from whitening_ssl.methods import INTLMethod
    from whitening_ssl.stages import run

    seen = []
    original = INTLMethod.compute_loss

    def compute_loss(self, embeddings, views, measure=False):
        output = original(self, embeddings, views, measure)
        seen.append(([tuple(v.shape[-2:]) for v in views], embeddings.shape, float(output.loss.detach())))
        return output

    monkeypatch.setattr(INTLMethod, "compute_loss", compute_loss)
    run(
        compose_config(
            [
                f"method={method}",
                *TINY_INTL,
                "data.num_views=4",
                f"data.pipeline={pipeline}",
                f"+dataset.options.augmentation={small_multicrop}",
            ],
            run_dir=tmp_path,
        )
    )
    ((sizes, shape, loss),) = seen
    assert sizes == [(32, 32), (32, 32), (24, 24), (16, 16)]  # view 0 is the first 32 px crop
    assert shape == (3 if method == "intl_m" else 4, 64, 64) and math.isfinite(loss)
