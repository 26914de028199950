"""Optimisers by name (one registry for every stage) and LARS, which torch does not have."""

from __future__ import annotations

import torch


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You et al. 2017).

    For every parameter with more than one dimension, the update ``g + weight_decay * p`` is scaled
    by ``trust_coefficient * ||p|| / ||g + weight_decay * p||`` (when both norms are non-zero);
    biases and normalisation parameters (1-d) take plain SGD steps, as in the linear-evaluation
    code of MoCo v3 / Barlow Twins.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 trust_coefficient: float = 0.001) -> None:
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
                    trust = torch.where((param_norm > 0) & (update_norm > 0),
                                        group["trust_coefficient"] * param_norm / update_norm, torch.ones_like(param_norm))
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
    "sgd": lambda params, lr, weight_decay, momentum: torch.optim.SGD(params, lr=lr, momentum=momentum,
                                                                      weight_decay=weight_decay),
    "lars": lambda params, lr, weight_decay, momentum: LARS(params, lr=lr, momentum=momentum,
                                                           weight_decay=weight_decay),
}


def build_optimizer(name: str, params, lr: float, weight_decay: float = 0.0, momentum: float = 0.9):
    """The optimiser ``name`` (a key of :data:`OPTIMIZERS`) over ``params``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not available: use one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, weight_decay, momentum)
