"""Bad image files: the pre-training check (find_bad_images) and the run-time skip/stop policy."""

from __future__ import annotations

import io
import pickle
import warnings
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing
from PIL import Image, ImageFile
from torch.utils.data import DataLoader
from torchvision import transforms as T

from whitening_ssl.data import (
    MAX_CONSECUTIVE_BAD_IMAGES,
    BadImage,
    BadImageError,
    BadImageWarning,
    FileListDataset,
    ImagePathDataset,
    TransformedDataset,
    describe_bad_images,
    find_bad_images,
)

IMAGE_SIZE = 96


def _noise_image(seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """One file per case, by name; noise images so the JPEG is several KB and a cut lands in the pixel data."""
    jpeg = _encoded(_noise_image(0), "JPEG")
    png = _encoded(_noise_image(1), "PNG")
    assert jpeg.endswith(b"\xff\xd9") and len(jpeg) > 4000
    return {
        "good_png": _write(tmp_path / "good.png", png),
        "good_jpeg": _write(tmp_path / "good.jpg", jpeg),
        "padded_jpeg": _write(tmp_path / "padded.jpg", jpeg + b"\x00" * 64 + b"\xff" * 3),
        "empty": _write(tmp_path / "empty.jpg", b""),
        "truncated_jpeg": _write(tmp_path / "truncated.jpg", jpeg[: int(len(jpeg) * 0.7)]),
        "text": _write(tmp_path / "text.jpg", b"this is not an image\n" * 10),
        "truncated_png": _write(tmp_path / "truncated.png", png[: len(png) // 2]),
    }


BAD_CASES = {  # case -> word its reason must contain
    "empty": "empty",
    "truncated_jpeg": "end-of-image",
    "text": "identify",
    "truncated_png": "IEND",
}


def _decoded_pixels(path: str) -> torch.Tensor:
    with Image.open(path) as image:
        return T.functional.pil_to_tensor(image.convert("RGB"))


# --- before training: find_bad_images / describe_bad_images ---------------------


def test_find_bad_images_all_reports_exactly_the_bad_files_in_order(files):
    paths = list(files.values())
    bad = find_bad_images(paths, mode="all", threads=3)
    expected = [files[case] for case in files if case in BAD_CASES]  # input order
    assert [item.path for item in bad] == expected
    for item in bad:
        case = next(case for case, path in files.items() if path == item.path)
        assert BAD_CASES[case] in item.reason and "\n" not in item.reason
    assert find_bad_images(paths, mode="all", threads=1) == bad


def test_find_bad_images_reads_missing_files_as_bad(files, tmp_path):
    missing = str(tmp_path / "missing.jpg")
    assert [item.path for item in find_bad_images([files["good_png"], missing], mode="all")] == [missing]


def test_find_bad_images_sample_is_seeded_and_sized(tmp_path):
    paths = [_write(tmp_path / f"empty_{index}.jpg", b"") for index in range(30)]  # every file is bad
    sampled = find_bad_images(paths, mode="sample", sample_size=7, seed=3)
    assert len(sampled) == 7 and len({item.path for item in sampled}) == 7
    assert [item.path for item in sampled] == sorted((item.path for item in sampled), key=paths.index)
    assert find_bad_images(paths, mode="sample", sample_size=7, seed=3) == sampled
    assert find_bad_images(paths, mode="sample", sample_size=7, seed=4) != sampled
    assert len(find_bad_images(paths, mode="sample", sample_size=100)) == 30  # sample larger than the list: all


def test_find_bad_images_sample_covering_everything_matches_all_and_none_checks_nothing(files):
    paths = list(files.values())
    assert find_bad_images(paths, mode="sample", sample_size=len(paths)) == find_bad_images(paths, mode="all")
    assert find_bad_images(paths, mode="none") == []


def test_find_bad_images_rejects_unknown_mode_with_the_choices(files):
    with pytest.raises(ValueError, match="choose one of: none, sample, all"):
        find_bad_images(list(files.values()), mode="everything")


def test_describe_bad_images_is_one_line_with_count_paths_and_what_to_do():
    bad = [BadImage(f"/data/img_{index}.jpg", "empty file (0 bytes)") for index in range(7)]
    message = describe_bad_images(bad, limit=3)
    assert "\n" not in message and message.startswith("7 bad image files")
    assert all(f"/data/img_{index}.jpg (empty file (0 bytes))" in message for index in range(3))
    assert "/data/img_3.jpg" not in message and "and 4 more" in message
    assert "remove or fix them" in message and "data.verify_images=none" in message
    assert "more" not in describe_bad_images(bad[:2], limit=3)
    assert describe_bad_images([]) == "No bad image files found"


# --- during training: on_bad_image="stop" / "skip" ---------------------------------


def _path_dataset(paths: list[str], on_bad_image: str) -> ImagePathDataset:
    return ImagePathDataset([(path, label) for label, path in enumerate(paths)], ["c"], on_bad_image=on_bad_image)


def _file_list_dataset(paths: list[str], on_bad_image: str) -> FileListDataset:
    root = Path(paths[0]).parent
    names = [str(Path(path).relative_to(root)) for path in paths]
    return FileListDataset(root, names, list(range(len(paths))), ["c"], on_bad_image=on_bad_image)


DATASET_FACTORIES = [_path_dataset, _file_list_dataset]


def _next_good_index(index: int, is_bad: list[bool]) -> int:
    """Reference: the first index at or after ``index`` (wrapping) whose file is good."""
    while is_bad[index % len(is_bad)]:
        index += 1
    return index % len(is_bad)


@pytest.mark.parametrize("make_dataset", DATASET_FACTORIES)
def test_good_files_decode_to_their_pixels_padded_jpeg_included(files, make_dataset):
    names = ["good_png", "good_jpeg", "padded_jpeg"]
    dataset = make_dataset([files[name] for name in names], "stop")
    for index, name in enumerate(names):
        image, label = dataset[index]
        assert label == index and image.mode == "RGB"
        assert torch.equal(T.functional.pil_to_tensor(image), _decoded_pixels(files[name]))


@pytest.mark.parametrize("make_dataset", DATASET_FACTORIES)
@pytest.mark.parametrize("case", ["empty", "truncated_jpeg", "text", "truncated_png"])
def test_stop_raises_one_line_bad_image_error_naming_the_file(files, make_dataset, case):
    dataset = make_dataset([files["good_png"], files[case]], "stop")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # the package must not switch on grey padding
    with pytest.raises(BadImageError) as caught:
        dataset[1]
    message = str(caught.value)
    assert isinstance(caught.value, RuntimeError) and "\n" not in message
    assert files[case] in message and "data.on_bad_image=skip" in message
    assert dataset.skipped_images() == []


@pytest.mark.parametrize("make_dataset", DATASET_FACTORIES)
def test_skip_returns_next_decodable_item_and_warns_once_per_file(files, make_dataset):
    names = ["good_png", "truncated_jpeg", "text", "good_jpeg", "empty"]
    is_bad = [name in BAD_CASES for name in names]
    dataset = make_dataset([files[name] for name in names], "skip")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so a repeat would show: once-per-file must come from the dataset
        for _ in range(2):  # a second epoch must not warn again
            labels = [dataset[index][1] for index in range(len(names))]
            assert labels == [_next_good_index(index, is_bad) for index in range(len(names))] == [0, 3, 3, 3, 0]
    warned = [str(warning.message) for warning in caught if issubclass(warning.category, BadImageWarning)]
    bad_paths = [files[name] for name in names if name in BAD_CASES]
    assert len(warned) == len(bad_paths)
    assert all(sum(path in message for message in warned) == 1 for path in bad_paths)
    assert dataset.skipped_images() == bad_paths
    assert torch.equal(T.functional.pil_to_tensor(dataset[1][0]), _decoded_pixels(files["good_jpeg"]))


@pytest.mark.parametrize("make_dataset", DATASET_FACTORIES)
def test_skip_gives_up_after_too_many_consecutive_bad_files(tmp_path, make_dataset):
    num_bad = MAX_CONSECUTIVE_BAD_IMAGES + 20
    paths = [_write(tmp_path / f"bad_{index:03d}.jpg", b"") for index in range(num_bad)]
    paths.append(_write(tmp_path / "good.png", _encoded(_noise_image(2), "PNG")))
    dataset = make_dataset(paths, "skip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)
        assert dataset[num_bad - MAX_CONSECUTIVE_BAD_IMAGES + 1][1] == num_bad  # within reach of the good file
        with pytest.raises(BadImageError, match=f"{MAX_CONSECUTIVE_BAD_IMAGES} consecutive images") as caught:
            dataset[0]
    assert paths[0] in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("make_dataset", DATASET_FACTORIES)
def test_index_past_the_end_raises_index_error_so_iteration_stops(files, make_dataset):
    dataset = make_dataset([files["good_png"], files["empty"]], "skip")
    with pytest.raises(IndexError):
        dataset[2]  # must not wrap around: ``for item in dataset`` relies on this IndexError to stop
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BadImageWarning)
        assert [label for _, label in dataset] == [0, 0]  # the empty file's item is replaced by item 0
        assert dataset[-1][1] == 0


def test_unknown_on_bad_image_is_refused_with_the_choices(files):
    with pytest.raises(ValueError, match="choose one of: skip, stop"):
        _path_dataset([files["good_png"]], "ignore")


@pytest.mark.parametrize(
    ("make_dataset", "num_workers", "context"),
    [
        (_path_dataset, 0, None),
        (_file_list_dataset, 0, None),
        (_path_dataset, 2, "fork"),
        (_file_list_dataset, 2, "fork"),
        pytest.param(_path_dataset, 2, "spawn", marks=pytest.mark.slow),
    ],
)  # fmt: skip  (spawned workers re-import torch and Lightning: ~50 s on 2 cores, hence slow)
def test_skip_through_a_dataloader_reports_skipped_paths_in_the_main_process(
    files, make_dataset, num_workers, context, capfd
):
    names = ["good_png", "truncated_jpeg", "good_jpeg", "text", "padded_jpeg", "empty"]
    is_bad = [name in BAD_CASES for name in names]
    base = make_dataset([files[name] for name in names], "skip")
    dataset = TransformedDataset(base, T.PILToTensor())
    loader = DataLoader(dataset, batch_size=2, num_workers=num_workers, multiprocessing_context=context)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = torch.cat([batch_labels for _, batch_labels in loader]).tolist()
    assert labels == [_next_good_index(index, is_bad) for index in range(len(names))]
    assert base.skipped_images() == [files[name] for name in names if name in BAD_CASES]
    # Warnings name the file: recorded here in-process; a spawned worker prints them to the inherited stderr.
    # (A forked worker inherits this test's recording hook, so its warnings stay in the worker.)
    if num_workers == 0:
        warned = " ".join(str(warning.message) for warning in caught if issubclass(warning.category, BadImageWarning))
    else:
        warned = capfd.readouterr().err
    if context != "fork":
        assert all(files[name] in warned for name in names if name in BAD_CASES)


@pytest.mark.parametrize("make_dataset", DATASET_FACTORIES)
def test_flags_written_by_a_spawned_copy_reach_the_original(files, make_dataset):
    """A spawned DataLoader worker gets the dataset through torch's multiprocessing pickler; its flags are shared."""
    dataset = make_dataset([files["good_png"], files["text"], files["good_jpeg"]], "skip")
    worker_copy = pickle.loads(ForkingPickler.dumps(dataset))
    with pytest.warns(BadImageWarning, match=files["text"]):
        assert worker_copy[1][1] == 2
    assert dataset.skipped_images() == [files["text"]]


def test_a_16_bit_png_is_scaled_to_8_bits_not_turned_white(tmp_path):
    # issue 23.6: PIL's convert("RGB") clips a 16-bit image's values above 255: almost all white
    import numpy as np
    from PIL import Image

    from whitening_ssl.data.sources.verify import decode_rgb

    values = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)  # 0, 257, ..., 65535: 8-bit 0..255
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode in ("I;16", "I")
    rgb = np.asarray(decode_rgb(path))
    assert rgb.shape == (16, 16, 3) and (rgb == (values // 257)[..., None]).all()
