"""What a method's step returns: :class:`LossOutput`, the loss with what is logged and measured of it."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class LossOutput:
    """The result of :meth:`~whitening_ssl.methods.PretrainModule.compute_loss`.

    Attributes:
        loss: the scalar that is minimised (logged as ``train/loss``).
        terms: further values logged for the step, ``{"train/<name>": scalar}`` (e.g. the parts of a sum).
        whitened: on a measured step (``compute_loss(..., measure=True)``), the method's whitened output as
            its loss made it, detached: blocks ``[k, V, m, d]``, each ``[m, d]`` whitened on its own (INTL:
            one block per view over the whole batch, ``[1, V, N, d]``); ``None`` on other steps and for
            methods without a whitening.
    """

    loss: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)
    whitened: Tensor | None = None
