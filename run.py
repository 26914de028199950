"""Command-line entry point: ``python run.py [group=option ...] [key=value ...]`` (Hydra).

Examples::

    python run.py experiment=quickstart
    python run.py dataset=cifar100 method=w_mse4
    python run.py -m method.whiten=zca,cholesky
    python run.py stage=linear ckpt=outputs/.../checkpoints/last.ckpt

Only light modules are imported here: ``--help`` and ``--cfg`` never import torch, and the stages
(:mod:`whitening_ssl.cli.entry`) are imported when a run or its check starts.
"""

import sys

import hydra

from whitening_ssl.cli import help as _help  # noqa: F401 (registers ${whitening_ssl_help:}: python run.py --help)
from whitening_ssl.cli.install import check_torch_pair
from whitening_ssl.cli.preflight import one_line_hydra_errors, runs_nothing

one_line_hydra_errors()  # Hydra's composition errors (method=nope, method.whitn=zca) as one line, exit 2
check_torch_pair(import_check=not runs_nothing(sys.argv[1:]))  # a torchvision built for another torch: one line


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    from whitening_ssl.cli.entry import main as run_stage

    return run_stage(cfg)


if __name__ == "__main__":
    main()
