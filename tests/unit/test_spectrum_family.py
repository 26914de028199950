"""ReSA, SIGReg / LeJEPA and the whitening layer: each against a plain float64 loop of its formula."""

import pytest
import torch
import torch.nn.functional as F
from helpers import compose_config

from whitening_ssl.losses import LeJEPALoss, ReSALoss, epps_pulley, sinkhorn_assignment
from whitening_ssl.losses.sigreg import sigreg_directions
from whitening_ssl.reference import (
    epps_pulley_reference,
    lejepa_loss_reference,
    resa_loss_reference,
    sinkhorn_reference,
    whiten_block_reference,
)
from whitening_ssl.whitening.layer import FeatureWhitening


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_sinkhorn_equals_the_loop_and_normalises_as_the_authors():
    online, target = F.normalize(_randn(6, 5), dim=-1), F.normalize(_randn(6, 5, seed=1), dim=-1)
    assignment = sinkhorn_assignment(online, target, eps=0.05, iters=3)
    torch.testing.assert_close(assignment, sinkhorn_reference(online, target, 0.05, 3), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(assignment.sum(1), torch.ones(6, dtype=torch.float64))  # each sample's row: 1
    converged = sinkhorn_assignment(online, target, eps=0.5, iters=500)  # the columns follow, to B / K = 1
    torch.testing.assert_close(converged.sum(0), torch.ones(6, dtype=torch.float64), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("views,targets", [(2, 2), (4, 2)])
def test_resa_loss_equals_the_loop_over_view_pairs_values_and_gradients(views, targets):
    online = _randn(views, 6, 4).requires_grad_()
    target = _randn(targets, 6, 4, seed=1)
    assignment = sinkhorn_assignment(
        F.normalize(_randn(6, 3, seed=2), dim=-1), F.normalize(_randn(6, 3, seed=3), dim=-1)
    )
    loss = ReSALoss(0.4)(online, target, assignment)
    expected = resa_loss_reference(online, target, assignment, 0.4)
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss, online)
    (expected_grad,) = torch.autograd.grad(expected, online)
    torch.testing.assert_close(grad, expected_grad)


def test_epps_pulley_equals_the_loop_values_and_gradients():
    x = _randn(40, 3).requires_grad_()
    value, expected = epps_pulley(x), epps_pulley_reference(x)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(torch.autograd.grad(value.sum(), x)[0], torch.autograd.grad(expected.sum(), x)[0])


def test_epps_pulley_is_near_zero_for_a_standard_normal_sample_only():
    x = _randn(4096, 8)
    assert epps_pulley(x).mean() < 5  # about 1: the statistic's scale under the null
    assert epps_pulley(x + 0.5).min() > 100 and epps_pulley(1.5 * x).min() > 100


def test_lejepa_loss_equals_the_loop_values_and_gradients():
    z = _randn(3, 16, 6).requires_grad_()
    directions = sigreg_directions(6, 5, seed=1, step=3).double()
    loss = LeJEPALoss(lam=0.3, global_views=2)(z, directions)
    expected = lejepa_loss_reference(z, directions, 0.3, 2)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(torch.autograd.grad(loss, z)[0], torch.autograd.grad(expected, z)[0])


def test_sigreg_directions_depend_on_seed_and_step_only():
    first = sigreg_directions(8, 4, seed=3, step=10)
    torch.testing.assert_close(first, sigreg_directions(8, 4, seed=3, step=10), rtol=0, atol=0)
    torch.testing.assert_close(first.norm(dim=0), torch.ones(4))
    assert not torch.equal(first, sigreg_directions(8, 4, seed=3, step=11))


@pytest.mark.parametrize("kind,settings", [("zca", {}), ("iternorm", {"iters": 5}), ("bn", {})])
def test_the_whitening_layer_in_training_and_in_evaluation(kind, settings):
    x = _randn(2, 64, 6) * torch.linspace(0.5, 3, 6, dtype=torch.float64) + 1.0
    layer = FeatureWhitening(6, kind, momentum=0.1, eps=1e-5, **settings).double()
    white = layer(x)
    for v in range(2):  # each view whitened over its own samples, as the reference's one block
        torch.testing.assert_close(white[v], whiten_block_reference(x[v], kind, "batch", 1, 1e-5, 0, **settings))
    if kind == "zca":
        centred = white[0] - white[0].mean(0)
        torch.testing.assert_close(centred.T @ centred / 64, torch.eye(6, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(layer.running_mean, 0.1 * x.mean(dim=(0, 1)))  # 0.1 new + 0.9 x the initial 0
    layer.momentum = 1.0
    layer(x[:1])  # running statistics = this batch's
    layer.eval()
    torch.testing.assert_close(layer(x[0]), white[0], atol=1e-8, rtol=1e-6)


def test_whitening_layer_gradients_equal_the_loop():
    x = _randn(1, 32, 4).requires_grad_()
    white = FeatureWhitening(4, "zca", eps=1e-5).double()(x)
    expected = whiten_block_reference(x[0], "zca", "batch", 1, 1e-5, 0)
    weights = _randn(32, 4, seed=5)
    torch.testing.assert_close(
        torch.autograd.grad((white[0] * weights).sum(), x)[0], torch.autograd.grad((expected * weights).sum(), x)[0]
    )


@pytest.mark.parametrize(
    "override,line",
    [
        ("method.sinkhorn_iters=0", "method.sinkhorn_iters=0 must be a whole number >= 1 (ReSA: 3)"),
        (
            "method.temperature=0",
            "method.temperature=0 must be a positive number (ReSA: temperature 0.4, sinkhorn_eps 0.05)",
        ),
        ("method.sigreg_weight=0.1", None),
    ],
)
def test_bad_resa_settings_are_one_line(override, line):
    from whitening_ssl.stages import check_config
    from whitening_ssl.validation import ConfigError

    cfg = compose_config(["method=resa", override, "dataset=synthetic", "logger=none", "method.sigreg_slices=0"])
    with pytest.raises(ConfigError) as caught:
        check_config(cfg, check_machine=False)
    assert (line or "method.sigreg_slices=0 must be a whole number >= 1 (LeJEPA: 1024)") in caught.value.problems


def test_a_singular_whitening_layer_says_how_big_the_batch_must_be():
    from whitening_ssl.stages import check_config
    from whitening_ssl.validation import ConfigError

    cfg = compose_config(
        [
            "method=byol",
            "method.feature_whitening=zca",
            "dataset=synthetic",
            "logger=none",
            "backbone=resnet_tiny",
            "data.batch_size=64",
        ]
    )
    with pytest.raises(ConfigError) as caught:
        check_config(cfg, check_machine=False)
    assert (
        "method.feature_whitening=zca whitens each view's 128-d backbone features over data.batch_size=64 "
        "samples: the covariance is singular; use data.batch_size >= 129 or method.feature_whitening=iternorm"
    ) in caught.value.problems


def test_the_spectrum_family_sweep_composes_and_every_job_passes_the_checks():
    """Every job of ``-m experiment=investigate/spectrum_family`` (composed here, not run)."""
    from whitening_ssl.stages import check_config

    params = compose_config(["experiment=investigate/spectrum_family"], with_hydra=True).hydra.sweeper.params
    methods, layers = params["method"].split(","), params["method.feature_whitening"].split(",")
    assert methods == ["w_mse2", "cw_rgp2", "intl", "resa", "lejepa", "byol"] and layers == ["null", "iternorm"]
    budgets = set()
    for method in methods:
        for layer in layers:
            cfg = compose_config(
                ["experiment=investigate/spectrum_family", f"method={method}", f"method.feature_whitening={layer}"],
                run_dir="/tmp/unused",
            )
            check_config(cfg, check_machine=False)
            assert cfg.method.name == method
            assert cfg.method.feature_whitening == (None if layer == "null" else "iternorm")
            m = cfg.method
            budgets.add(
                (
                    cfg.dataset.name,
                    cfg.backbone.name,
                    cfg.epochs,
                    cfg.data.batch_size,
                    m.optimizer,
                    m.lr,
                    m.weight_decay,
                    m.warmup_steps,
                    m.schedule,
                    m.feature_whitening_iters,
                    cfg.dataset.options.pretrain_subset,
                    cfg.eval.linear_epochs,
                    cfg.eval.evaluate_untrained,
                )
            )
    assert budgets == {
        ("fashion_mnist", "resnet_tiny", 3, 128, "adam", 2.0e-3, 1.0e-6, 10, "cosine", 5, 1280, 30, True)
    }


def _module(*overrides):
    from omegaconf import OmegaConf

    from whitening_ssl.methods import build_method

    cfg = compose_config([*overrides, "method.head_size=32", "method.emb=16", "method.sigreg_slices=8"])
    backbone = {"name": "resnet_tiny", "width": 4, "stem": "cifar"}
    return build_method(backbone, OmegaConf.to_container(cfg.method, resolve=True), cfg.data.num_views)


@pytest.mark.parametrize(
    "overrides",
    [
        ["method=resa", "method.predictor=true", "method.pred_hidden=32"],
        ["method=resa", "method.pred_hidden=32", "method.head_bn=false", "method.head_activation=gelu"],
        ["method=lejepa"],
        ["method=byol", "method.pred_hidden=32", "method.feature_whitening=iternorm", "method.sigreg_weight=0.5"],
    ],
)
def test_multi_crop_views_train_the_new_methods(overrides):
    """Two global views of 16 px and two local ones of 8 px (ReSA's momentum copy takes views 0 and 1)."""
    module = _module(*overrides, "data.num_views=4").train()
    torch.manual_seed(0)
    views = [torch.randn(8, 3, 16, 16), torch.randn(8, 3, 16, 16), torch.randn(8, 3, 8, 8), torch.randn(8, 3, 8, 8)]
    module.on_train_batch_start(views, 0) if hasattr(type(module), "on_train_batch_start") else None
    embeddings = module.encode(views)
    output = module.add_sigreg(module.compute_loss(embeddings, views), embeddings)
    loss = output.loss
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in module.backbone.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and sum(g.abs().sum() for g in grads) > 0
    if "method.sigreg_weight=0.5" in overrides:
        assert output.terms["train/sigreg"] > 0
        assert module.feature_whitening.running_mean.abs().sum() > 0  # the layer's statistics followed the pass


def test_resa_vit_heads_have_gelu_and_no_batchnorm():
    """``method.head_bn=false method.head_activation=gelu``: ReSA's ViT projector (``Linear-GELU`` x 2, ``Linear``)
    and predictor (``LayerNorm(eps 1e-6)-Linear-GELU-Linear``)."""

    def layers(module):
        return [layer for layer in module.modules() if not list(layer.children())]

    module = _module("method=resa", "method.head_bn=false", "method.head_activation=gelu", "method.pred_hidden=32")
    assert [type(layer).__name__ for layer in layers(module.head)] == ["Linear", "GELU", "Linear", "GELU", "Linear"]
    predictor = layers(module.predictor)
    assert [type(layer).__name__ for layer in predictor] == ["LayerNorm", "Linear", "GELU", "Linear"]
    assert predictor[0].eps == 1e-6 and predictor[0].normalized_shape == (16,)
    default = _module("method=resa", "method.pred_hidden=32")  # the ResNet heads keep their BatchNorm and ReLU
    names = [type(layer).__name__ for layer in layers(default.predictor)]
    assert names[0] == "Linear" and "BatchNorm1d" in names[1] and names[2:] == ["ReLU", "Linear"]  # per view or not
    assert "BatchNorm1d" in type(layers(default.head)[-1]).__name__


def test_a_resume_and_every_process_draw_the_same_slices():
    """The directions are a function of the run's seed (``pl.seed_everything(seed)``, which every process and a
    resumed run call first) and the step, whatever was drawn before."""
    import pytorch_lightning as pl

    module = _module("method=lejepa")
    pl.seed_everything(7)
    first = module.sigreg_directions(16, "cpu")
    torch.rand(1000)  # other draws in between
    pl.seed_everything(7)  # a resumed run (or a second process) seeds again
    torch.testing.assert_close(module.sigreg_directions(16, "cpu"), first, rtol=0, atol=0)
    pl.seed_everything(8)
    assert not torch.equal(module.sigreg_directions(16, "cpu"), first)
