"""Which process this is: rank 0 (the main process) or a DDP child, known without importing Lightning.

Lightning takes the rank from the environment when it is imported (``RANK``, ``LOCAL_RANK``, ``SLURM_PROCID``,
``JSM_NAMESPACE_RANK``, the first one set) and sets it again when its strategy starts. Before Lightning is
imported (the pre-run check) the same environment gives the same answer; after, Lightning's own value is used.
"""

from __future__ import annotations

import os
import sys

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def process_rank() -> int:
    """This process's global rank (0 when not distributed)."""
    lightning = sys.modules.get("lightning_fabric.utilities.rank_zero")
    if lightning is not None:
        return int(getattr(lightning.rank_zero_only, "rank", 0) or 0)
    return next((int(os.environ[key]) for key in RANK_VARIABLES if os.environ.get(key) is not None), 0)


def is_main_process() -> bool:
    """Rank 0 (also before the DDP processes are launched)."""
    return process_rank() == 0
