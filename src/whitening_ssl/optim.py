"""Optimisers by name (one registry for every stage), LARS, which torch does not have, the parameter
groups that skip weight decay and the cosine weight-decay schedule of the ViT recipes."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

#: parameters named so (a ViT's position embeddings and its class / register / distillation tokens) take no
#: weight decay when ``method.decay_norm_and_bias`` is false, besides every 1-D parameter (norms, biases)
NO_DECAY_NAMES = ("pos_embed", "cls_token", "reg_token", "dist_token")


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You et al. 2017).

    For every parameter with more than one dimension, the update ``g + weight_decay * p`` is scaled
    by ``trust_coefficient * ||p|| / ||g + weight_decay * p||`` (when both norms are non-zero);
    biases and normalisation parameters (1-d) take plain SGD steps, as in the linear-evaluation
    code of MoCo v3 / Barlow Twins.
    """

    def __init__(
        self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, trust_coefficient: float = 0.001
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust_coefficient=trust_coefficient)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                update = param.grad
                if param.ndim > 1:
                    update = update.add(param, alpha=group["weight_decay"])
                    param_norm, update_norm = torch.norm(param), torch.norm(update)
                    trust = torch.where(
                        (param_norm > 0) & (update_norm > 0),
                        group["trust_coefficient"] * param_norm / update_norm,
                        torch.ones_like(param_norm),
                    )
                    update = update.mul(trust)
                state = self.state[param]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.clone(update).detach()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(update)
                param.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


#: name -> factory(params, lr, weight_decay, momentum): the one way optimisers are built
OPTIMIZERS = {
    "adam": lambda params, lr, weight_decay, momentum: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
    "adamw": lambda params, lr, weight_decay, momentum: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
    "sgd": lambda params, lr, weight_decay, momentum: torch.optim.SGD(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay
    ),
    "lars": lambda params, lr, weight_decay, momentum: LARS(
        params, lr=lr, momentum=momentum, weight_decay=weight_decay
    ),
}


def build_optimizer(name: str, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9):
    """The optimiser ``name`` (a key of :data:`OPTIMIZERS`) over ``params``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not available: use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, weight_decay, momentum)


def skips_weight_decay(name: str, parameter: nn.Parameter) -> bool:
    """A norm's or bias's parameter (1-D), a position embedding or a token (:data:`NO_DECAY_NAMES`)."""
    return parameter.ndim <= 1 or name.rsplit(".", 1)[-1] in NO_DECAY_NAMES


def parameter_groups(named: Iterable[tuple[str, nn.Parameter]], decay_norm_and_bias: bool) -> list[dict]:
    """The trained parameters in one group, or (``decay_norm_and_bias`` false) two: those with weight decay and
    those without (:func:`skips_weight_decay`), the second with ``weight_decay`` 0."""
    named = [(name, p) for name, p in named if p.requires_grad]
    if decay_norm_and_bias:
        return [{"params": [p for _, p in named]}]
    return [
        {"params": [p for name, p in named if not skips_weight_decay(name, p)]},
        {"params": [p for name, p in named if skips_weight_decay(name, p)], "weight_decay": 0.0},
    ]


def cosine_weight_decay(step: int, total_steps: int, start: float, end: float | None) -> float:
    """Weight decay at ``step``: ``start`` (``end`` None), or a half cosine from ``start`` to ``end`` over
    ``total_steps`` (DINO's schedule, 0.04 -> 0.4 for ViTs)."""
    if end is None:
        return start
    progress = min(step / max(total_steps - 1, 1), 1.0)
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * progress))
