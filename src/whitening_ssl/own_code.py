"""The pre-run check of a user's own code: called once, on a small block of the size the run will use.

A whitening kind, a loss or a method of the user's own (``module.attribute``, see :mod:`whitening_ssl.plugins`)
is code this project did not test. Before anything starts, :func:`try_call` calls it once on random numbers of
the shape the run will give it and reports, in one line naming the function, a call its signature does not
take, an exception it raises, a result of the wrong shape, or a result without a gradient, so a mistake there
is one ``error:`` line (exit 2) like any other bad setting instead of a traceback after the data has loaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor


def block(*shape: int) -> Tensor:
    """Fixed random numbers of ``shape`` (float32) that carry a gradient."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn(*shape, generator=generator).requires_grad_(True)


def _shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def try_call(
    checks,
    key: str,
    name: str,
    function: Callable[..., Any],
    args: Sequence[Any],
    kwargs: dict,
    expected: Sequence[int],
    form: str,
    input_: Tensor,
) -> Tensor | None:
    """Call ``function(*args, **kwargs)`` once; a problem becomes one line of ``checks`` that starts with
    ``key=name``. ``expected``: the shape the result must have (``()`` for a scalar); ``form``: how the
    function must be written, for the message; ``input_``: the tensor the result must have a gradient from."""
    where = f"{key}={name}"
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError as error:
        checks.add(
            f"{where}: its signature does not take the call {form} ({error}): write it as {form} "
            "(see docs/extending.md)"
        )
        return None
    except ValueError:  # no signature to read (a builtin): the call below says it
        pass
    try:
        result = function(*args, **kwargs)
    except Exception as error:
        message = " ".join(str(error).split())[:300]
        checks.add(
            f"{where} raised {type(error).__name__} ({message}) when called once on a {_shape(input_.shape)} "
            "block of random numbers, the size this run gives it: fix it, or check it alone on such a block"
        )
        return None
    if not isinstance(result, Tensor) or tuple(result.shape) != tuple(expected):
        got = _shape(result.shape) if isinstance(result, Tensor) else f"a {type(result).__name__}"
        checks.add(
            f"{where} returned {got} for a {_shape(input_.shape)} input: it must return "
            f"{'a scalar' if not expected else _shape(expected)} (see docs/extending.md)"
        )
        return None
    if not result.requires_grad:
        checks.add(
            f"{where} returned a result without a gradient from its input (a .detach(), .item(), .numpy() or "
            "torch.no_grad() inside?): training could not update the network through it"
        )
        return None
    try:
        result.float().sum().backward()
    except Exception as error:
        checks.add(f"{where}: its backward pass raised {type(error).__name__} ({' '.join(str(error).split())[:300]})")
        return None
    return result


def probe_kind(checks, kind, settings, samples: int, channels: int, path: str) -> None:
    """Call a whitening kind of the user's own once on the stack of blocks the transform gives it for a
    ``[samples, channels]`` block (``settings``: the ``method.*`` node)."""
    groups = settings.get("groups") or 1
    if kind.uses_covariance:
        per_group = channels // groups
        shape: tuple[int, ...] = (
            (1, groups, samples, per_group) if settings.get("axis") == "batch" else (1, groups, per_group, samples)
        )
    else:
        shape = (1, samples, channels)
    x = block(*shape)
    centred = x - x.mean(dim=-2 if kind.uses_covariance else 1, keepdim=True)
    own = {key: settings.get(key, default) for key, default in kind.settings.items()}
    eps, denom_offset = settings.get("eps", 0.0), settings.get("denom_offset", 1)
    try_call(
        checks,
        f"{path}whiten",
        str(settings.get("whiten")),
        kind.transform,
        (centred, eps, denom_offset),
        own,
        shape,
        "f(x, eps, denom_offset, *, <own settings>)",
        x,
    )


def probe_loss(checks, loss, name: str, method, data) -> None:
    """Call a loss of the user's own once on embeddings ``[views, batch, emb]`` of this run's size."""
    views, batch, emb = data.get("num_views"), data.get("batch_size"), method.get("emb")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (views, batch, emb)):
        return
    x = block(views, batch, emb)
    try_call(checks, "method.loss.name", name, loss.forward, (x,), {}, (), "forward(self, embeddings) -> scalar", x)


def check_method(checks, method_class, family: str, method, data) -> None:
    """A method family's ``check_config``; for one of the user's own, an exception it raises is one line, and
    its ``compute_loss`` must take ``(embeddings, views)``."""
    try:
        method_class.check_config(checks, method, data)
    except Exception as error:
        checks.add(
            f"method.family={family}: its check_config raised {type(error).__name__} "
            f"({' '.join(str(error).split())[:300]}): fix it (see docs/extending.md)"
        )
        return
    try:
        inspect.signature(method_class.compute_loss).bind(None, None, None)
    except TypeError as error:
        checks.add(
            f"method.family={family}: its compute_loss does not take (self, embeddings, views) ({error}): "
            "write it as compute_loss(self, embeddings, views) -> (loss, logs) (see docs/extending.md)"
        )
