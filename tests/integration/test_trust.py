"""Nothing from outside the run is trusted: checkpoint files cannot run code, a checkpoint's saved settings
are data, exports never overwrite inputs, and every such mistake ends in one ``error:`` line (exit 2)."""

import argparse
import json
import os
import pickle
import random
import shlex
import zipfile

import pytest
import torch
import torchvision
from helpers import compose_config, run_cli_in_process
from omegaconf import OmegaConf

from whitening_ssl.checkpoints import (
    CheckpointError,
    exported_state_dict,
    foreign_targets,
    load_encoder,
    rebuild_snippet,
    trusted_targets,
    verify_resume_file,
)
from whitening_ssl.cli.entry import main
from whitening_ssl.methods import build_method
from whitening_ssl.models import BACKBONES, STEMS, build_backbone
from whitening_ssl.stages import check_config, run
from whitening_ssl.validation import ConfigError

STAGES = ("linear", "knn", "analyze", "export")


class _Hostile:
    """Unpickling this (with plain pickle) runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def _hostile_files(folder):
    """``{kind: path}``: a torch.save zip holding a hostile object, a raw pickle of one, random bytes starting
    like a pickle; and the marker file any of them would create."""
    marker = folder / "MARKER"
    files = {kind: folder / f"{kind}.ckpt" for kind in ("zip", "raw_pickle", "random_bytes")}
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}, "payload": _Hostile(marker)}, files["zip"])
    with open(files["raw_pickle"], "wb") as handle:
        pickle.dump(_Hostile(marker), handle)
    rng = random.Random(0)
    files["random_bytes"].write_bytes(b"\x80" + bytes(rng.randrange(256) for _ in range(4096)))
    return files, marker


REFUSALS = {"zip": "needs posix.system to load", "raw_pickle": "is a plain pickle", "random_bytes": "is a plain pickle"}


def _one_error_line(capsys, call):
    """Run ``call`` (it must exit with status 2) and return the single ``error:`` line it printed."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        call()
    assert stopped.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), errors
    return errors[0]


def _problems(overrides, run_dir):
    with pytest.raises(ConfigError) as caught:
        check_config(compose_config(overrides, run_dir=run_dir), run_dir)
    return caught.value.problems


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A one-epoch pretraining run on synthetic data; returns its last checkpoint (``epoch0001.ckpt`` is a
    hard link to it)."""
    run_dir = tmp_path_factory.mktemp("pretrain")
    run(
        compose_config(
            ["debug=smoke", "epochs=1", "checkpoint_every=1", "backbone.width=8", "logger=none", "eval.enabled=false"],
            run_dir=run_dir,
        )
    )
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def probes(pretrained, tmp_path_factory):
    """What ``stage=linear`` saves: the fast protocol's classifier and the standard protocol's checkpoint."""
    folder = tmp_path_factory.mktemp("probes")
    run(
        compose_config(
            ["stage=linear", f"ckpt={pretrained}", "linear.epochs=1", "logger=none"], run_dir=folder / "fast"
        )
    )
    run(
        compose_config(
            [
                "stage=linear",
                f"ckpt={pretrained}",
                "logger=none",
                "linear.protocol=standard",
                "linear.epochs=1",
                "linear.batch_size=128",
                "linear.crop_size=32",
                "linear.resize=32",
                "linear.optimizer=sgd",
                "trainer=cpu",
            ],
            run_dir=folder / "standard",
        )
    )
    return {
        "classifier": folder / "fast" / "linear_classifier.pt",
        "probe": folder / "standard" / "checkpoints" / "last.ckpt",
    }


# --- files that would run code ---------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_a_hostile_file_is_refused_by_every_evaluation_stage_without_running(stage, tmp_path, capsys):
    files, marker = _hostile_files(tmp_path)
    for kind, path in files.items():
        overrides = [f"stage={stage}", f"ckpt={path}", "backbone=resnet18", "logger=none"]
        run_dir = tmp_path / f"run_{kind}"
        # before anything starts (what run.py does first) ...
        (problem,) = _problems(overrides, run_dir)
        assert problem.startswith(f"ckpt={path} {REFUSALS[kind]}"), problem
        assert problem.endswith("add trust_checkpoint=true") == (kind == "zip")
        # ... and when loading (the stage run without the checks)
        line = _one_error_line(capsys, lambda: main(compose_config(overrides, run_dir=run_dir)))
        assert line.startswith(f"error: {path} {REFUSALS[kind]}"), line
        assert not marker.exists()


def test_a_hostile_file_is_refused_as_ckpt_path(pretrained, tmp_path, capsys):
    files, marker = _hostile_files(tmp_path)
    for kind, path in files.items():
        (problem,) = _problems(["debug=smoke", f"ckpt_path={path}"], tmp_path / f"pretrain_{kind}")
        assert problem.startswith(f"ckpt_path={path} {REFUSALS[kind]}"), problem
        # the standard linear probe resumes through Lightning, too: refused before Lightning loads it
        overrides = [
            "stage=linear",
            f"ckpt={pretrained}",
            f"ckpt_path={path}",
            "logger=none",
            "trainer=cpu",
            "linear.protocol=standard",
            "linear.epochs=1",
            "linear.crop_size=32",
            "linear.resize=32",
        ]
        line = _one_error_line(capsys, lambda: main(compose_config(overrides, run_dir=tmp_path / f"probe_{kind}")))
        assert line.startswith(f"error: ckpt_path={path} {REFUSALS[kind]}"), line
        assert not marker.exists()


def test_run_py_refuses_hostile_files_in_one_line(tmp_path):
    files, marker = _hostile_files(tmp_path)
    proc = run_cli_in_process(
        ["debug=smoke", "logger=none", f"ckpt_path={files['zip']}", f"hydra.run.dir={tmp_path / 'a'}"], cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: ckpt_path={files['zip']} needs posix.system")
    proc = run_cli_in_process(
        ["stage=export", f"ckpt={files['raw_pickle']}", "backbone=resnet18", f"hydra.run.dir={tmp_path / 'b'}"],
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: ckpt={files['raw_pickle']} is a plain pickle (or other bytes), not a file written by "
        "torch.save: it was refused unread, because unpickling it could run code"
    ]
    assert not marker.exists()


def test_only_plain_types_load_unless_the_user_trusts_the_file(tmp_path):
    model = torchvision.models.resnet18(weights=None)
    legacy = tmp_path / "legacy.pth"  # torchvision's older downloads are in torch's legacy (non-zip) format
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    assert load_encoder(legacy, {"name": "resnet18", "stem": "imagenet"}).format == "torchvision"
    with_namespace = tmp_path / "namespace.pth.tar"  # the paper's layout with the script's arguments: not plain types
    torch.save(
        {
            "state_dict": {f"module.model.{k}": v for k, v in model.state_dict().items()},
            "args": argparse.Namespace(lr=0.1),
        },
        with_namespace,
    )
    problems = _problems(["stage=knn", f"ckpt={with_namespace}", "backbone=resnet18", "logger=none"], tmp_path / "r")
    assert problems == [
        f"ckpt={with_namespace} needs argparse.Namespace to load, which is none of the plain types a "
        "checkpoint holds (tensors, numbers, strings, lists, dicts): the file may run code, so it was "
        "not loaded; if you made it yourself and trust it, add trust_checkpoint=true"
    ]
    check_config(
        compose_config(
            ["stage=export", f"ckpt={with_namespace}", "backbone=resnet18", "trust_checkpoint=true"],
            run_dir=tmp_path / "r",
        ),
        tmp_path / "r",
    )
    assert load_encoder(with_namespace, {"name": "resnet18", "stem": "imagenet"}, trust=True).format == "paper"


# --- saved settings are data ------------------------------------------------------------------------


def _module_checkpoint(path, **method_changes):
    """A SimCLR checkpoint of this project's layout (untrained), whose saved method settings get ``method_changes``."""
    cfg = compose_config(["debug=smoke", "method=simclr", "backbone.width=8", "method.emb=32", "method.head_size=32"])

    def part(key):
        return OmegaConf.to_container(cfg[key], resolve=True)

    hparams = {
        "backbone": {**part("backbone"), "stem": "cifar"},
        "method": part("method"),
        "num_views": cfg.data.num_views,
        "dataset": part("dataset"),
        "analysis": part("analysis"),
    }
    module = build_method(**hparams)
    hparams["method"].update(method_changes)
    torch.save({"epoch": 0, "state_dict": module.state_dict(), "hyper_parameters": hparams}, path)
    return path


def _analyze(ckpt, run_dir, *extra):
    return compose_config(
        ["stage=analyze", f"ckpt={ckpt}", "logger=none", "analysis.max_images=64", *extra], run_dir=run_dir
    )


def test_a_saved_target_is_never_imported_unless_the_user_names_it(tmp_path, capsys):
    victim = tmp_path / "precious.txt"
    victim.write_text("finished work")
    ckpt = _module_checkpoint(tmp_path / "open.ckpt", loss={"_target_": "builtins.open", "_args_": [str(victim), "w"]})
    line = _one_error_line(capsys, lambda: main(_analyze(ckpt, tmp_path / "a")))
    assert line == (
        f"error: {ckpt} (lightning checkpoint) names builtins.open as method.loss._target_ in its saved "
        "settings: rebuilding its model would import and call it, and a checkpoint may only name this "
        "project's own code (losses: ntxent, barlow_twins, vicreg, zero_cl, byol, simsiam; whitening kinds "
        "and methods by their registered names), so it was not built; if you trust it, give the same on the "
        "command line: +method.loss._target_=builtins.open"
    )
    assert victim.read_text() == "finished work"

    ckpt = _module_checkpoint(tmp_path / "identity.ckpt", loss={"_target_": "torch.nn.Identity"})
    line = _one_error_line(capsys, lambda: main(_analyze(ckpt, tmp_path / "b")))
    assert "names torch.nn.Identity as method.loss._target_" in line
    # the same target given on the command line: the user's choice, so the model is rebuilt with it
    run(_analyze(ckpt, tmp_path / "c", "+method.loss._target_=torch.nn.Identity"))
    assert "analysis/embedding/effective_rank" in json.loads((tmp_path / "c" / "analysis.json").read_text())["metrics"]


def test_trust_is_given_by_the_exact_setting_and_value_never_by_a_value_anywhere(tmp_path):
    # issue 23.1: `+tag=builtins.open` named the same value for another setting, and the saved target was called
    victim = tmp_path / "precious.txt"
    victim.write_text("finished work")
    ckpt = _module_checkpoint(tmp_path / "open.ckpt", loss={"_target_": "builtins.open", "_args_": [str(victim), "w"]})
    done = run_cli_in_process(
        [
            "stage=analyze",
            f"ckpt={ckpt}",
            "logger=none",
            "analysis.max_images=64",
            "+tag=builtins.open",
            f"hydra.run.dir={tmp_path / 'a'}",
        ],
        tmp_path,
    )
    assert done.returncode == 2 and victim.read_text() == "finished work"
    assert done.stderr.strip().splitlines()[-1].endswith("command line: +method.loss._target_=builtins.open")
    assert trusted_targets({}, ["+method.loss._target_=torch.nn.Identity", "+tag=x.y"]) == {
        ("method.loss", "torch.nn.Identity"),
        ("tag", "x.y"),
    }
    assert foreign_targets({"method": {"loss": {"_target_": "x.y"}}}, {("tag", "x.y")}) == [("method.loss", "x.y")]
    assert foreign_targets({"model": {"method": {"whiten": "x.y"}}}, {("method.whiten", "x.y")}) == []


def test_saved_names_are_registry_names_and_never_paths(tmp_path):
    # a registered loss target is rebuilt without asking; the saved method name cannot become a path
    ckpt = _module_checkpoint(tmp_path / "simclr.ckpt", name="x/../../../../elsewhere")
    run(_analyze(ckpt, tmp_path / "a"))
    results = json.loads((tmp_path / "a" / "analysis.json").read_text())
    assert results["method"] == "x_________elsewhere"
    assert "analysis/embedding/effective_rank" in results["metrics"]
    ckpt = _module_checkpoint(tmp_path / "unknown.ckpt")
    saved = torch.load(ckpt, weights_only=True)
    saved["hyper_parameters"]["backbone"]["name"] = "os.system"
    torch.save(saved, ckpt)
    with pytest.raises(
        CheckpointError, match=r"backbone.name='os.system', which is not one of this project's backbones"
    ):
        load_encoder(ckpt)
    saved["hyper_parameters"]["backbone"]["name"] = "resnet_tiny"
    saved["hyper_parameters"]["dataset"]["name"] = "../../etc"
    torch.save(saved, ckpt)
    with pytest.raises(
        CheckpointError,
        match=r"names dataset '../../etc' in its saved settings, which is not one of "
        r"this project's datasets: give dataset_from_ckpt=false and dataset=",
    ):
        run(compose_config(["stage=knn", f"ckpt={ckpt}", "logger=none"], run_dir=tmp_path / "b"))


# --- the wrong kind of checkpoint, and k-NN sizes -------------------------------------------------------------


@pytest.mark.parametrize("stage", ["knn", "analyze", "export"])
def test_a_linear_probe_checkpoint_is_named_and_the_encoder_asked_for(stage, pretrained, probes, tmp_path, capsys):
    for kind, path in probes.items():
        overrides = [f"stage={stage}", f"ckpt={path}", "logger=none"]
        (problem,) = _problems(overrides, tmp_path / f"{kind}_checked")
        assert problem.startswith(f"ckpt={path} is a linear-probe checkpoint") and problem.endswith(
            f"give ckpt= the pretraining checkpoint it {'probed' if kind == 'probe' else 'was trained on'}"
            f" ({pretrained})"
        ), problem
        line = _one_error_line(capsys, lambda: main(compose_config(overrides, run_dir=tmp_path / kind)))
        assert line == f"error: {problem[len('ckpt=') :]}"


def test_a_linear_probe_checkpoint_is_no_pretraining_resume(probes, tmp_path):
    for kind, path in probes.items():
        problems = _problems(["debug=smoke", f"ckpt_path={path}"], tmp_path / kind)
        assert (
            len(problems) == 1
            and problems[0].startswith(f"ckpt_path={path}")
            and "linear-probe checkpoint" in problems[0]
        ), problems


def test_knn_k_larger_than_the_training_set_is_refused(pretrained, tmp_path, capsys):
    overrides = ["stage=knn", f"ckpt={pretrained}", "logger=none", "knn.k=100000"]
    line = _one_error_line(capsys, lambda: main(compose_config(overrides, run_dir=tmp_path)))
    assert line == (
        "error: knn.k=100000 is larger than the 512 labelled training images of dataset=synthetic: lower "
        "knn.k (at most 512)"
    )
    assert not (tmp_path / "results.json").exists()


# --- exports --------------------------------------------------------------------------------------------------


def test_export_never_overwrites_an_input(pretrained, tmp_path, capsys):
    existing = tmp_path / "mine.pth"
    existing.write_text("someone's file")
    base = ["stage=export", f"ckpt={pretrained}", "logger=none"]
    assert _problems([*base, f"export.output={existing}"], tmp_path / "a") == [
        f"export.output={existing} already exists: choose another export.output, or add export.overwrite=true to "
        "replace it"
    ]
    run(compose_config([*base, f"export.output={existing}", "export.overwrite=true"], run_dir=tmp_path / "a"))
    assert "conv1.weight" in torch.load(existing, weights_only=True)

    before = pretrained.read_bytes()
    keep = pretrained.parent / "epoch0001.ckpt"  # a hard link to the same bytes
    for output in (pretrained, keep):
        overrides = [*base, f"export.output={output}", "export.overwrite=true"]
        assert _problems(overrides, tmp_path / "b") == [
            f"export.output={output} is the checkpoint being exported (ckpt={pretrained}): choose another "
            "export.output (an export never writes over its input, even with export.overwrite=true)"
        ]
        line = _one_error_line(capsys, lambda: main(compose_config(overrides, run_dir=tmp_path / "b")))
        assert "is the checkpoint being exported" in line
    assert pretrained.read_bytes() == before and keep.read_bytes() == before


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("stem", sorted(STEMS))
def test_the_export_note_builds_a_module_the_export_loads_into(name, stem):
    backbone_cfg = {"name": name, "stem": stem, "width": 8} if name == "resnet_tiny" else {"name": name, "stem": stem}
    exported = exported_state_dict(build_backbone(**backbone_cfg)[0])
    namespace = {}
    exec(rebuild_snippet(backbone_cfg), namespace)
    namespace["model"].load_state_dict(exported, strict=True)


def test_export_prints_the_module_to_build_for_its_backbone(pretrained, tmp_path, monkeypatch):
    from whitening_ssl.stages import export

    said = []
    monkeypatch.setattr(export, "say", said.append)
    run(compose_config(["stage=export", f"ckpt={pretrained}", "logger=none"], run_dir=tmp_path))
    note = next(message for message in said if message.startswith("note: to use it"))
    code = "\n".join(line[4:] for line in note.splitlines()[1:])
    assert "build_backbone('resnet_tiny', stem='cifar', width=8)" in code and "Conv2d(3, 64" not in code
    namespace = {}
    exec(code, namespace)
    assert namespace["model"].conv1.weight.shape[0] == 8


# --- broken weights and damaged files (issue 23.4) ----------------------------------------------------------


def test_broken_weights_and_a_damaged_file_are_refused_in_one_line(pretrained, tmp_path, capsys):
    # NaN weights gave k-NN 10.94 and int64 weights 10.16 (exit 0); a changed byte loaded without a word
    saved = torch.load(pretrained, map_location="cpu", weights_only=True)
    weights = saved["state_dict"]
    first = next(key for key, value in weights.items() if key.startswith("backbone.") and value.is_floating_point())
    for kind, change, ending in (
        (
            "nan",
            lambda v: torch.full_like(v, float("nan")) if v.is_floating_point() else v,
            f"holds non-finite weights (NaN or inf) in {sum(k.startswith('backbone.') and v.is_floating_point() for k, v in weights.items())} "
            f"tensor(s), first {first[len('backbone.') :]}: the run had diverged when it was saved; use an earlier "
            "checkpoint of the run",
        ),
        ("int", lambda v: v.long(), "holds torch.int64 weights where the model has floating-point ones"),
    ):
        path = tmp_path / f"{kind}.ckpt"
        torch.save({**saved, "state_dict": {key: change(value) for key, value in weights.items()}}, path)
        for stage in ("knn", "export"):
            line = _one_error_line(
                capsys,
                lambda: main(
                    compose_config(
                        [f"stage={stage}", f"ckpt={path}", "logger=none"], run_dir=tmp_path / f"{kind}_{stage}"
                    )
                ),
            )
            assert line.startswith(f"error: {path} (lightning checkpoint) ") and ending in line, line
    with pytest.raises(CheckpointError, match=r"ckpt_path=.*nan.ckpt holds non-finite weights"):
        verify_resume_file(tmp_path / "nan.ckpt")
    damaged = tmp_path / "damaged.ckpt"
    data = bytearray(pretrained.read_bytes())
    with zipfile.ZipFile(pretrained) as archive:
        record = next(info for info in archive.infolist() if info.file_size > 1000 and "/data/" in info.filename)
    data[record.header_offset + 30 + len(record.filename.encode()) + record.file_size // 2 + 64] ^= 0xFF
    damaged.write_bytes(bytes(data))
    line = _one_error_line(
        capsys,
        lambda: main(compose_config(["stage=knn", f"ckpt={damaged}", "logger=none"], run_dir=tmp_path / "damaged")),
    )
    assert line == (
        f"error: {damaged} is damaged: the checksum (CRC-32) of its record {record.filename} does not "
        "match its bytes (the file changed after it was written): use another checkpoint, e.g. an earlier "
        "epochNNNN.ckpt of the same run"
    )
