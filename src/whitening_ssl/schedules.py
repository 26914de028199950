"""Learning-rate schedules of the papers, as per-step multipliers of the base learning rate."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any


def warmup_factor(step: int, warmup_steps: int) -> float:
    """Linear warm-up ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps (the papers' ``lr_warmup``);
    1 from then on, and always when ``warmup_steps`` is 0."""
    return (step + 1) / warmup_steps if step < warmup_steps else 1.0


def step_drop_factor(
    epoch: int, max_epochs: int, drops: Sequence[int], gamma: float, steps_per_epoch: int = 1, warmup_steps: int = 0
) -> float:
    """``gamma`` per milestone passed, milestones at ``max_epochs - a`` for ``a`` in ``drops``.

    Reproduces the paper's ``MultiStepLR(milestones=[E - a for a in drops])`` stepped once per
    epoch next to a warm-up that writes the learning rate directly: a milestone ``m`` applies from
    0-based epoch ``m`` on; milestones below 1 never fire; and a milestone reached while the
    warm-up still runs (``m * steps_per_epoch < warmup_steps``) is overwritten by it, so it is lost.
    """
    passed = 0
    for a in drops:
        milestone = max_epochs - a
        if milestone >= 1 and epoch >= milestone and milestone * steps_per_epoch >= warmup_steps:
            passed += 1
    return gamma**passed


def _cosine_epoch(step: int, steps_per_epoch: int, max_epochs: int, warmup_steps: int) -> float:
    if step < warmup_steps:
        return warmup_factor(step, warmup_steps)
    epoch = step // max(steps_per_epoch, 1)
    return 0.5 * (1.0 + math.cos(math.pi * epoch / max_epochs))


def _step(
    step: int, steps_per_epoch: int, max_epochs: int, warmup_steps: int, *, drops: Sequence[int], gamma: float
) -> float:
    steps_per_epoch = max(steps_per_epoch, 1)
    return warmup_factor(step, warmup_steps) * step_drop_factor(
        step // steps_per_epoch, max_epochs, drops, gamma, steps_per_epoch, warmup_steps
    )


def _cosine(step: int, steps_per_epoch: int, max_epochs: int, warmup_steps: int) -> float:
    total = max(steps_per_epoch * max_epochs, 1)
    return warmup_factor(step, warmup_steps) * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


def _warmup_cosine(
    step: int, steps_per_epoch: int, max_epochs: int, warmup_steps: int, *, final_fraction: float
) -> float:
    """INTL's schedule: the linear warm-up, then ``q + final_fraction (1 - q)``, ``q = (1 + cos(pi s / S)) / 2``
    with ``s`` the step after the warm-up (from 1) and ``S`` the steps after it: a cosine to ``final_fraction``."""
    if step < warmup_steps:
        return warmup_factor(step, warmup_steps)
    after = max(steps_per_epoch * max_epochs - warmup_steps, 1)
    q = 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps + 1) / after))
    return q + final_fraction * (1.0 - q)


def _constant(step: int, steps_per_epoch: int, max_epochs: int, warmup_steps: int) -> float:
    return warmup_factor(step, warmup_steps)


#: name -> per-step multiplier of the base learning rate (see :func:`lr_factor`); a schedule's keyword-only
#: parameters are its own settings (``step``: ``drops`` and ``gamma``)
SCHEDULES: dict[str, Callable[..., float]] = {
    "step": _step,
    "cosine": _cosine,
    "cosine_epoch": _cosine_epoch,
    "warmup_cosine": _warmup_cosine,
    "constant": _constant,
}


def schedule_settings(schedule: str) -> tuple[str, ...]:
    """The own settings of ``schedule`` (its keyword-only parameters)."""
    parameters = inspect.signature(SCHEDULES[schedule]).parameters.values()
    return tuple(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


def lr_factor(
    step: int, steps_per_epoch: int, max_epochs: int, schedule: str, warmup_steps: int, **settings: Any
) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    ``step``: warm-up, then x``gamma`` at ``drops`` epochs before the end (small-dataset recipe);
    ``cosine``: warm-up, then cosine decay to 0 over all steps; ``cosine_epoch``: the ImageNet
    recipe, ``0.5 (1 + cos(pi epoch / E))`` set once per epoch, the warm-up overriding it during its
    first ``warmup_steps`` steps; ``constant``: warm-up only. ``settings``: exactly the schedule's own
    (:func:`schedule_settings`); another is refused.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    unknown = sorted(set(settings) - set(schedule_settings(schedule)))
    if unknown:
        raise ValueError(
            f"lr schedule {schedule!r} has no setting {', '.join(unknown)} (its own: "
            f"{', '.join(schedule_settings(schedule)) or 'none'})"
        )
    return SCHEDULES[schedule](step, steps_per_epoch, max_epochs, warmup_steps, **settings)


def byol_tau(progress: float, base_tau: float = 0.99) -> float:
    """BYOL target EMA rate at ``progress`` (fraction of training done, 0..1).

    ``tau = 1 - (1 - base_tau) (cos(pi progress) + 1) / 2``: ``base_tau`` at the start, 1 at the
    end (Grill et al. NeurIPS 2020; the paper's code updates the target every step with it).
    """
    return 1.0 - (1.0 - base_tau) * (math.cos(math.pi * progress) + 1.0) / 2.0
