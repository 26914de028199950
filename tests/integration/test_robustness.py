"""Never lose a run: checkpoints, resume, divergence, bad input and bad files, sweeps (in this process;
kills, SIGTERM and concurrent runs: tests/processes).

Fault-injection tests: NaNs injected, files corrupted, evaluations crashed, and each test checks what a
user would find afterwards.
"""

import json
from pathlib import Path

import pytest
import torch
from helpers import TINY, compose_config, run_cli_in_process
from PIL import Image

from whitening_ssl.checkpoints import read_meta
from whitening_ssl.cli import entry as cli
from whitening_ssl.eval.online import OnlineEvaluation
from whitening_ssl.methods import WhiteningMSEMethod
from whitening_ssl.run_folder import naming as run_dirs
from whitening_ssl.stages import check_config, run
from whitening_ssl.training import TrainingDivergedError
from whitening_ssl.validation import ConfigError
from whitening_ssl.whitening import WHITENINGS

SMOKE = ["debug=smoke", "backbone.width=8", "logger=none"]
# 512 synthetic images, batch 64: 8 steps per epoch; FEW: 128 images, 2 steps per epoch
FEW = "dataset.options.num_samples=128"


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


# --- checkpoints every epoch, before the evaluation ---------------------------------------------


def test_last_checkpoint_every_epoch_before_evaluation_and_periodic_keeps(tmp_path, monkeypatch):
    seen = []
    original = OnlineEvaluation._evaluate

    def evaluate(self, trainer, pl_module):
        meta = read_meta(tmp_path / "checkpoints")  # the epoch's checkpoint is on disk before evaluating
        seen.append((trainer.current_epoch + 1, meta["epochs_completed"], meta["reason"]))
        return original(self, trainer, pl_module)

    monkeypatch.setattr(OnlineEvaluation, "_evaluate", evaluate)
    run(
        compose_config(
            [
                *SMOKE,
                FEW,
                "epochs=3",
                "checkpoint_every=2",
                "eval.every_n_epochs=1",
                "eval.linear_epochs=2",
                "analysis.at_evaluation=false",
            ],
            run_dir=tmp_path,
        )
    )
    assert seen == [(1, 1, "epoch"), (2, 2, "epoch"), (3, 3, "epoch")]
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert files == ["epoch0002.ckpt", "last.ckpt", "meta.json"]  # no temporary files left
    assert read_meta(tmp_path / "checkpoints")["global_step"] == 6
    # the evaluation history is in the checkpoint (refreshed after evaluating)
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    history = next(v for k, v in state["callbacks"].items() if "OnlineEvaluation" in k)["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]


def test_checkpoint_every_n_steps_for_long_epochs(tmp_path, monkeypatch):
    from whitening_ssl.checkpoints import RunCheckpoints

    saves = []
    original = RunCheckpoints.save

    def save(self, trainer, pl_module, reason, epochs_completed):
        saves.append((reason, trainer.global_step))
        return original(self, trainer, pl_module, reason, epochs_completed)

    monkeypatch.setattr(RunCheckpoints, "save", save)
    six_steps = [*SMOKE, "dataset.options.num_samples=384", "epochs=1", "eval.enabled=false"]  # 6 steps
    run(compose_config([*six_steps, "checkpoint_every_n_steps=4"], run_dir=tmp_path))
    assert saves == [("steps", 4), ("epoch", 6)]
    saves.clear()  # a step save that falls on the epoch's last step is the epoch's save: written once
    run(compose_config([*six_steps, "checkpoint_every_n_steps=2"], run_dir=tmp_path / "divides"))
    assert saves == [("steps", 2), ("steps", 4), ("epoch", 6)]


def test_crash_during_evaluation_keeps_the_epoch(tmp_path, monkeypatch):
    def crash(self, trainer, pl_module):
        raise MemoryError("simulated out of memory while evaluating")

    monkeypatch.setattr(OnlineEvaluation, "_evaluate", crash)
    with pytest.raises(MemoryError):
        run(compose_config([*SMOKE, FEW, "epochs=2", "eval.every_n_epochs=1"], run_dir=tmp_path))
    meta = read_meta(tmp_path / "checkpoints")
    assert meta["epochs_completed"] == 1 and meta["global_step"] == 2
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == 0


def test_resumed_run_continues_the_same_wandb_run(tmp_path):
    args = [*SMOKE, FEW, "logger=wandb", "logger.mode=offline", "eval.enabled=false"]
    run(compose_config([*args, "epochs=1"], run_dir=tmp_path))
    run_id = read_meta(tmp_path / "checkpoints")["wandb_run_id"]
    assert run_id
    run(compose_config([*args, "epochs=2", "ckpt_path=last"], run_dir=tmp_path))
    assert read_meta(tmp_path / "checkpoints")["wandb_run_id"] == run_id
    attempts = sorted(p.name for p in (tmp_path / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2 and all(name.endswith(f"-{run_id}") for name in attempts)


def test_resume_last_without_a_checkpoint_is_refused(tmp_path):
    problems = _problems([*SMOKE, "ckpt_path=last"], tmp_path, run_dir=tmp_path / "empty")
    assert problems == [
        f"ckpt_path=last: {tmp_path / 'empty' / 'checkpoints'} holds no checkpoint; give "
        "hydra.run.dir= the run to resume (outputs/<date>/<time>_<method>_<dataset>) or ckpt_path=<file>"
    ]


# --- one directory per run ------------------------------------------------------------------------


def test_unique_dir_never_reuses_a_directory(tmp_path):
    base = str(tmp_path / "12-00-00_cw_rgp4_cifar10")
    assert run_dirs.unique_dir(base) == base
    assert run_dirs.unique_dir(base) == base + "_2"
    assert run_dirs.unique_dir(base) == base + "_3"
    assert all(Path(p).is_dir() for p in (base, base + "_2", base + "_3"))


def test_an_existing_run_is_never_overwritten(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"PK")
    cfg = compose_config(["debug=fdr", *TINY], run_dir=tmp_path)
    with pytest.raises(
        ConfigError,
        match=rf"{tmp_path} already holds a run \(checkpoints\): resume it with "
        rf"ckpt_path=last hydra.run.dir={tmp_path}",
    ):
        check_config(cfg, tmp_path)


# --- divergence -----------------------------------------------------------------------------------


def _inject(monkeypatch, at_step, make_bad):
    original = WhiteningMSEMethod.compute_loss

    def compute_loss(self, embeddings, views, measure=False):
        if self.global_step == at_step:
            embeddings = make_bad(embeddings)
        return original(self, embeddings, views, measure)

    monkeypatch.setattr(WhiteningMSEMethod, "compute_loss", compute_loss)


def test_nan_in_the_embedding_stops_the_run_on_that_step(tmp_path, monkeypatch, capsys):
    _inject(monkeypatch, 3, lambda e: e * float("nan"))
    # no whitening (an eigendecomposition of NaNs fails first: the next test), so the NaN reaches the loss
    cfg = compose_config(
        [
            *SMOKE,
            FEW,
            "method=plain",
            "method.w_size=32",
            "epochs=3",
            "eval.enabled=false",
            "trainer.log_every_n_steps=50",
        ],
        run_dir=tmp_path,
    )
    with pytest.raises(SystemExit) as stopped:
        cli.main(cfg)
    assert stopped.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0] == (
        "error: the loss became non-finite (nan or inf) at step 3 (epoch 1): training diverged; lower method.lr, "
        "raise method.eps (covariance shrinkage) or the sub-batch size method.w_size (batch whitening), or lower "
        f"method.groups (channel whitening); the last good checkpoint is {tmp_path / 'checkpoints' / 'last.ckpt'}"
    )
    meta = read_meta(tmp_path / "checkpoints")
    assert meta["global_step"] == 2  # the end of epoch 1: nothing written after the NaN
    assert all(
        torch.isfinite(v).all()
        for v in _weights(tmp_path / "checkpoints" / "last.ckpt").values()
        if v.is_floating_point()
    )
    assert not (tmp_path / "results.json").exists()


def test_failed_cholesky_is_one_line_not_a_linalg_traceback(tmp_path, monkeypatch):
    _inject(monkeypatch, 3, lambda e: torch.ones_like(e))  # every embedding equal: a zero covariance
    cfg = compose_config(
        [*SMOKE, "method=w_mse4", "method.w_size=32", "method.emb=16", "epochs=1", "eval.enabled=false"],
        run_dir=tmp_path,
    )
    with pytest.raises(
        TrainingDivergedError,
        match=r"^whitening failed at step 3 \(epoch 0\) \(.*\): a sub-batch "
        r"covariance is singular or not positive definite, or the "
        r"embeddings are not finite; lower method.lr",
    ):
        run(cfg)
    assert read_meta(tmp_path / "checkpoints") == {}  # nothing was saved from the failed step on


# --- bad input: every problem at once, before any data is loaded -------------------------------------


def _problems(overrides, tmp_path, run_dir=None):
    cfg = compose_config(overrides, run_dir=run_dir or tmp_path / "run")
    with pytest.raises(ConfigError) as caught:
        check_config(cfg, Path(run_dir or tmp_path / "run"))
    return caught.value.problems


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["epochs=abc"], "epochs='abc' must be a whole number >= 1"),
        (["epochs=1.5"], "epochs=1.5 must be a whole number >= 1"),
        (["method.lr=-1"], "method.lr=-1 must be positive"),
        (["eval.knn_k=0"], "eval.knn_k=0 must be at least 1"),
        (["eval.linear_epochs=-5"], "eval.linear_epochs=-5 must be at least 0"),
        (["trainer=gpu"], "trainer.accelerator=gpu but this machine has no GPU"),
        (
            ["trainer=ddp"],
            "trainer.sync_batchnorm=true needs GPUs (SyncBatchNorm runs on CUDA only): set "
            "trainer.sync_batchnorm=false on CPU",
        ),
        (
            ["data.batch_size=1024"],
            "data.batch_size=1024 is larger than the 512 pretraining images of dataset=synthetic",
        ),
        (["+dataset.options.colour=red"], "unknown dataset option(s) colour for dataset=synthetic"),
        (["ckpt_path=/nonexistent/last.ckpt"], "ckpt_path=/nonexistent/last.ckpt: checkpoint not found"),
    ],
)
def test_each_bad_value_is_named(overrides, message, tmp_path):
    if overrides[0] in ("trainer=gpu", "trainer=ddp") and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    problems = _problems([*SMOKE, *overrides], tmp_path)
    assert any(message in line for line in problems), problems


def test_evaluation_stage_values_are_checked(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    torch.save({"x": torch.zeros(1)}, ckpt)
    problems = _problems(["stage=knn", f"ckpt={ckpt}", "knn.k=0", "knn.weighting=foo", "logger=none"], tmp_path)
    assert problems == [
        "knn.k=0 must be at least 1",
        "knn.weighting='foo' is not available: use one of majority, cosine",
    ]
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[:200])
    problems = _problems(["stage=linear", f"ckpt={truncated}", "linear.epochs=0", "logger=none"], tmp_path)
    assert problems[0].startswith(f"ckpt={truncated} is truncated or damaged")
    assert problems[1] == "linear.epochs=0 must be at least 1"


def test_unwritable_run_directory(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert any(f"the run directory {a_file} is a file" in p for p in _problems(SMOKE, tmp_path, run_dir=a_file))
    inside_a_file = a_file / "run"
    assert any(f"{a_file} is a file" in p for p in _problems(SMOKE, tmp_path, run_dir=inside_a_file))
    read_only = Path("/proc/whitening_ssl_test/run")  # /proc refuses new files even to root
    assert any(p.startswith("cannot write to /proc") for p in _problems(SMOKE, tmp_path, run_dir=read_only))


def test_cli_lists_every_problem_at_once_and_creates_nothing(tmp_path):
    proc = run_cli_in_process(
        [*SMOKE, "epochs=abc", "method.lr=-1", "eval.knn_k=0", "+dataset.options.colour=red"], cwd=tmp_path
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        "error: epochs='abc' must be a whole number >= 1",
        "error: method.lr=-1 must be positive",
        "error: eval.knn_k=0 must be at least 1",
        "error: unknown dataset option(s) colour for dataset=synthetic: valid options are seed, pretrain_subset, "
        "train_subset, test_subset, augmentation, num_samples, num_test, image_size, num_classes",
    ]
    assert not (tmp_path / "outputs").exists()  # checked before Hydra made a directory


# --- bad image files ----------------------------------------------------------------------------------


def _image_folder(root: Path, classes=("cat", "dog"), per_class=16):
    for index, name in enumerate(classes):
        for k in range(per_class):
            (root / "train" / name).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (40 * index, 7 * k, 100)).save(root / "train" / name / f"{k}.jpg")
    return root


def _corrupt(root: Path):
    (root / "train" / "cat" / "empty.jpg").write_bytes(b"")
    good = (root / "train" / "dog" / "0.jpg").read_bytes()
    (root / "train" / "dog" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "train" / "cat" / "notes.jpg").write_text("not an image")


IMAGE_FOLDER = [
    *SMOKE,
    "dataset=image_folder",
    "dataset.options.image_size=16",
    "dataset.num_workers=0",
    "data.batch_size=16",
    "method.w_size=8",
    "epochs=1",
    "eval.linear_epochs=2",
]


def test_bad_files_are_found_before_training(tmp_path):
    root = tmp_path / "images"
    _corrupt(_image_folder(root))
    cfg = compose_config([*IMAGE_FOLDER, f"dataset.root={root}", "data.verify_images=all"], run_dir=tmp_path / "r")
    with pytest.raises(ConfigError) as caught:
        run(cfg)
    message = caught.value.problems[0]
    assert (
        message.startswith("3 bad image files: ")
        and "empty.jpg" in message
        and "truncated.jpg" in message
        and "notes.jpg" in message
        and "data.verify_images=none" in message
    )
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_one_class_is_refused_before_training(tmp_path):
    root = _image_folder(tmp_path / "images", classes=("cat",), per_class=40)
    problems = _problems([*IMAGE_FOLDER, f"dataset.root={root}"], tmp_path)
    assert any(p.startswith(f"dataset=image_folder has 1 class under {root}") for p in problems), problems


def test_undecodable_images_are_skipped_and_counted(tmp_path, caplog):
    root = tmp_path / "images"
    _corrupt(_image_folder(root))
    cfg = compose_config([*IMAGE_FOLDER, f"dataset.root={root}", "data.verify_images=none"], run_dir=tmp_path / "r")
    with pytest.warns(UserWarning, match="truncated.jpg"):
        run(cfg)
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["final"]["knn_top1"] is not None


def test_undecodable_image_stops_the_run_naming_it(tmp_path):
    root = tmp_path / "images"
    _corrupt(_image_folder(root))
    proc = run_cli_in_process(
        [
            *IMAGE_FOLDER,
            f"dataset.root={root}",
            "data.verify_images=none",
            "data.on_bad_image=stop",
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: Cannot decode image ")
        and ".jpg" in last
        and "data.on_bad_image=skip" in last
        and "Traceback" not in proc.stderr
    )


# --- sweeps -----------------------------------------------------------------------------------------


def test_sweep_with_a_bad_job_starts_no_job(tmp_path):
    proc = run_cli_in_process(
        ["-m", "method.whiten=zca,svd,cholesky", "debug=fdr", *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: job #1 (method.whiten=svd debug=fdr " + " ".join(TINY) + "): method.whiten='svd' is not available: "
        "use one of " + ", ".join(WHITENINGS) + ", or module.name of your own",
        "error: no job was started: fix the 1 job(s) above (of 3)",
    ]
    assert not (tmp_path / "sweep").exists() or not any((tmp_path / "sweep").iterdir())


def test_a_presets_own_sweep_is_checked_job_by_job_before_any_starts(tmp_path):
    # experiment=investigate/groups sweeps groups 1,2,4 x random groups; with emb=64 the 2 and 4 groups hold
    # 32 and 16 channels, not more than w_size=32: four of the six jobs are bad
    proc = run_cli_in_process(
        ["-m", "experiment=investigate/groups", "method.emb=64", f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert [line.split(")")[0] for line in lines[:-1]] == [
        f"error: job #{n} (method.groups={g} method.random_groups={r} experiment=investigate/groups method.emb=64"
        for n, (g, r) in enumerate([(2, True), (2, False), (4, True), (4, False)], start=2)
    ]
    assert all("method.emb / method.groups > method.w_size" in line for line in lines[:-1])
    assert lines[-1] == "error: no job was started: fix the 4 job(s) above (of 6)"
    assert not (tmp_path / "sweep").exists()


def test_sweep_with_many_overrides_keeps_short_job_folders(tmp_path):
    many = [f"method.lr={lr}" for lr in ("1e-3,2e-3",)] + [
        "method.weight_decay=0.000001",
        "method.warmup_steps=3",
        "method.drop_gamma=0.3",
        "method.momentum=0.8",
        "eval.knn_k=3",
        "eval.seed=4",
        "method.w_iter=2",
    ]
    proc = run_cli_in_process(
        ["-m", *many, "debug=fdr", *TINY, "data.batch_size=64", f"hydra.sweep.dir={tmp_path}"], cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert jobs == ["0_cw_rgp4_synthetic", "1_cw_rgp4_synthetic"]
    overrides = (tmp_path / "1_cw_rgp4_synthetic" / ".hydra" / "overrides.yaml").read_text()
    assert "method.lr=0.002" in overrides and "method.w_iter=2" in overrides
    results = json.loads((tmp_path / "1_cw_rgp4_synthetic" / "results.json").read_text())
    assert results["overrides"][0] == "method.lr=0.002" and results["config"]["method"]["lr"] == 0.002


def test_a_failing_job_does_not_stop_the_sweep(tmp_path, monkeypatch):
    # job 0 diverges (NaN learning rate is refused up front, so use an image folder with one bad file and
    # on_bad_image=stop for one job): the sweep runs job 1 and exits 1 listing job 0
    root = tmp_path / "images"
    _image_folder(root)
    (root / "train" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    proc = run_cli_in_process(
        [
            "-m",
            "data.on_bad_image=stop,skip",
            *IMAGE_FOLDER,
            f"dataset.root={root}",
            "data.verify_images=none",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert (tmp_path / "sweep" / "1_cw_rgp4_image_folder" / "results.json").exists()
    assert not (tmp_path / "sweep" / "0_cw_rgp4_image_folder" / "results.json").exists()
    assert proc.stderr.strip().splitlines()[-1].startswith("error: 1 job(s) of the sweep failed: #0 (")


@pytest.mark.parametrize(
    "launcher,continues",
    [
        ("hydra._internal.core_plugins.basic_launcher.BasicLauncher", True),
        ("hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher", False),
    ],
)
def test_a_failed_sweep_job_exits_with_its_code_unless_jobs_share_the_process(launcher, continues, monkeypatch, capsys):
    """With the basic launcher the next job starts and the sweep reports the failures at its end; a job that
    runs in a process of its own (SLURM) exits 2, so the launcher records it as failed."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    cfg = compose_config(["method.lr=1e-3"], with_hydra=True)
    with open_dict(cfg):
        cfg.hydra.mode, cfg.hydra.job.num = RunMode.MULTIRUN, 3
        cfg.hydra.launcher = {"_target_": launcher}
    HydraConfig.instance().set_config(cfg)
    monkeypatch.setattr(cli, "_FAILED_JOBS", [])

    def bad_run(cfg, checked):
        raise ConfigError(["method.lr=-1 must be positive"])

    monkeypatch.setattr(cli, "run", bad_run)
    try:
        if continues:
            assert cli.main(cfg) is None and [number for number, _, _ in cli._FAILED_JOBS] == [3]
        else:
            with pytest.raises(SystemExit) as stopped:
                cli.main(cfg)
            assert stopped.value.code == 2 and cli._FAILED_JOBS == []
    finally:
        HydraConfig.instance().cfg = None
    assert "method.lr=-1 must be positive" in capsys.readouterr().err
