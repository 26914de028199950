import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("HYDRA_FULL_ERROR", "1")

if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n 2: one CPU thread per worker (and per run.py it starts)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


KIND_ORDER = ("processes", "integration", "unit")


def pytest_collection_modifyitems(items):
    """The long-running kinds first, so that the two workers (pytest -n 2, a test file at a time) take the
    long files early and the many short unit tests fill in at the end; within a kind, the collected order."""

    def kind(item):
        parts = item.path.parts
        return next((KIND_ORDER.index(k) for k in KIND_ORDER if k in parts), len(KIND_ORDER))

    items.sort(key=kind)
