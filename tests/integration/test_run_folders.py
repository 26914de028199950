"""Run folders that cannot mix or escape, resumes that refuse changed settings, writes that fail cleanly.

Fault-injection tests: a live run holding a folder, a resume with other settings, a disk that fills up
during a checkpoint write, a kill during the very first save, a method name that would leave outputs/.
"""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import compose_config, run_cli_in_process

from whitening_ssl.checkpoints import read_meta
from whitening_ssl.cli import entry as cli
from whitening_ssl.run_folder import naming as run_dirs
from whitening_ssl.run_folder.lock import LOCK_FILE, RunLock, read_lock
from whitening_ssl.stages import check_config, run
from whitening_ssl.validation import ConfigError

SMOKE = ["debug=smoke", "backbone.width=8", "logger=none", "eval.enabled=false", "analysis.every_n_steps=0"]
SMOKE += ["dataset.options.num_samples=128"]  # 128 synthetic images, batch 64: 2 steps per epoch


def _problems(overrides, run_dir):
    with pytest.raises(ConfigError) as caught:
        check_config(compose_config(overrides, run_dir=run_dir), Path(run_dir))
    return caught.value.problems


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A one-epoch CW-RGP run (batch 64) whose folder holds checkpoints/last.ckpt."""
    run_dir = tmp_path_factory.mktemp("finished")
    run(compose_config([*SMOKE, "epochs=1"], run_dir=run_dir))
    return run_dir


# --- names never leave outputs/ ------------------------------------------------------------------------------


def test_a_method_name_with_a_path_in_it_stays_one_folder_name():
    label = run_dirs.run_label("pretrain", "x/../../../../elsewhere", "synthetic")
    assert "/" not in label and ".." not in label and not label.startswith(".")
    base = Path("outputs/2026-12-01")
    assert (base / label).resolve().parent == base.resolve()
    assert run_dirs.safe_name("..") == "_" and run_dirs.safe_name("a\\b") == "a_b"


# --- one live run per folder ---------------------------------------------------------------------------------


def test_a_folder_held_by_a_live_run_is_refused_and_a_stale_lock_replaced(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_FILE).write_text(
            json.dumps({"pid": other.pid, "host": os.uname().nodename, "started": "2026-12-01T09:00:00"})
        )
        with pytest.raises(
            ConfigError,
            match=rf"^the run folder {tmp_path} is in use by another run \(process "
            rf"{other.pid} on .*, started 2026-12-01T09:00:00\): wait for it",
        ):
            run(compose_config([*SMOKE, "epochs=1"], run_dir=tmp_path))
        assert not (tmp_path / "checkpoints").exists()
    finally:
        other.kill()
        other.wait()
    run(compose_config([*SMOKE, "epochs=1"], run_dir=tmp_path))  # its owner is gone: the lock is stale
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and not (tmp_path / LOCK_FILE).exists()


def test_the_lock_is_this_processs_own_until_released(tmp_path):
    lock = RunLock(tmp_path).acquire()
    assert read_lock(tmp_path)["pid"] == os.getpid()
    assert RunLock(tmp_path).acquire().held  # re-entrant in the same process (run.py took it before the stage)
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_kill_during_the_first_save_leaves_a_folder_that_starts_afresh(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / ".last.ckpt.tmp").write_bytes(b"PK\x03\x04 half of a checkpoint")
    assert _problems([*SMOKE, "epochs=1", "ckpt_path=last"], tmp_path)[0].startswith("ckpt_path=last: ")
    run(compose_config([*SMOKE, "epochs=1"], run_dir=tmp_path))  # not "already holds a run"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt", "meta.json"]


# --- a resume continues the same run ------------------------------------------------------------------------


def test_a_resume_with_other_settings_is_refused_naming_each(finished_run):
    problems = _problems(
        [
            *SMOKE,
            "epochs=2",
            "ckpt_path=last",
            "method=w_mse4",
            "method.w_size=32",
            "method.emb=16",
            "data.batch_size=32",
        ],
        finished_run,
    )
    assert len(problems) == 1
    line = problems[0]
    assert line.startswith("ckpt_path=last: the checkpoint was trained with other settings (")
    for change in (
        "data.batch_size: 64 -> 32",
        "method.name: cw_rgp4 -> w_mse4",
        "method.whiten: zca -> cholesky",
        "method.axis: channel -> batch",
        "method.emb: 128 -> 16",
    ):
        assert change in line, change
    assert line.endswith(
        "add allow_resume_changes=true to change them on purpose (the changes are recorded in results.json)"
    )


def test_a_resume_with_more_epochs_is_allowed_and_deliberate_changes_are_recorded(finished_run, tmp_path):
    check_config(compose_config([*SMOKE, "epochs=3", "ckpt_path=last"], run_dir=finished_run), finished_run)
    resumed = tmp_path / "resumed"  # ckpt_path=<file>: continues into a new folder
    cfg = compose_config(
        [
            *SMOKE,
            "epochs=2",
            f"ckpt_path={finished_run / 'checkpoints' / 'last.ckpt'}",
            "method.lr=1e-3",
            "allow_resume_changes=true",
        ],
        run_dir=resumed,
    )
    check_config(cfg, resumed)
    run(cfg)
    results = json.loads((resumed / "results.json").read_text())
    assert results["resume_changes"] == [{"key": "method.lr", "saved": 3e-3, "given": 1e-3}]
    assert results["global_step"] == 4


def test_a_probe_checkpoint_is_not_a_pretraining_checkpoint(finished_run, tmp_path):
    probe = tmp_path / "probe"
    (probe / "checkpoints").mkdir(parents=True)
    state = torch.load(finished_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    for key, value in state["callbacks"].items():
        if "RunCheckpoints" in key:
            value["config"] = {**value["config"], "stage": "linear", "ckpt": "/runs/a/last.ckpt"}
    torch.save(state, probe / "checkpoints" / "last.ckpt")
    problems = _problems([*SMOKE, f"ckpt_path={probe / 'checkpoints' / 'last.ckpt'}"], tmp_path / "new")
    assert problems == [
        f"ckpt_path={probe / 'checkpoints' / 'last.ckpt'}: {probe / 'checkpoints' / 'last.ckpt'} is a "
        "linear-probe checkpoint (stage=linear), not of stage=pretrain: resume stage=pretrain from its "
        "own checkpoints/last.ckpt (this probe evaluated ckpt=/runs/a/last.ckpt)"
    ]


# --- a full disk ----------------------------------------------------------------------------------------------


def test_a_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    from pytorch_lightning.plugins.io.torch_plugin import TorchCheckpointIO

    original = TorchCheckpointIO.save_checkpoint
    saves = []

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        saves.append(path)
        if len(saves) < 2:
            return original(self, checkpoint, path, storage_options)
        Path(path).write_bytes(b"PK\x03\x04 the first megabytes")  # what was written before the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", save_checkpoint)
    cfg = compose_config([*SMOKE, "epochs=3"], run_dir=tmp_path)
    with pytest.raises(SystemExit) as stopped:
        cli.main(cfg)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert len(lines) == 1 and lines[0].startswith(
        f"error: could not write the checkpoint {last.parent / '.last.ckpt.tmp'} (No space left on device; "
    )
    assert (
        f"MB free on that file system): nothing partial was left; the previous checkpoint {last} is intact" in lines[0]
    )
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt", "meta.json"]  # no partial file
    assert read_meta(last.parent)["epochs_completed"] == 1
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 2


def test_a_file_system_gone_read_only_during_a_save_is_one_line(tmp_path, monkeypatch, capsys):
    # issue 23.5: the save's clean-up and the lock's release failed again on the read-only file system: 4 tracebacks
    from pytorch_lightning.plugins.io.torch_plugin import TorchCheckpointIO

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(
        TorchCheckpointIO,
        "save_checkpoint",
        lambda self, checkpoint, path, storage_options=None: (
            monkeypatch.setattr(Path, "unlink", read_only),
            read_only(),
        ),
    )
    with pytest.raises(SystemExit) as stopped:
        cli.main(compose_config([*SMOKE, "epochs=1", "eval.enabled=false"], run_dir=tmp_path))
    monkeypatch.undo()
    assert stopped.value.code == 2
    last = tmp_path / "checkpoints" / "last.ckpt"
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(
        f"error: could not write the checkpoint {last.parent / '.last.ckpt.tmp'} (Read-only file system; "
    ) and line.endswith(
        f"no earlier checkpoint of this run exists; free space (or fix "
        f"the file system) and resume with ckpt_path=last "
        f"hydra.run.dir={tmp_path}"
    )


def test_a_folder_name_over_the_limit_and_m_after_the_overrides_are_one_line(tmp_path):
    # issue 23.5: a hydra.run.dir name over 255 bytes was a traceback; -m after overrides argparse's "unrecognized"
    long = tmp_path / ("a" * 300)
    done = run_cli_in_process([*SMOKE, f"hydra.run.dir={long}"], tmp_path)
    assert done.returncode == 2 and not os.path.exists(long)
    assert done.stderr.strip().splitlines() == [
        f"error: the folder name {'a' * 40}... in hydra.run.dir is 300 bytes long, over the file system's limit of 255 "
        "bytes per name: choose a shorter hydra.run.dir"
    ]
    done = run_cli_in_process(["debug=smoke", "-m", "check=true"], tmp_path)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: -m (--multirun) must come before the overrides: python run.py -m debug=smoke check=true"
    ]
