"""The files of a run folder, named once (the stages write them, the report and the resume read them), and the
plain names a folder may be given."""

import re
from typing import Any

RESULTS_FILE = "results.json"  # final and per-evaluation figures, configuration, overrides
CHECKPOINT_DIR = "checkpoints"  # last.ckpt every epoch, epochNNNN.ckpt keeps, meta.json
LAST_CHECKPOINT = "last.ckpt"
META_FILE = "meta.json"  # epoch and step of last.ckpt, why it was written, the W&B run id
LOCK_FILE = ".run.lock"  # the live run's process id and host
ANALYSIS_DIR = "analysis"  # the figures of each evaluation's measurements
CLASSIFIER_FILE = "linear_classifier.pt"  # stage=linear's trained classifier


def safe_name(value: Any) -> str:
    """``value`` as one plain name that cannot become a path: no separators, no ``..``, no leading dot
    (anything outside ``[A-Za-z0-9_.+-]`` becomes ``_``)."""
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", str(value))
    name = re.sub(r"\.{2,}", "_", name).lstrip(".")[:100]
    return name or "_"


def finished_run(run_dir, dir_key: str = "hydra.run.dir"):
    """The one-line refusal for a folder that holds a run's finished work (a complete checkpoint or results), or
    ``None``. A partial ``.last.ckpt.tmp`` left by a kill during the first save is no work: that folder starts
    afresh."""
    from pathlib import Path

    run_dir = Path(run_dir)
    previous = [
        name
        for name, present in (
            (RESULTS_FILE, (run_dir / RESULTS_FILE).exists()),
            (CHECKPOINT_DIR, any((run_dir / CHECKPOINT_DIR).glob("*.ckpt"))),
        )
        if present
    ]
    if not previous:
        return None
    return (
        f"{run_dir} already holds a run ({', '.join(previous)}): resume it with ckpt_path=last "
        f"hydra.run.dir={run_dir}, or choose another {dir_key}"
    )


def name_too_long(run_dir, dir_key: str = "hydra.run.dir"):
    """The one-line refusal for a folder whose name (any part of its path) is longer than the file system
    allows (255 bytes on most), or ``None``."""
    import os
    from pathlib import Path

    path = Path(run_dir).absolute()
    existing = next(parent for parent in (path, *path.parents) if os.path.exists(parent))  # (no OSError)
    try:
        limit = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            return (
                f"the folder name {part[:40]}... in {dir_key} is {len(os.fsencode(part))} bytes long, over the "
                f"file system's limit of {limit} bytes per name: choose a shorter {dir_key}"
            )
    return None
