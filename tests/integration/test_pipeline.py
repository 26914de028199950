"""The real Hydra configs, composed with Hydra's compose API, run end to end on synthetic data."""

import json
import math

import pytest
import torch
from helpers import CONF, TINY, TINY_VIT, compose_config, run_cli_in_process
from omegaconf import OmegaConf

from whitening_ssl.stages import check_config, run
from whitening_ssl.validation import ConfigError
from whitening_ssl.whitening import WHITENINGS

METHODS = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))
EXPERIMENTS = sorted(
    str(p.relative_to(CONF / "experiment").with_suffix("")) for p in (CONF / "experiment").rglob("*.yaml")
)


def test_method_presets_hold_the_paper_values():
    expected = {
        "cw_rgp4": dict(
            num_views=4, batch_size=256, w_size=64, groups=4, axis="channel", whiten="zca", emb=512, random_groups=True
        ),
        "cw_rgp2": dict(
            num_views=2, batch_size=512, w_size=64, groups=4, axis="channel", whiten="zca", emb=512, random_groups=True
        ),
        "w_mse4": dict(num_views=4, batch_size=256, w_size=128, groups=1, axis="batch", whiten="cholesky", emb=64),
        "w_mse2": dict(num_views=2, batch_size=512, w_size=128, groups=1, axis="batch", whiten="cholesky", emb=64),
    }
    assert set(expected) <= set(METHODS)
    for name, values in expected.items():
        cfg = compose_config([f"method={name}"])
        for key, value in values.items():
            node = cfg.data if key in ("num_views", "batch_size") else cfg.method
            assert node[key] == value, (name, key)
        method = cfg.method
        assert method.lr == 3e-3 and method.weight_decay == 1e-6 and method.warmup_steps == 500
        assert list(method.drops) == [50, 25] and method.drop_gamma == 0.2 and method.norm


VIT_PRESETS = {  # the authors' recipes, read back from the composed configuration
    "paper_resa/imagenet_vits16": {
        "method.name": "resa",
        "backbone.name": "vit_small_patch16_224",
        "backbone.pos_embed": "sincos",
        "backbone.drop_path_rate": 0.0,
        "epochs": 300,
        "data.batch_size": 1024,
        "data.num_views": 2,
        "method.optimizer": "adamw",
        "method.lr": 2.0e-3,
        "method.weight_decay": 0.1,
        "method.weight_decay_end": None,
        "method.warmup_steps": 50040,
        "method.head_bn": False,
        "method.head_activation": "gelu",
        "trainer.sync_batchnorm": False,
        "trainer.gradient_clip_val": None,
    },
    "paper_lejepa/imagenet_vits16": {
        "method.name": "lejepa",
        "backbone.patch_size": 16,
        "backbone.pos_embed": "learn",
        "backbone.drop_path_rate": 0.1,
        "epochs": 100,
        "data.batch_size": 512,
        "data.num_views": 8,
        "dataset.options.augmentation": "lejepa_imagenet",
        "method.optimizer": "adamw",
        "method.lr": 5.0e-4,
        "method.weight_decay": 0.05,
        "method.warmup_steps": 2502,
        "method.lam": 0.05,
    },
    "paper_lejepa/imagenette_vits8": {
        "dataset.name": "image_folder",
        "dataset.options.image_size": 128,
        "backbone.patch_size": 8,
        "backbone.drop_path_rate": 0.1,
        "epochs": 800,
        "data.batch_size": 256,
        "data.num_views": 4,
        "method.global_views": 4,
        "method.lr": 2.0e-3,
        "method.weight_decay": 0.05,
        "method.emb": 16,
        "method.lam": 0.02,
        "trainer.precision": "bf16-mixed",
    },
}


@pytest.mark.parametrize("experiment", sorted(VIT_PRESETS))
def test_vit_presets_hold_the_authors_recipes(experiment):
    cfg = compose_config([f"experiment={experiment}", "dataset.root=/data/images"], run_dir="/tmp/unused")
    for key, value in VIT_PRESETS[experiment].items():
        assert OmegaConf.select(cfg, key) == value, (experiment, key)
    if experiment == "paper_resa/imagenet_vits16":  # cosine to 1e-4
        assert math.isclose(cfg.method.lr * cfg.method.final_lr_fraction, 1e-4)


def _leaves(node, prefix=""):
    """Dotted keys -> values of a nested dict (what a preset sets)."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_preset_sets_its_values(experiment):
    """Every value a preset file sets is the value the run gets (nothing composed later overrides it),
    the preset names its dataset and method, and the configuration passes the checks (the presets; the
    building blocks they share, ``_quickstart``, ``investigate/_small``, hold their values)."""
    import yaml

    preset = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text())
    # ckpt is only read by the evaluation stages (paper/imagenet_linear); ImageNet has no default root
    extra = ["ckpt=encoder.ckpt"] + (["dataset.root=/data/images"] if "imagenet" in experiment else [])
    cfg = compose_config([f"experiment={experiment}", *extra], run_dir="/tmp/unused")
    composed = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    for key, value in _leaves({k: v for k, v in preset.items() if k not in ("defaults", "hydra")}):
        assert OmegaConf.select(composed, key) == value, (experiment, key)
    if "hydra" in preset:  # a preset's sweep: in Hydra's own node (its keys hold dots), composed only on request
        hydra_node = compose_config([f"experiment={experiment}", *extra], with_hydra=True).hydra
        for key, value in _leaves({k: v for k, v in preset["hydra"].items() if k != "sweeper"}):
            assert OmegaConf.select(hydra_node, key) == value, (experiment, key)
        assert OmegaConf.to_container(hydra_node.sweeper.params) == preset["hydra"]["sweeper"]["params"]
    groups = {
        next(iter(d)).split("/")[-1]: next(iter(d.values())) for d in preset.get("defaults", []) if isinstance(d, dict)
    }
    if "dataset" in groups:
        assert cfg.dataset.name == groups["dataset"]
    if "method" in groups:
        assert cfg.method.name == preset.get("method", {}).get("name", groups["method"])
    if experiment.startswith("paper/"):
        assert cfg.experiment_name == experiment
    if not any(part.startswith("_") for part in experiment.split("/")):  # a building block is not run alone
        check_config(cfg, check_machine=False)


@pytest.mark.parametrize("backbone", ["resnet", "vit"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_a_finite_loss_and_moves_its_weights(method, backbone, tmp_path, monkeypatch):
    """Two steps of every method preset on a tiny ResNet, and one on a tiny ViT (with the ViT recipe: AdamW)."""
    from whitening_ssl.methods import PretrainModule

    initial = {}
    original = PretrainModule.on_fit_start

    def remember_initial_weights(self):
        initial.update({name: p.detach().clone() for name, p in self.named_parameters() if p.requires_grad})
        return original(self)

    monkeypatch.setattr(PretrainModule, "on_fit_start", remember_initial_weights)
    steps = 2 if backbone == "resnet" else 1
    cfg = compose_config(
        [
            f"method={method}",
            *(TINY if backbone == "resnet" else TINY_VIT),
            "epochs=1",
            f"+trainer.max_steps={steps}",
            "trainer.log_every_n_steps=1",
            "data.batch_size=128",
            "data.pipeline=device",  # the views made in-process: the method is tested, not the CPU workers
            "logger=csv",
            "eval.enabled=false",
        ],
        run_dir=tmp_path,
    )
    run(cfg)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["method"] == method and results["global_step"] == steps
    import csv

    with open(tmp_path / "csv" / "metrics.csv") as handle:
        losses = [float(row["train/loss_step"]) for row in csv.DictReader(handle) if row.get("train/loss_step")]
    assert len(losses) == steps and all(math.isfinite(loss) for loss in losses)
    final = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    assert initial and set(initial) <= set(final)
    moved = [name for name in initial if not torch.equal(initial[name], final[name])]
    # every trained network moved (BYOL's target is not trained: it follows by EMA)
    for network in ("backbone.", "head.", "predictor."):
        names = [name for name in initial if name.startswith(network)]
        assert not names or any(name in moved for name in names), network


FEW = ["dataset.options.num_samples=128"]  # 2 steps per epoch: the steps' number proves nothing here


def test_smoke_run_learns_evaluates_checkpoints_and_resumes(tmp_path):
    first = tmp_path / "first"
    cfg = compose_config(
        ["debug=smoke", *FEW, "epochs=1", "checkpoint_every=1", "eval.evaluate_untrained=true", "backbone.width=8"],
        run_dir=first,
    )
    run(cfg)
    results = json.loads((first / "results.json").read_text())
    assert results["epochs"] == 1 and results["untrained"] is not None and len(results["history"]) == 1
    last = first / "checkpoints" / "last.ckpt"
    assert last.exists() and (first / "csv" / "metrics.csv").exists()
    metrics_csv = (first / "csv" / "metrics.csv").read_text()
    assert "train/loss_step" in metrics_csv and "lr-Adam" in metrics_csv

    second = tmp_path / "second"
    cfg = compose_config(
        ["debug=smoke", *FEW, "epochs=2", "checkpoint_every=1", "backbone.width=8", f"ckpt_path={last}"],
        run_dir=second,
    )
    run(cfg)
    resumed = json.loads((second / "results.json").read_text())
    steps_per_epoch = results["global_step"]
    assert resumed["epochs"] == 2 and resumed["global_step"] == 2 * steps_per_epoch
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]  # evaluation history survives the resume
    state = torch.load(second / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 1 and "hyper_parameters" in state


BAD_INPUTS = [
    (["method=cw_rgp4", "method.w_size=48"], "data.batch_size=256 is not divisible by method.w_size=48"),
    (["method=cw_rgp4", "method.groups=3"], "not divisible by method.groups"),
    (["method=cw_rgp4", "method.groups=8"], "channel whitening needs method.emb / method.groups > method.w_size"),
    (["method=w_mse4", "method.emb=128"], "batch whitening needs method.w_size > method.emb / method.groups"),
    (
        ["method.whiten=svd"],
        "method.whiten='svd' is not available: use one of " + ", ".join(WHITENINGS) + ", or module.name of your own",
    ),
    (["method.axis=rows"], "method.axis='rows' is not available: use one of batch, channel"),
    (["data.num_views=1"], "data.num_views=1 must be at least 2"),
    (["dataset=image_folder"], "dataset=image_folder needs its location: add dataset.root="),
]


@pytest.mark.parametrize("overrides,message", BAD_INPUTS)
def test_bad_configuration_raises_clear_error_before_training(overrides, message, tmp_path):
    tiny = [o for o in TINY if not (o.startswith("dataset=") and any(x.startswith("dataset=") for x in overrides))]
    cfg = compose_config(overrides + tiny, run_dir=tmp_path)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(cfg)
    assert not (tmp_path / "results.json").exists()


def test_missing_dataset_raises_clear_error(tmp_path):
    cfg = compose_config(
        ["dataset=cifar10", f"dataset.root={tmp_path}", "dataset.download=false", "logger=none"],
        run_dir=tmp_path / "run",
    )
    with pytest.raises(ConfigError, match=r"^CIFAR-10 not found in .*: set dataset.download=true"):
        run(cfg)


def test_cli_bad_input_prints_one_error_line_and_exits_2(tmp_path):
    proc = run_cli_in_process(["method.w_size=48", f"hydra.run.dir={tmp_path}"], cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: data.batch_size=256 is not divisible")


def test_cli_multirun_sweep_runs_two_jobs_and_its_output_to_a_file_has_short_lines(tmp_path, monkeypatch):
    import whitening_ssl.progress

    monkeypatch.setattr(whitening_ssl.progress, "LINE_SECONDS", 0.0)  # a progress line at every step and batch
    # batches of 64 (not the preset's 256 x 4 views); debug=fdr sets eval.linear_epochs=2 itself (Hydra's launch
    # line, which lists the overrides, stays under 200 characters)
    tiny = [o for o in TINY if o != "eval.linear_epochs=2"] + ["data.batch_size=64"]
    args = ["-m", "method.whiten=zca,cholesky", "debug=fdr", *tiny, f"hydra.sweep.dir={tmp_path}"]
    proc = run_cli_in_process(args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # standard output is no terminal here (as in a SLURM log or `> run.log`): plain lines, no bar frames
    lines = (proc.stdout + proc.stderr).splitlines()
    assert "\r" not in proc.stdout and max(map(len, lines)) < 200, max(lines, key=len)
    assert (
        sum(line.startswith("step 1/1 (100%)  epoch 1/1  loss ") and " images/s  elapsed " in line for line in lines)
        >= 2
    ), proc.stdout  # each job's training
    assert any(line.startswith("features of the training images: ") for line in lines), proc.stdout
    results = sorted(tmp_path.glob("*/results.json"))
    assert len(results) == 2
    kinds = sorted(json.loads(p.read_text())["config"]["method"]["whiten"] for p in results)
    assert kinds == ["cholesky", "zca"]
    # issue 23.2: a second sweep into the finished sweep's folder was run, and replaced both jobs' files
    finished = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in tmp_path.rglob("*") if path.is_file()}
    again = run_cli_in_process(args, cwd=tmp_path)
    assert again.returncode == 2
    job = sorted(path.parent for path in results)[0]
    assert (
        f"error: job #0 (method.whiten=zca debug=fdr {' '.join(tiny)}): {job} already "
        f"holds a run (results.json, checkpoints): resume it with ckpt_path=last hydra.run.dir={job}, or choose "
        "another hydra.sweep.dir" in again.stderr.splitlines()
    ), again.stderr
    assert again.stderr.strip().splitlines()[-1] == "error: no job was started: fix the 2 job(s) above (of 2)"
    assert {
        path: (path.read_bytes(), path.stat().st_mtime_ns) for path in tmp_path.rglob("*") if path.is_file()
    } == finished


def test_slurm_launcher_composes_for_a_sweep():
    from hydra import compose, initialize_config_dir

    overrides = [
        "hydra/launcher=submitit_slurm",
        "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_node=4",
        "hydra.launcher.timeout_min=2880",
        "trainer=gpu",
        "trainer.devices=4",
        "trainer.strategy=ddp",
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (cfg.hydra.launcher.partition, cfg.hydra.launcher.gpus_per_node) == ("gpu", 4)
    assert cfg.trainer.devices == 4 and cfg.trainer.strategy == "ddp"
