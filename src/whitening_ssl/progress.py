"""Progress bars for the long phases outside Lightning's training loop.

Feature extraction, the k-NN search, the linear probe's epochs and the analysis each show a bar like
Lightning's (tqdm, on standard output, the stream Lightning's own bar uses), on the main process
only, refreshed at most every :data:`REFRESH_SECONDS` and removed when the phase ends, so a long
evaluation is never silent and the log keeps only the results. ``enabled=False`` (the trainer's
``enable_progress_bar=false``) shows nothing.
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, Optional, TypeVar

from pytorch_lightning.utilities import rank_zero_only

T = TypeVar("T")
REFRESH_SECONDS = 1.0


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def bar(total: Optional[int], description: str, enabled: bool = True, unit: str = "batch"):
    """A bar of ``total`` steps (``update()``, ``set_postfix_str()``, ``close()``), or one that shows nothing."""
    if not enabled or rank_zero_only.rank != 0:
        return _Silent()
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, file=sys.stdout, leave=False, dynamic_ncols=True,
                mininterval=REFRESH_SECONDS)


def track(items: Iterable[T], total: Optional[int], description: str, enabled: bool = True,
          unit: str = "batch") -> Iterator[T]:
    """``items``, advancing a :func:`bar` by one per item."""
    progress = bar(total, description, enabled, unit)
    try:
        for item in items:
            yield item
            progress.update()
    finally:
        progress.close()
