"""A researcher's own whitening kind and loss (examples/), used from the command line without editing the
package, get the same checks, training, checkpoints and evaluation as the built-in ones."""

import json

import pytest
import torch
from helpers import ROOT, compose_config, run_cli_in_process

from whitening_ssl.stages import check_config, run
from whitening_ssl.validation import ConfigError

SMALL = [
    "debug=smoke",
    "backbone.width=8",
    "logger=none",
    "dataset.options.num_samples=128",  # batch 64: 2 steps
    "epochs=1",
    "eval.linear_epochs=2",
    "analysis.every_n_steps=0",
    "analysis.at_evaluation=false",
]
OWN_KIND = "method.whiten=examples.soft_whitening.soft_zca"
OWN_LOSS = [
    "method=simclr",
    "method.name=spectral",
    "~method.loss",
    "+method.loss={name: examples.spectral_loss.SpectralContrastiveLoss, mu: 1.0}",
    "method.emb=32",
    "method.head_size=64",
    "data.batch_size=64",
]


@pytest.fixture(autouse=True)
def _from_the_checkout(monkeypatch):
    monkeypatch.chdir(ROOT)  # examples/ is found where run.py is started from
    monkeypatch.syspath_prepend(str(ROOT))


def _trained(overrides, run_dir):
    cfg = compose_config([*SMALL, *overrides], run_dir=run_dir)
    check_config(cfg, run_dir)
    run(cfg)
    results = json.loads((run_dir / "results.json").read_text())
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return results, state


def _moved(state, initial_state):
    return any(not torch.equal(state["state_dict"][k], v) for k, v in initial_state.items() if v.is_floating_point())


@pytest.mark.parametrize("overrides", [[OWN_KIND, "+method.power=0.25"], OWN_LOSS], ids=["own-whitening", "own-loss"])
def test_your_own_component_trains_checkpoints_and_is_evaluated(overrides, tmp_path):
    results, state = _trained(overrides, tmp_path)
    assert results["final"]["knn_top1"] is not None and results["global_step"] == 2
    losses = list(results["history"])
    assert losses and all(torch.isfinite(torch.tensor(h["knn_top1"])) for h in losses)
    fresh = compose_config([*SMALL, *overrides], run_dir=tmp_path / "fresh")
    from whitening_ssl.methods import build_method
    from whitening_ssl.models import resolve_stem

    untrained = build_method(resolve_stem(dict(fresh.backbone), "cifar"), fresh.method, fresh.data.num_views)
    assert _moved(state, untrained.state_dict())
    saved = next(v for k, v in state["callbacks"].items() if "RunCheckpoints" in k)["config"]["method"]
    if overrides[0] == OWN_KIND:
        assert saved["whiten"] == "examples.soft_whitening.soft_zca" and saved["power"] == 0.25
    else:
        assert saved["loss"] == {"name": "examples.spectral_loss.SpectralContrastiveLoss", "mu": 1.0}


def test_your_own_kind_is_checked_like_a_built_in_one(tmp_path):
    with pytest.raises(ConfigError) as caught:
        check_config(compose_config([*SMALL, OWN_KIND, "+method.power=2"], run_dir=tmp_path), tmp_path)
    assert caught.value.problems == [
        "method.power=2.0 must be at most 0.5 (0.5 is ZCA: more would invert the spectrum)"
    ]
    with pytest.raises(ConfigError) as caught:
        check_config(compose_config([*SMALL, "method.whiten=examples.nothing_here.kind"], run_dir=tmp_path), tmp_path)
    assert caught.value.problems[0].startswith(
        "method.whiten=examples.nothing_here.kind: cannot import examples.nothing_here"
    )
    with pytest.raises(ConfigError) as caught:
        check_config(
            compose_config(
                [*SMALL, *OWN_LOSS[:3], "+method.loss={name: examples.spectral_loss.SpectralContrastiveLoss, mu: -1}"],
                run_dir=tmp_path,
            ),
            tmp_path,
        )
    assert caught.value.problems == [
        "method.loss (examples.spectral_loss.SpectralContrastiveLoss): mu=-1 must be "
        "positive (the weight of the repulsion term)"
    ]


def test_the_soft_whitening_interpolates_between_none_and_zca():
    from examples.soft_whitening import soft_zca
    from whitening_ssl.whitening import whiten

    x = torch.randn(4, 256, 8, dtype=torch.float64) @ torch.randn(8, 8, dtype=torch.float64)
    zca = whiten(x, "zca", axis="batch")
    assert torch.allclose(whiten(x, soft_zca, axis="batch", power=0.5), zca, atol=1e-8)
    half = whiten(x, soft_zca, axis="batch", power=0.25)
    centred = x - x.mean(1, keepdim=True)
    cov_x, cov_half = (centred.transpose(1, 2) @ centred, half.transpose(1, 2) @ half)
    spectrum_x, spectrum_half = torch.linalg.eigvalsh(cov_x / 255), torch.linalg.eigvalsh(cov_half / 255)
    assert torch.allclose(spectrum_half, spectrum_x.sqrt(), rtol=1e-6)  # l^(1 - 2 * 0.25)


def test_a_checkpoint_naming_your_code_is_refused_unless_you_name_it_too(tmp_path, capsys):
    from whitening_ssl.cli import entry as cli

    _trained([OWN_KIND], tmp_path / "run")
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    analyze = ["stage=analyze", f"ckpt={ckpt}", "logger=none", "analysis.max_images=64"]
    with pytest.raises(SystemExit) as stopped:
        cli.main(compose_config(analyze, run_dir=tmp_path / "a"))
    assert stopped.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "names examples.soft_whitening.soft_zca as method.whiten in its saved settings" in line
    assert line.endswith("give the same on the command line: method.whiten=examples.soft_whitening.soft_zca")
    run(compose_config([*analyze, OWN_KIND], run_dir=tmp_path / "b"))
    metrics = json.loads((tmp_path / "b" / "analysis.json").read_text())["metrics"]
    assert "analysis/whitened/stable_rank" in metrics


OWN_CALLBACK = [
    "+callbacks.steps._target_=examples.step_counter.StepCounter",
    "+callbacks.steps._partial_=true",
    "+callbacks.steps.every=3",
    "eval.enabled=false",
]


def test_your_own_callback_from_the_command_line(tmp_path):
    """An entry of the callbacks group added on the command line is built (with the run's folder it asks for)
    and called by the Trainer, beside the project's own callbacks, which still write the checkpoint."""
    results, state = _trained(OWN_CALLBACK, tmp_path)
    assert json.loads((tmp_path / "steps.json").read_text()) == {"steps": results["global_step"]} == {"steps": 2}
    assert any("RunCheckpoints" in key for key in state["callbacks"])


@pytest.mark.parametrize(
    "override, expected",
    [
        (
            "+callbacks.bad._target_=examples.soft_whitening.soft_zca",
            "callbacks.bad._target_=examples.soft_whitening.soft_zca is not a pytorch_lightning.Callback class",
        ),
        ("callbacks.run_checkpoints=null", "callbacks.run_checkpoints cannot be removed"),
    ],
)
def test_a_callback_that_is_not_one_is_refused_before_the_run(override, expected, tmp_path):
    cfg = compose_config([*SMALL, override], run_dir=tmp_path)
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        check_config(cfg, tmp_path)


def test_the_own_method_of_docs_extending_runs_as_written():
    """The method example of docs/extending.md: its loss, logged terms and (measured) whitened output."""
    import re

    from whitening_ssl.methods import LossOutput

    text = (ROOT / "docs" / "extending.md").read_text()
    namespace = {}
    exec(
        re.search(r"```python\n(from whitening_ssl.losses import view_pair_mse\n.*?)```", text, re.S).group(1),
        namespace,
    )
    method = dict(compose_config(["method=w_mse4", "method.eps=0.1"]).method)
    module = namespace["WholeBatchWMSE"]({"name": "resnet_tiny", "width": 4, "stem": "cifar"}, method, 2)
    views = [torch.randn(80, 3, 16, 16) for _ in range(2)]
    output = module.compute_loss(module.encode(views), views, measure=True)
    assert isinstance(output, LossOutput) and torch.isfinite(output.loss) and list(output.terms) == ["train/mse"]
    assert output.whitened.shape == (1, 2, 80, method["emb"]) and not output.whitened.requires_grad
    assert module.compute_loss(module.encode(views), views).whitened is None


OWN_MISTAKES = """
import torch
from torch import nn
from whitening_ssl.whitening import whitening_kind

@whitening_kind()
def one_argument(x):
    return x

@whitening_kind()
def wrong_shape(x, eps, denom_offset):
    return x[..., :1, :]

@whitening_kind()
def detached(x, eps, denom_offset):
    return x.detach()

def _twice_the_channels(checks, settings, samples, channels, path):
    if samples < 2 * channels:
        checks.add(f"{path}w_size={samples} must be at least twice {path}emb={channels} for tall")

@whitening_kind(full_rank=False, check_shape=_twice_the_channels)
def tall(x, eps, denom_offset):
    return x * 2.0

class VectorLoss(nn.Module):
    def forward(self, embeddings):
        return embeddings.pow(2).mean(-1)
"""


def test_your_own_codes_mistakes_are_one_line_each_before_anything_starts(tmp_path, monkeypatch):
    # issue 23.3: each of these was a traceback (exit 1) once the data had loaded
    (tmp_path / "own_mistakes.py").write_text(OWN_MISTAKES)
    (tmp_path / "raises_on_import.py").write_text("raise RuntimeError('a bug at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def problems(*overrides):
        with pytest.raises(ConfigError) as caught:
            check_config(compose_config([*SMALL, *overrides], run_dir=tmp_path / "run"), tmp_path / "run")
        return caught.value.problems

    assert problems("method.whiten=own_mistakes.one_argument") == [
        "method.whiten=own_mistakes.one_argument: its signature does not take the call f(x, eps, denom_offset, *, "
        "<own settings>) (too many positional arguments): write it as f(x, eps, denom_offset, *, <own settings>) "
        "(see docs/extending.md)"
    ]
    assert problems("method.whiten=own_mistakes.wrong_shape") == [
        "method.whiten=own_mistakes.wrong_shape returned [1, 4, 1, 16] for a [1, 4, 32, 16] input: it must return "
        "[1, 4, 32, 16] (see docs/extending.md)"
    ]  # debug=smoke: channel axis, 4 groups of 32, w_size 16
    assert problems("method.whiten=own_mistakes.detached") == [
        "method.whiten=own_mistakes.detached returned a result without a gradient from its input (a .detach(), "
        ".item(), .numpy() or torch.no_grad() inside?): training could not update the network through it"
    ]
    assert problems("method.whiten=own_mistakes.tall") == [
        "method.w_size=16 must be at least twice method.emb=128 for tall"
    ]  # the kind's own size rule (issue 24.6)
    assert problems(*OWN_LOSS[:3], "+method.loss={name: own_mistakes.VectorLoss}") == [
        "method.loss.name=own_mistakes.VectorLoss returned [2, 64] for a [2, 64, 128] input: it must return a scalar "
        "(see docs/extending.md)"
    ]
    done = run_cli_in_process(
        [*SMALL, "method.whiten=raises_on_import.kind", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path
    )
    assert done.returncode == 2 and not (tmp_path / "run").exists()
    assert done.stderr.strip().splitlines() == [
        "error: method.whiten=raises_on_import.kind: importing raises_on_import raised RuntimeError (a bug at import): "
        "fix that module (python -c 'import raises_on_import' shows where)"
    ]
