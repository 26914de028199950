"""Command-line entry point: ``python run.py [group=option ...] [key=value ...]`` (Hydra).

Examples::

    python run.py experiment=quickstart
    python run.py dataset=cifar100 method=w_mse4
    python run.py -m method.whiten=zca,cholesky
    python run.py stage=linear ckpt=outputs/.../checkpoints/last.ckpt
"""

import sys

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from whitening_ssl.checkpoints import CheckpointError
from whitening_ssl.config_checks import ConfigError
from whitening_ssl.data import DatasetNotFoundError
from whitening_ssl.train import run

# run directory label: <method>_<dataset> for pretraining, the stage's name for evaluation stages
# (whose method and dataset come from the checkpoint, not from the command line)
OmegaConf.register_new_resolver(
    "run_label", lambda stage, method, dataset: f"{method}_{dataset}" if stage == "pretrain" else stage, replace=True)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig):
    try:
        return run(cfg)
    except (ConfigError, DatasetNotFoundError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except MissingMandatoryValue as error:
        key = getattr(error, "full_key", None) or "a required value"
        print(f"error: {key} has no value: give it on the command line, e.g. {key}=...", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
