"""Per-view BatchNorm in one pass equals one BatchNorm call per view; stems follow the dataset."""

import copy

import pytest
import torch
from torch import nn

from whitening_ssl.data import get_spec
from whitening_ssl.models import ViewBatchNorm1d, ViewBatchNorm2d, build_backbone, per_view_batchnorm, resolve_stem


def _layers(kind, channels, momentum, affine):
    plain = (nn.BatchNorm2d if kind == "2d" else nn.BatchNorm1d)(channels, momentum=momentum, affine=affine).double()
    if affine:
        with torch.no_grad():
            plain.weight.copy_(torch.linspace(0.5, 2.0, channels, dtype=torch.float64))
            plain.bias.copy_(torch.linspace(-1.0, 1.0, channels, dtype=torch.float64))
    return plain, per_view_batchnorm(copy.deepcopy(plain), num_views=3)


@pytest.mark.parametrize("kind", ["1d", "2d"])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine", [True, False])
def test_one_pass_equals_one_call_per_view(kind, momentum, affine):
    channels, views, batch = 5, 3, 7
    plain, per_view = _layers(kind, channels, momentum, affine)
    assert isinstance(per_view, ViewBatchNorm2d if kind == "2d" else ViewBatchNorm1d)
    shape = (views * batch, channels, 4, 3) if kind == "2d" else (views * batch, channels)
    gen = torch.Generator().manual_seed(0)
    for step in range(3):  # several steps: the running statistics accumulate
        x = (torch.randn(shape, generator=gen, dtype=torch.float64) * (1 + step) + step).requires_grad_()
        weights = torch.randn(shape, generator=gen, dtype=torch.float64)
        out = per_view(x)
        x_ref = x.detach().clone().requires_grad_()
        expected = torch.cat([plain(chunk) for chunk in x_ref.chunk(views)])
        assert torch.allclose(out, expected, atol=1e-12)
        (out * weights).sum().backward()
        (expected * weights).sum().backward()
        assert torch.allclose(x.grad, x_ref.grad, atol=1e-11)
        if affine:
            for a, b in ((per_view.weight, plain.weight), (per_view.bias, plain.bias)):
                assert torch.allclose(a.grad, b.grad, atol=1e-11)
                a.grad = b.grad = None
        assert torch.allclose(per_view.running_mean, plain.running_mean, atol=1e-12)
        assert torch.allclose(per_view.running_var, plain.running_var, atol=1e-12)
        assert int(per_view.num_batches_tracked) == int(plain.num_batches_tracked) == views * (step + 1)
    per_view.eval(), plain.eval()  # eval mode: the running statistics, per sample: no difference
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    assert torch.allclose(per_view(x), plain(x), atol=1e-12)


def test_half_precision_activations_get_float32_statistics():
    """Under AMP the activations are bfloat16; the statistics, running statistics and the gradient's
    sums are float32: equal to the float32 computation on the same (bfloat16-rounded) values."""
    plain, per_view = _layers("2d", 6, 0.1, True)
    plain, per_view = plain.float(), per_view.float()
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(3 * 8, 6, 5, 5, generator=gen) * 3 + 20).bfloat16()  # a large mean: no cancellation allowed
    x_half = x.clone().requires_grad_()
    out = per_view(x_half)
    assert out.dtype == torch.bfloat16
    x_ref = x.float().requires_grad_()
    expected = torch.cat([plain(chunk) for chunk in x_ref.chunk(3)])
    assert torch.allclose(out.float(), expected, atol=3e-2)  # the output is rounded to bfloat16
    assert torch.allclose(per_view.running_mean, plain.running_mean, rtol=1e-6, atol=1e-5)
    assert torch.allclose(per_view.running_var, plain.running_var, rtol=1e-5)
    # the upstream gradient reaches the layer in bfloat16: give the float32 reference the same rounded values
    weights = torch.randn(expected.shape, generator=gen).bfloat16().float()
    (out.float() * weights).sum().backward()
    (expected * weights).sum().backward()
    assert torch.allclose(per_view.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-4)
    assert torch.allclose(x_half.grad.float(), x_ref.grad, atol=3e-2)


def test_zero_channels_have_finite_gradients():
    _, per_view = _layers("2d", 3, 0.1, True)
    x = torch.randn(6, 3, 4, 4, dtype=torch.float64)
    x[:, 1] = 0.0  # a dead channel (all ReLU outputs zero)
    x.requires_grad_()
    per_view(x).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(per_view.weight.grad).all()


def test_channels_last_input_and_state_dict_names():
    plain, per_view = _layers("2d", 4, 0.1, True)
    x = torch.randn(6, 4, 5, 5, dtype=torch.float64).to(memory_format=torch.channels_last)
    expected = torch.cat([plain(chunk.contiguous()) for chunk in x.chunk(3)])
    assert torch.allclose(per_view(x), expected, atol=1e-12)
    assert list(per_view.state_dict()) == list(plain.state_dict())


def test_conversion_keeps_the_parameters_and_refuses_uneven_views():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Sequential(nn.BatchNorm1d(4)))
    weight = net[1].weight
    per_view_batchnorm(net, num_views=2)
    assert isinstance(net[1], ViewBatchNorm1d) and isinstance(net[2][0], ViewBatchNorm1d)
    assert net[1].weight is weight  # an optimiser built before still holds the same tensors
    with pytest.raises(ValueError, match="not 2 views of equal size"):
        net(torch.randn(5, 3))


# --- stems follow the dataset --------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset,stem,kernel,maxpool",
    [
        ("cifar10", "cifar", 3, False),
        ("cifar100", "cifar", 3, False),
        ("stl10", "small", 3, True),
        ("tiny_imagenet", "small", 3, True),
        ("imagenet", "imagenet", 7, True),
        ("imagenet100", "imagenet", 7, True),
    ],
)
def test_the_default_backbone_takes_the_datasets_stem(dataset, stem, kernel, maxpool, tmp_path):
    for split in ("train", "val"):
        (tmp_path / split / "n01").mkdir(parents=True)  # ImageNet's spec lists the class folders
    spec = get_spec(dataset, tmp_path) if dataset == "imagenet" else get_spec(dataset)
    assert spec.stem == stem
    backbone, _ = build_backbone(**resolve_stem({"name": "resnet18", "stem": "auto"}, spec.stem))
    assert backbone.conv1.kernel_size == (kernel, kernel)
    assert isinstance(backbone.maxpool, nn.MaxPool2d) == maxpool
    stated, _ = build_backbone(**resolve_stem({"name": "resnet18", "stem": "cifar"}, spec.stem))
    assert stated.conv1.kernel_size == (3, 3) and isinstance(stated.maxpool, nn.Identity)  # a stated stem wins
