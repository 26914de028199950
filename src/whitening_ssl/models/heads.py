"""Projection heads and predictors: the MLPs on top of the encoder.

Each is an ``nn.Sequential`` (so checkpoints keep the ``head.0.weight`` ... names). Whether their
BatchNorm statistics are taken per view or over all views is decided by the method
(``method.head_per_view``, see :mod:`whitening_ssl.models.view_norm`), not here.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


#: ``method.head_activation``: the non-linearity after each hidden layer of the head and the predictor
def _relu() -> nn.Module:
    return nn.ReLU(inplace=True)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": _relu, "gelu": nn.GELU}


class ProjectionHead(nn.Sequential):
    """``(layers - 1) x [Linear(hidden), BatchNorm1d, activation]`` then ``Linear(emb)``; ``layers=0``: identity.

    The head of W-MSE and CW-RGP (2 layers, hidden 1024 on the small datasets; 3 layers, hidden 2048,
    emb 1024 on ImageNet), of the baselines that use the same MLP, and INTL's projector (3 layers, the
    hidden ``Linear`` layers without bias: ``hidden_bias=False``; the last one keeps its bias). Without
    ``batch_norm`` and with ``activation="gelu"``: the ViT projector of ReSA's code (``Linear-GELU`` x 2, ``Linear``).
    """

    def __init__(
        self,
        in_dim: int,
        emb: int,
        hidden: int,
        layers: int,
        batch_norm: bool,
        hidden_bias: bool,
        activation: str = "relu",
    ) -> None:
        blocks: list[nn.Module] = []
        size = in_dim
        if layers > 0:
            for _ in range(layers - 1):
                blocks.append(nn.Linear(size, hidden, bias=hidden_bias))
                if batch_norm:
                    blocks.append(nn.BatchNorm1d(hidden))
                blocks.append(ACTIVATIONS[activation]())
                size = hidden
            blocks.append(nn.Linear(size, emb))
        super().__init__(*blocks)


class SimSiamProjector(nn.Sequential):
    """SimSiam's projector (Chen & He, CVPR 2021): ``3 x [Linear(no bias), BatchNorm1d]`` with ReLU
    between, the last BatchNorm without affine parameters; hidden size ``hidden``."""

    def __init__(self, in_dim: int, emb: int, hidden: int) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, emb, bias=False),
            nn.BatchNorm1d(emb, affine=False),
        )


class Predictor(nn.Sequential):
    """The predictor of BYOL (Grill et al., NeurIPS 2020) and SimSiam:
    ``Linear(emb, hidden)-BatchNorm1d-ReLU-Linear(emb)`` (SimSiam: no bias in the first layer).

    Without ``batch_norm`` it normalises its input instead, as ReSA's ViT code:
    ``LayerNorm(emb, eps=1e-6)-Linear(emb, hidden)-activation-Linear(emb)``.
    """

    def __init__(
        self, emb: int, hidden: int, bias: bool = True, batch_norm: bool = True, activation: str = "relu"
    ) -> None:
        first = nn.Linear(emb, hidden, bias=bias)
        act = ACTIVATIONS[activation]()
        if batch_norm:
            super().__init__(first, nn.BatchNorm1d(hidden), act, nn.Linear(hidden, emb))
        else:
            super().__init__(nn.LayerNorm(emb, eps=1e-6), first, act, nn.Linear(hidden, emb))
