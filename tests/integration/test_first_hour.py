"""The first hour on a fresh machine: data that downloads, checks before any folder, the dry run,
Hydra's errors in one line, progress during long phases, and no noise.

Downloads are tested with torchvision's ``download_url`` replaced by a copy of a local archive of a
stand-in (tests/fakes.py): no network is used.
"""

import shutil
import tarfile
import urllib.error
from pathlib import Path

import pytest
import torch
import torchvision.datasets.utils as tv_utils
from fakes import write_stand_in
from helpers import CONF, compose_config, run_cli_in_process

from whitening_ssl.data import DATASETS, DatasetNotFoundError, download_dataset, parse
from whitening_ssl.stages import prepare, run

# a first training step of the design card's commands, made small: tiny network, one batch (of 128, the smallest
# that w_mse4's sub-batches of 128 allow), no evaluation
FIRST_STEP = [
    "backbone=resnet_tiny",
    "data.batch_size=128",
    "backbone.width=8",
    "trainer=cpu",
    "logger=none",
    "+trainer.fast_dev_run=1",
    "eval.enabled=false",
    "analysis.every_n_steps=0",
    "dataset.num_workers=0",
]


@pytest.fixture
def fake_download(tmp_path, monkeypatch):
    """``download(name)`` makes torchvision's download of ``name`` copy a local archive of its stand-in;
    returns the list of downloads made."""
    made = []

    def archive_of(name):
        source = tmp_path / f"source_{name}"
        stand_in = write_stand_in(name, source, num_images=512)
        stand_in.accept(monkeypatch)
        archive = tmp_path / f"{name}.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(source / stand_in.folder, arcname=stand_in.folder)
        return archive

    def install(name):
        archive = archive_of(name)

        def download_url(url, root, filename=None, md5=None, **kwargs):
            made.append(url)
            Path(root).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(archive, Path(root) / (filename or Path(url).name))

        monkeypatch.setattr(tv_utils, "download_url", download_url)
        return made

    return install


def _weights(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items() if v.is_floating_point()}


@pytest.mark.parametrize(
    "overrides",
    [["dataset=cifar100", "method=w_mse4"], ["dataset=cifar10", "method.whiten=cholesky"]],
    ids=["design-card-first-command", "a-job-of-the-sweep"],
)
def test_the_design_cards_commands_download_once_and_reach_training(overrides, fake_download, tmp_path, monkeypatch):
    downloads = fake_download(overrides[0].split("=")[1])
    root = tmp_path / "data"
    steps = []
    from whitening_ssl.methods import PretrainModule

    original = PretrainModule.training_step

    def training_step(self, batch, batch_idx):
        loss = original(self, batch, batch_idx)
        steps.append(float(loss.detach()))
        return loss

    monkeypatch.setattr(PretrainModule, "training_step", training_step)
    for attempt in range(2):
        cfg = compose_config([*overrides, f"dataset.root={root}", *FIRST_STEP], run_dir=tmp_path / f"run{attempt}")
        prepare(cfg)  # what run.py does after the checks, before any folder: the download
        run(cfg)
    assert len(downloads) == 1  # the first run downloaded, the second read the files
    assert len(steps) == 2 and all(torch.isfinite(torch.tensor(steps)))
    assert not list(root.glob(".*.partial"))  # the staging folder is gone


def test_an_interrupted_download_never_leaves_a_folder_that_passes_for_the_dataset(
    fake_download, tmp_path, monkeypatch
):
    downloads = fake_download("cifar10")
    entry, options = parse("cifar10")
    root = tmp_path / "data"
    real_extract = tv_utils.extract_archive

    def extract_half(archive, extract_root=None, remove_finished=False):
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            tar.extractall(extract_root, members=members[: len(members) // 2], filter="data")
        raise KeyboardInterrupt  # the user pressed Ctrl-C while extracting

    monkeypatch.setattr(tv_utils, "extract_archive", extract_half)
    with pytest.raises(KeyboardInterrupt):
        download_dataset(entry, root, options)
    assert entry.locate(root, options) is not None  # nothing in root passes for CIFAR-10
    assert not (root / "cifar-10-batches-py").exists()

    monkeypatch.setattr(tv_utils, "extract_archive", real_extract)
    assert download_dataset(entry, root, options)  # the next run downloads it again, whole
    assert entry.locate(root, options) is None and len(downloads) == 2
    assert not download_dataset(entry, root, options)  # and then never again


def test_offline_the_error_shows_the_failure_and_where_to_put_the_files(tmp_path, monkeypatch):
    def no_network(url, root, filename=None, md5=None, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_utils, "download_url", no_network)
    for name, entry in DATASETS.items():
        if not entry.downloadable or entry.locate(tmp_path, parse(name)[1]) is None:
            continue  # Fashion-MNIST from Debian's package is there already
        with pytest.raises(DatasetNotFoundError) as caught:
            download_dataset(entry, tmp_path / name, parse(name)[1])
        line = str(caught.value)
        assert "\n" not in line and "Temporary failure in name resolution" in line, line
        assert "dataset.download=true" not in line  # it is on: never suggested
        assert "download http" in line and str((tmp_path / name).absolute()) in line
        assert line.endswith("; nothing was kept (the lock and the empty staging folder were removed)"), line
        assert not [path.name for path in (tmp_path / name).iterdir()]  # no lock file, no empty .partial folder


def test_a_download_that_fails_after_fetching_keeps_the_files_and_the_next_try_reuses_them(
    fake_download, tmp_path, monkeypatch
):
    fake_download("cifar100")  # (the fake copies the archive at every call: reuse is torchvision's md5 check)
    entry, options = parse("cifar100")
    root = tmp_path / "data"
    real_extract = tv_utils.extract_archive

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tv_utils, "extract_archive", disk_full)
    with pytest.raises(DatasetNotFoundError) as caught:
        download_dataset(entry, root, options)
    staging = root / ".cifar100.partial"
    assert str(caught.value).endswith(
        f"already fetched are kept in {staging} and reused by the next try (delete that folder to start afresh)"
    ), str(caught.value)
    assert sorted(path.name for path in root.iterdir()) == [".cifar100.partial"]  # no lock file
    monkeypatch.setattr(tv_utils, "extract_archive", real_extract)
    assert download_dataset(entry, root, options) and entry.locate(root, options) is None
    assert sorted(path.name for path in root.iterdir()) == ["cifar-100-python"]


def test_a_missing_dataset_offers_the_download_only_when_it_is_off(tmp_path):
    cfg = compose_config(
        ["dataset=cifar10", f"dataset.root={tmp_path}", "dataset.download=false", "logger=none"],
        run_dir=tmp_path / "run",
    )
    from whitening_ssl.stages import check_config
    from whitening_ssl.validation import ConfigError

    with pytest.raises(ConfigError) as caught:
        check_config(cfg, tmp_path / "run")
    assert any(
        line.startswith("CIFAR-10 not found in ")
        and "set dataset.download=true to download it, or download "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
        in line
        for line in caught.value.problems
    )


# --- run.py: checks first, the dry run, Hydra's errors ------------------------------------------------------


def test_bad_input_and_the_dry_run_leave_nothing_behind(tmp_path):
    """An unknown option or key of Hydra's, a dataset that cannot be downloaded (no network here) and
    ``check=true`` each end before any folder is made; the first three exit 2 with one line."""
    cases = [
        (["method=nope"], "error: method=nope is not available: use one of barlow_twins, "),
        (["method.whitn=zca"], "error: method.whitn is not a setting of method: check the spelling"),
        (
            ["dataset=cifar100", "method=w_mse4", "trainer=cpu", "logger=none"],
            f"error: CIFAR-100 could not be downloaded into {tmp_path / 'data'} (URLError: ",
        ),
    ]
    for args, start in cases:
        proc = run_cli_in_process(args, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(start), (args, proc.stderr[-2000:])
    proc = run_cli_in_process(["check=true", "debug=smoke"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "checked: no problem found" in proc.stdout and f"run folder: {tmp_path / 'outputs'}" in proc.stdout
    proc = run_cli_in_process(["-m", "check=true", "debug=smoke", "method.whiten=zca,cholesky"], cwd=tmp_path)
    assert proc.returncode == 0 and "no problem found in the 2 job(s) of the sweep; none was started" in proc.stdout
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


@pytest.mark.parametrize("sweep", [False, True], ids=["run", "sweep"])
def test_a_check_that_crashes_stops_everything(sweep, tmp_path, monkeypatch):
    """Hydra only warns when a callback raises and then starts the run: a bug in the checks must end the command
    (exit 1, one line) with nothing trained and no folder left."""
    import whitening_ssl.cli.entry

    def crash(*args, **kwargs):
        raise KeyError("w_size")

    # a run's checks; a sweep's dry-run summary (where INTL's missing w_size once let a sweep train)
    monkeypatch.setattr(whitening_ssl.cli.entry, "summary" if sweep else "check_config", crash)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    args = ["-m", "check=true", "debug=smoke", "method.whiten=zca,cholesky"] if sweep else ["debug=smoke"]
    proc = run_cli_in_process(args, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and lines == [
        "error: the checks before the run failed (KeyError: 'w_size'): nothing was started; this is a bug, please "
        "report it with the command (HYDRA_FULL_ERROR=1 shows where)"
    ], proc.stderr[-2000:]
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()


@pytest.mark.parametrize("method", sorted(path.stem for path in (CONF / "method").glob("*.yaml")))
def test_the_dry_run_summary_of_every_method_preset(method, tmp_path):
    """``check=true``'s summary reads only settings the preset has (INTL has no w_size: a failing summary let
    Hydra go on and train)."""
    from whitening_ssl.cli.preflight import summary

    lines = summary(compose_config([f"method={method}", "dataset=synthetic"], run_dir=tmp_path), tmp_path)
    assert lines[0].startswith("checked: no problem found") and any(f"method:   {method} " in line for line in lines)


# --- progress and noise -----------------------------------------------------------------------------------


def test_the_long_evaluation_phases_show_progress(capsys):
    from torch.utils.data import TensorDataset

    from whitening_ssl.eval.fast_protocol import evaluate_encoder

    images, labels = torch.randn(64, 3, 8, 8), torch.arange(64) % 4
    dataset = TensorDataset(images, labels)
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 16))
    evaluate_encoder(encoder, dataset, dataset, "cpu", batch_size=16, linear_epochs=3, progress=True)
    shown = capsys.readouterr().out
    for phase in ("features of the training images", "features of the test images", "k-NN search", "linear probe"):
        assert phase in shown, phase
    evaluate_encoder(encoder, dataset, dataset, "cpu", batch_size=16, linear_epochs=3, progress=False)
    assert capsys.readouterr().out == ""


def test_a_run_prints_none_of_the_known_notices(tmp_path, capfd, caplog, recwarn):
    caplog.set_level("INFO")
    cfg = compose_config(
        [
            "debug=fdr",
            "dataset=synthetic",
            "backbone=resnet_tiny",
            "backbone.width=8",
            "trainer=cpu",
            "logger=wandb",
            "logger.mode=offline",
            "eval.linear_epochs=2",
            "data.batch_size=64",
        ],
        run_dir=tmp_path,
    )
    run(cfg)
    shown = capfd.readouterr()
    text = shown.out + shown.err + caplog.text + "".join(str(w.message) for w in recwarn)
    for notice in ("anonymous setting", "litlogger", "LeafSpec", "`weights_only` was not set"):
        assert notice not in text, notice
    assert "metric" in text  # the run's own summary is still printed
