"""A torchvision built for another torch: one ``error:`` line with what is installed, what it needs and the fix."""

import pytest
from helpers import run_cli_in_process

from whitening_ssl.cli import install


def test_a_matched_pair_has_no_problem():
    assert install.pair_problem("2.14.1", "0.29.1") is None
    assert install.pair_problem("2.14.1+cpu", "0.29.1+cpu") is None


def test_a_mismatched_pair_says_what_it_needs_and_the_command():
    line = install.pair_problem("2.14.1", "0.28.0")
    assert line == (
        "torch 2.14.1 and torchvision 0.28.0 are installed, but torchvision 0.28.0 needs torch 2.13: "
        'install the torchvision built for this torch with python -m pip install "torchvision==0.29.*" '
        "(or the tested pair: python -m pip install torch==2.14.1 torchvision==0.29.1)"
    )
    assert '"torchvision==0.21.*" --index-url https://download.pytorch.org/whl/cpu' in install.pair_problem(
        "2.6.0+cpu", "0.29.1"
    )


def test_a_failing_operator_registration_is_one_line_and_exit_2(monkeypatch, tmp_path):
    """As a torchvision built for another torch fails at import: its operator does not exist in this torch."""
    monkeypatch.setattr(install, "import_problem", lambda: RuntimeError("operator torchvision::nms does not exist"))
    done = run_cli_in_process(["dataset=synthetic", "trainer=cpu", "logger=none"], tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("error: torch ")
        and "(operator torchvision::nms does not exist)" in lines[0]
        and 'python -m pip install "torchvision==' in lines[0]
    )
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("args", [["--help"], ["--cfg", "job"], ["check=true"]])
def test_printing_and_checking_do_not_import_torchvision(args):
    from whitening_ssl.cli.preflight import runs_nothing

    assert runs_nothing(args) and not runs_nothing(["epochs=1"])
