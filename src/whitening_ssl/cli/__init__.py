"""The command line: what `run.py` runs (`entry`: the checks before anything, the stage, its errors in one line),
the torch/torchvision check at start (`install`), `--help` (`help`, `help_method`), the dry run and Hydra's errors in
one line (`preflight`), and the summary after a sweep (`sweep_summary`). Light to import: `--help` never loads torch."""
