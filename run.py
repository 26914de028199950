"""Command-line entry point: ``python run.py [group=option ...] [key=value ...]`` (Hydra).

Examples::

    python run.py experiment=quickstart
    python run.py dataset=cifar100 method=w_mse4
    python run.py -m method.whiten=zca,cholesky
    python run.py stage=linear ckpt=outputs/.../checkpoints/last.ckpt
"""

import hydra

from whitening_ssl.cli import main as run_stage
from whitening_ssl.preflight import one_line_hydra_errors

one_line_hydra_errors()  # Hydra's composition errors (method=nope, method.whitn=zca) as one line, exit 2


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg):
    return run_stage(cfg)


if __name__ == "__main__":
    main()
