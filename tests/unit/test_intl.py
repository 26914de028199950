"""INTL (Weng et al., ICLR 2024): iterative normalisation, the trace loss, the INTL loss, the trade-off rule,
the momentum schedule, one backbone pass per resolution, and its presets (runs: tests/integration/test_intl_runs.py)."""

import math

import pytest
import torch
from helpers import compose_config
from torch import nn

from whitening_ssl.losses import INTLLoss, intl_trade_off, trace_loss
from whitening_ssl.models import per_view_batchnorm
from whitening_ssl.reference import intl_loss_reference, trace_loss_reference, whiten_block_reference
from whitening_ssl.whitening import Whitening, draw_channel_permutations, whiten


def _blocks(num, m, d, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(num, m, d, generator=gen, dtype=torch.float64)
        @ torch.randn(d, d, generator=gen, dtype=torch.float64)
        + 1.0
    )


# --- iterative normalisation -------------------------------------------------------------------------------


@pytest.mark.parametrize("axis,m,d", [("batch", 32, 8), ("channel", 8, 32)])
@pytest.mark.parametrize("iters", [1, 4, 7])
@pytest.mark.parametrize("groups,random", [(1, False), (2, False), (2, True)])
def test_iternorm_equals_the_plain_loop_values_and_gradients(axis, m, d, iters, groups, random):
    x = _blocks(5, m, d, seed=iters).requires_grad_()
    permutation = draw_channel_permutations(5, d, generator=torch.Generator().manual_seed(3)) if random else None
    weights = torch.randn(5, m, d, dtype=torch.float64)
    z = whiten(x, "iternorm", axis=axis, groups=groups, random_groups=random, iters=iters, permutation=permutation)
    (z * weights).sum().backward()
    reference_input = x.detach().clone().requires_grad_()
    reference = torch.stack(
        [
            whiten_block_reference(
                block,
                "iternorm",
                axis,
                groups,
                permutation=None if permutation is None else permutation[k],
                iters=iters,
            )
            for k, block in enumerate(reference_input)
        ]
    )
    (reference * weights).sum().backward()
    assert torch.allclose(z, reference, atol=1e-10)
    assert torch.allclose(x.grad, reference_input.grad, atol=1e-8)


def test_iternorm_modulates_the_spectrum_without_inverting_it():
    """The output covariance's eigenvalues are ``p_T(l)^2 l`` of the trace-normalised ones: each iteration
    lifts the smallest towards 1 and none passes 1; 4 iterations (INTL's) are far from white, about 12 are
    white here (more make the uncoupled iteration unstable in floating point: see the kind's docstring)."""
    x = _blocks(1, 256, 8, seed=1)
    smallest = []
    for iters in (1, 2, 4, 8, 12):
        z = whiten(x, "iternorm", axis="batch", iters=iters)[0]
        eigenvalues = torch.linalg.eigvalsh(z.T @ z / 255)
        assert eigenvalues.max() <= 1 + 1e-3
        smallest.append(float(eigenvalues.min()))
    assert smallest == sorted(smallest) and smallest[2] < 0.1  # INTL's 4 iterations: not white
    assert smallest[-1] > 0.99


def test_iternorm_runs_in_float32_under_autocast():
    x = torch.randn(2, 16, 32, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert Whitening("iternorm", axis="channel")(x).dtype == torch.float32


# --- the trace loss and the INTL loss ----------------------------------------------------------------------


@pytest.mark.parametrize("axis", ["batch", "channel"])
def test_trace_loss_equals_the_formula(axis):
    t = _blocks(3, 16, 8, seed=2).requires_grad_()
    loss = trace_loss(t, axis)
    assert loss.shape == (3,)
    reference = torch.stack([trace_loss_reference(view, axis) for view in t])
    assert torch.allclose(loss, reference, atol=1e-10)
    (grad,) = torch.autograd.grad(loss.sum(), t)
    (reference_grad,) = torch.autograd.grad(reference.sum(), t)
    assert torch.allclose(grad, reference_grad, atol=1e-10)


@pytest.mark.parametrize("axis", ["batch", "channel"])
@pytest.mark.parametrize("views", [2, 4, 6])
@pytest.mark.parametrize("anchor_trace", [True, False])
def test_intl_loss_equals_the_per_view_loop(axis, views, anchor_trace):
    t = _blocks(views, 16, 8, seed=views).requires_grad_()
    loss = INTLLoss(0.05, axis, anchor_trace)(t)
    reference = intl_loss_reference(list(t), 0.05, axis, anchor_trace)
    assert torch.allclose(loss, reference, atol=1e-10)
    (grad,) = torch.autograd.grad(loss, t)
    (reference_grad,) = torch.autograd.grad(reference, t)
    assert torch.allclose(grad, reference_grad, atol=1e-10)


def test_the_trade_off_rule():
    assert intl_trade_off("channel", 256, 2048) == pytest.approx(0.05)  # (log2 256 - 3) / 100
    assert intl_trade_off("channel", 128, 8192) == pytest.approx(0.04)
    assert intl_trade_off("batch", 256, 8192) == pytest.approx(0.10)  # from the embedding size
    assert intl_trade_off("channel", 1024, 64) == pytest.approx(0.07)


def test_the_momentum_follows_the_authors_cosine_schedule():
    from whitening_ssl.methods import INTLMethod

    class Progress:
        method = {"momentum_base": 0.996}

    for progress, expected in ((0.0, 0.996), (0.5, 0.998), (1.0, 1.0)):
        Progress.training_progress = progress
        assert INTLMethod.momentum.fget(Progress()) == pytest.approx(expected)
    # the authors': m = 1 - 0.5 (1 + cos(pi step / total)) (1 - m_0)
    Progress.training_progress = 0.25
    assert INTLMethod.momentum.fget(Progress()) == pytest.approx(1 - 0.5 * (1 + math.cos(math.pi / 4)) * 0.004)


# --- one backbone pass per resolution ----------------------------------------------------------------------


def _multi_resolution_module(num_views):
    """A pretraining module's encode with a small conv backbone and head, per-view BatchNorm in both."""
    from whitening_ssl.methods.base import PretrainModule

    torch.manual_seed(0)
    module = PretrainModule.__new__(PretrainModule)
    nn.Module.__init__(module)
    module.num_views, module.channels_last = num_views, False
    module.backbone = per_view_batchnorm(
        nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        ).double(),
        num_views,
    )
    module.head = per_view_batchnorm(
        nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 5)).double(), num_views
    )
    return module


def test_multi_crop_views_take_one_pass_per_resolution_and_equal_the_per_crop_loop():
    sizes = [12, 12, 10, 8, 6]  # two views of the largest crop, then one of each smaller size
    gen = torch.Generator().manual_seed(4)
    views = [torch.randn(7, 3, s, s, generator=gen, dtype=torch.float64) for s in sizes]
    module = _multi_resolution_module(len(views))
    passes = []
    module.backbone.register_forward_hook(lambda mod, args, out: passes.append(args[0].shape))
    features, embeddings = module.encode(views, return_features=True)
    assert [tuple(p) for p in passes] == [(14, 3, 12, 12), (7, 3, 10, 10), (7, 3, 8, 8), (7, 3, 6, 6)]
    assert features.shape == (35, 4) and embeddings.shape == (5, 7, 5)
    (embeddings * torch.arange(embeddings.numel(), dtype=torch.float64).view_as(embeddings).cos()).sum().backward()

    loop = _multi_resolution_module(len(views))  # the same weights, plain BatchNorm, one view at a time
    plain_backbone = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    ).double()
    plain_head = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 5)).double()
    plain_backbone.load_state_dict(loop.backbone.state_dict())
    plain_head.load_state_dict(loop.head.state_dict())
    per_crop = torch.stack([plain_head(plain_backbone(view)) for view in views])
    (per_crop * torch.arange(per_crop.numel(), dtype=torch.float64).view_as(per_crop).cos()).sum().backward()
    assert torch.allclose(embeddings, per_crop, atol=1e-10)
    for batched, plain in ((module.backbone, plain_backbone), (module.head, plain_head)):
        for (name, p), q in zip(batched.named_parameters(), plain.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-10), name
        for (name, b), c in zip(batched.named_buffers(), plain.buffers()):
            assert torch.allclose(b.double(), c.double(), atol=1e-10), name  # running statistics


# --- the published presets -----------------------------------------------------------------------------------

INTL_PRESETS = {
    # preset: (method, dataset, epochs, lr, weight decay, decay of biases/BN, head size, emb, views, global batch)
    "paper_intl/cifar10": ("intl", "cifar10", 1000, 0.3, 1e-4, True, 2048, 2048, 2, 256),
    "paper_intl/cifar100": ("intl", "cifar100", 1000, 0.3, 1e-4, True, 2048, 2048, 2, 256),
    "paper_intl/imagenet100": ("intl", "imagenet100", 400, 0.25, 2.5e-5, False, 4096, 8192, 2, 128),
    "paper_intl/imagenet_800ep": ("intl", "imagenet", 800, 0.3, 1e-5, False, 8192, 8192, 2, 256),
    "paper_intl/imagenet_multicrop_100ep": ("intl_m", "imagenet", 100, 0.5, 1e-5, False, 8192, 8192, 6, 256),
    "paper_intl/imagenet_multicrop_200ep": ("intl_m", "imagenet", 200, 0.4, 1e-5, False, 8192, 8192, 6, 256),
    "paper_intl/imagenet_multicrop_400ep": ("intl_m", "imagenet", 400, 0.4, 1e-5, False, 8192, 8192, 6, 256),
    "paper_intl/imagenet_multicrop_800ep": ("intl_m", "imagenet", 800, 0.3, 1e-5, False, 8192, 8192, 6, 256),
}


@pytest.mark.parametrize("preset", sorted(INTL_PRESETS))
def test_each_intl_preset_holds_the_published_values(preset):
    method, dataset, epochs, lr, wd, decay_1d, head, emb, views, batch = INTL_PRESETS[preset]
    cfg = compose_config([f"experiment={preset}", "dataset.root=/data/images"])
    m = cfg.method
    assert (m.name, cfg.dataset.name, cfg.epochs) == (method, dataset, epochs)
    assert (m.optimizer, m.lr, m.weight_decay, m.decay_norm_and_bias, m.momentum) == ("sgd", lr, wd, decay_1d, 0.9)
    assert (m.schedule, m.final_lr_fraction) == ("warmup_cosine", 0.001)
    steps_per_epoch = {"cifar10": 50_000, "cifar100": 50_000, "imagenet100": 126_689, "imagenet": 1_281_167}[dataset]
    assert m.warmup_steps == 2 * (steps_per_epoch // batch)  # the authors' 2 warm-up epochs
    assert (m.whiten, m.axis, m.iters, m.groups, m.eps, m.trade_off, m.gather) == (
        "iternorm",
        "channel",
        4,
        1,
        0.0,
        "auto",
        True,
    )
    assert (m.head_layers, m.head_size, m.emb, m.head_bias, m.bn_per_view, m.head_per_view) == (
        3,
        head,
        emb,
        False,
        True,
        True,
    )
    assert cfg.backbone.zero_init_residual is False
    assert cfg.data.num_views == views and cfg.data.batch_size * cfg.trainer.devices == batch
    assert m.momentum_encoder == (method == "intl_m")
    if method == "intl_m":
        assert m.momentum_base == 0.996


@pytest.mark.parametrize(
    "preset,lr,weight_decay",
    [
        ("paper_intl/imagenet_linear", 0.2, 1e-5),
        ("paper_intl/imagenet_multicrop_linear", 0.4, 1e-5),
        ("paper_intl/imagenet100_linear", 0.2, 1e-5),
    ],
)
def test_intl_linear_presets_hold_the_authors_evaluation(preset, lr, weight_decay):
    linear = compose_config([f"experiment={preset}", "ckpt=encoder.ckpt", "dataset.root=/data/images"]).linear
    assert (linear.protocol, linear.epochs, linear.optimizer, linear.lr, linear.weight_decay) == (
        "standard",
        100,
        "sgd",
        lr,
        weight_decay,
    )
    assert (linear.schedule, list(linear.drops), linear.drop_gamma) == ("step", [40, 20], 0.1)  # x0.1 at 60 and 80


@pytest.mark.parametrize("value", [-1, "many", True, float("inf")])
def test_a_bad_trade_off_is_one_line_from_the_check_and_the_loss(value):
    from whitening_ssl.stages import check_config
    from whitening_ssl.validation import ConfigError

    with pytest.raises(ValueError, match=r"^trade_off=.* must be a number >= 0$"):
        INTLLoss(value)
    cfg = compose_config(["method=intl", f"method.trade_off={value}", "dataset=synthetic", "logger=none"])
    with pytest.raises(ConfigError) as caught:
        check_config(cfg, check_machine=False)
    assert (
        f"method.trade_off={cfg.method.trade_off!r} must be a number >= 0 (or auto: the authors' rule)"
        in caught.value.problems
    )
