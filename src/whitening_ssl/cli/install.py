"""The installed torch and torchvision: a pair built for each other, checked before anything runs.

A torchvision built for another torch fails at its first import with ``RuntimeError: operator
torchvision::nms does not exist`` (its compiled operators do not load into this torch), deep in a
traceback. :func:`check_torch_pair` says it in one ``error:`` line instead: what is installed, what it
needs, and the ``pip`` command that installs the matching torchvision, and exits with status 2.

torchvision ``0.N`` is built for torch ``2.(N - 15)`` (0.29 for 2.14, 0.16 for 2.1): the versions are
read from the packages' metadata, which costs no import. The import itself (which loads the operators)
is tried only where it is asked for (``import_check``), because it takes seconds.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

#: the pair the tests and CI run (README "Install", .ci/run)
TESTED = ("2.14.1", "0.29.1")
#: torchvision 0.N pairs with torch 2.(N - OFFSET)
OFFSET = 15
_RELEASE = re.compile(r"^(\d+)\.(\d+)")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _minor(version: str) -> tuple | None:
    match = _RELEASE.match(version)
    return (int(match[1]), int(match[2])) if match else None


def torchvision_for(torch_version: str) -> str:
    """The torchvision release series built for ``torch_version`` (``2.14.1`` -> ``0.29.*``)."""
    major, minor = _minor(torch_version) or (0, 0)
    return f"0.{minor + OFFSET}.*" if major == 2 else "a matching release"


def _index(torch_version: str) -> str:
    local = torch_version.partition("+")[2]  # +cpu, +cu121: the same build's index
    return f" --index-url https://download.pytorch.org/whl/{local}" if local else ""


def fix_command(torch_version: str) -> str:
    return f'python -m pip install "torchvision=={torchvision_for(torch_version)}"{_index(torch_version)}'


def pair_problem(
    torch_version: str | None, vision_version: str | None, import_error: BaseException | None = None
) -> str | None:
    """One line saying what is wrong with the installed pair, or ``None``."""
    if torch_version is None or vision_version is None:
        missing = "torch" if torch_version is None else "torchvision"
        return (
            f"{missing} is not installed: install the tested pair with python -m pip install "
            f"torch=={TESTED[0]} torchvision=={TESTED[1]} (README, Install)"
        )
    installed = f"torch {torch_version} and torchvision {vision_version} are installed"
    torch_minor, vision_minor = _minor(torch_version), _minor(vision_version)
    mismatch = (
        torch_minor is not None
        and vision_minor is not None
        and torch_minor[0] == 2
        and vision_minor[0] == 0
        and vision_minor[1] - OFFSET != torch_minor[1]
    )
    if not mismatch and import_error is None:
        return None
    needs = (
        f"torchvision {vision_version} needs torch 2.{vision_minor[1] - OFFSET}"
        if mismatch and vision_minor is not None
        else f"torchvision cannot be imported ({' '.join(str(import_error).split())})"
    )
    return (
        f"{installed}, but {needs}: install the torchvision built for this torch with "
        f"{fix_command(torch_version)} (or the tested pair: python -m pip install torch=={TESTED[0]} "
        f"torchvision=={TESTED[1]}{_index(torch_version)})"
    )


def import_problem() -> BaseException | None:
    """The error importing torchvision raises (its operators not loading into this torch), or ``None``."""
    try:
        import torchvision  # noqa: F401
    except (RuntimeError, ImportError, OSError) as error:
        return error
    return None


def check_torch_pair(import_check: bool = True) -> None:
    """Exit with one ``error:`` line (status 2) when torch and torchvision are not a working pair."""
    problem = pair_problem(_version("torch"), _version("torchvision"), import_problem() if import_check else None)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
