"""A whitening kind of your own: partial ("soft") ZCA whitening, ``W = U diag(l^-power) U^T``.

``power = 1/2`` is ZCA; a smaller ``power`` only shrinks the spread of the spectrum (the output's
covariance has eigenvalues ``l^(1 - 2 power)`` instead of 1), between no whitening (0) and full
whitening (1/2): a way to ask how much whitening a whitening loss needs. The function below is all
there is to it; the package's batching, grouping, random group partition, float32 math and the
pre-run checks come with it. Use it without editing the package (from the folder that holds
``examples/``)::

    python run.py experiment=quickstart method.whiten=examples.soft_whitening.soft_zca +method.power=0.25

``+method.power=0.25`` adds the kind's own setting (its default, 0.5, applies without it); a bad
value, ``+method.power=2``, is refused before anything starts, like any other setting.
"""

import torch

from whitening_ssl.whitening import covariance, whitening_kind


def _check(checks, settings, path):
    power = checks.number(settings, "power", f"{path}power", positive=True)
    if power is not None and power > 0.5:
        checks.add(f"{path}power={power} must be at most 0.5 (0.5 is ZCA: more would invert the spectrum)")


@whitening_kind(uses_covariance=True, full_rank=True, check=_check)
def soft_zca(x: torch.Tensor, eps: float, denom_offset: int, *, power: float = 0.5) -> torch.Tensor:
    """``x`` (a stack of centred blocks ``[..., n, p]``) times ``U diag(l^-power) U^T`` of its covariance."""
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance(x, eps, denom_offset))
    scale = eigenvalues.clamp(min=torch.finfo(x.dtype).tiny) ** -power
    return x @ (eigenvectors * scale.unsqueeze(-2)) @ eigenvectors.transpose(-1, -2)
