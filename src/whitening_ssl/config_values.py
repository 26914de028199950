"""Plain Python values of an OmegaConf node, typed for the code that reads them."""

from __future__ import annotations

from typing import Any, cast

from omegaconf import OmegaConf


def plain_dict(node: Any, resolve: bool = True, **options: Any) -> dict[str, Any]:
    """``OmegaConf.to_container`` of a mapping node (interpolations resolved unless ``resolve=False``)."""
    return cast("dict[str, Any]", OmegaConf.to_container(node, resolve=resolve, **options))


def plain_list(node: Any) -> list[Any]:
    """``OmegaConf.to_container`` of a list node (e.g. Hydra's ``overrides.task``)."""
    return cast("list[Any]", OmegaConf.to_container(node))
