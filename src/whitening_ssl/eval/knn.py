"""k-nearest-neighbour accuracy on frozen features, streamed so that it scales to ImageNet.

``majority`` is the protocol of "Whitening for Self-Supervised Representation Learning" (Ermolov et
al., ICML 2021): Euclidean distance, ``k = 5``, majority vote, ties going to the smallest label (what
``unique(return_counts=True)`` + ``argmax`` gives in the published code). ``cosine`` is the weighted
k-NN of "Unsupervised Feature Learning via Non-Parametric Instance Discrimination" (Wu et al., CVPR
2018), also used by DINO: neighbours by cosine similarity, each voting with ``exp(sim / temperature)``.

Both are served by one streaming top-k search: the test and training sets are cut into chunks, and
for each test point a running top-k (similarities and global training indices) is merged with every
training chunk's top-k, so no ``N_test x N_train`` (or even ``test_chunk x N_train``) matrix exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..progress import track


def _euclidean_similarity(test: Tensor, train: Tensor) -> Tensor:
    """``2 a.b - ||b||^2 = ||a||^2 - ||a - b||^2``: larger is nearer, and per test row it orders the
    training points exactly as the Euclidean distance does (``||a||^2`` is constant along a row, so it
    is left out: one fewer rounding, and no cancellation against a large constant)."""
    train_sq_norms = torch.linalg.vector_norm(train, dim=1).square()
    return torch.addmm(train_sq_norms, test, train.T, beta=-1, alpha=2)


def _cosine_similarity(test: Tensor, train: Tensor) -> Tensor:
    """Dot products of rows that :func:`_unit_rows` has already scaled to unit length."""
    return test @ train.T


def _unit_rows(x: Tensor) -> Tensor:
    return F.normalize(x, dim=1)


def _identity(x: Tensor) -> Tensor:
    return x


def _uniform_votes(similarity: Tensor, temperature: float) -> Tensor:
    return torch.ones(similarity.shape, dtype=torch.float32, device=similarity.device)


def _exponential_votes(similarity: Tensor, temperature: float) -> Tensor:
    # float32: exp(1 / 0.07) ~ 1.6e6 overflows float16.
    return (similarity.float() / temperature).exp()


@dataclass(frozen=True)
class KnnWeighting:
    """How neighbours are found and how they vote.

    ``prepare`` maps feature rows (test and training alike, one chunk at a time); ``similarity`` gives
    the ``test x train`` block in which larger means nearer; ``vote_weights`` turns the neighbours'
    similarities (and the temperature) into their float32 votes.
    """

    prepare: Callable[[Tensor], Tensor]
    similarity: Callable[[Tensor, Tensor], Tensor]
    vote_weights: Callable[[Tensor, float], Tensor]


KNN_WEIGHTINGS = {
    "majority": KnnWeighting(prepare=_identity, similarity=_euclidean_similarity, vote_weights=_uniform_votes),
    "cosine": KnnWeighting(prepare=_unit_rows, similarity=_cosine_similarity, vote_weights=_exponential_votes),
}


def _weighting(name: str) -> KnnWeighting:
    if name not in KNN_WEIGHTINGS:
        raise ValueError(f"knn.weighting={name!r}: use one of {', '.join(KNN_WEIGHTINGS)}")
    return KNN_WEIGHTINGS[name]


def _resolve_device(device: torch.device | str | None, train_x: Tensor, test_x: Tensor) -> torch.device:
    """The compute device: ``device`` if given, else an accelerator holding either input, else the CPU.

    ``cuda`` without an index becomes the current CUDA device, so that ``tensor.device == device``
    tells whether a copy is needed.
    """
    if device is None:
        device = test_x.device if test_x.device.type != "cpu" else train_x.device
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def _to_device(chunk: Tensor, device: torch.device) -> Tensor:
    """``chunk`` on ``device``; a CPU -> CUDA copy goes through pinned memory and does not block the host."""
    if chunk.device == device:
        return chunk
    if device.type == "cuda" and chunk.device.type == "cpu":
        if not chunk.is_pinned():
            chunk = chunk.pin_memory()
        return chunk.to(device, non_blocking=True)
    return chunk.to(device)


def _prepared_chunk(
    rows: Tensor, device: torch.device, compute_dtype: torch.dtype, prepare: Callable[[Tensor], Tensor]
) -> Tensor:
    """``prepare(rows)`` in ``compute_dtype`` on ``device``: the rows travel in their stored dtype (half
    the bytes for float16 features) and are converted on the device."""
    return prepare(_to_device(rows, device).to(compute_dtype))


def _merge_top_k(
    best_similarity: Tensor, best_index: Tensor, similarity: Tensor, first_index: int, k: int
) -> tuple[Tensor, Tensor]:
    """The ``k`` largest of a running top-k (``best_*``) and of a chunk's ``similarity`` block.

    ``first_index`` is the global index of the chunk's first training row. Returns (similarities,
    global training indices), both ``rows x k``, by decreasing similarity.
    """
    values, local_index = similarity.topk(min(k, similarity.shape[1]), dim=1)
    values = torch.cat([best_similarity, values], dim=1)
    index = torch.cat([best_index, local_index + first_index], dim=1)
    values, order = values.topk(k, dim=1)
    return values, index.gather(1, order)


@torch.no_grad()
def knn_predict(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    k: int = 5,
    num_classes: int | None = None,
    *,
    weighting: str = "majority",
    temperature: float = 0.07,
    test_chunk: int = 1024,
    train_chunk: int = 16384,
    compute_dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> Tensor:
    """Predicted labels (int64, on ``test_x``'s device) of ``test_x`` from its ``k`` nearest training points.

    Neighbours: ``majority`` takes the ``k`` smallest Euclidean distances, ranked by
    ``2 a.b - ||b||^2`` (``= ||a||^2 - ||a - b||^2``) computed in ``compute_dtype``; ``cosine`` the
    ``k`` largest cosine similarities. Votes: ``majority`` one per neighbour, ``cosine``
    ``exp(similarity / temperature)``; the class with the largest total wins, ties to the smallest
    label. ``k`` larger than the training set means all of it.

    Streaming: the loop runs over training chunks of ``train_chunk`` rows (each converted to
    ``compute_dtype`` and, from the CPU to a GPU ``device``, copied from pinned memory without
    blocking, once) and, inside, over test chunks of ``test_chunk`` rows; every test point keeps a
    running top-k (similarities + global training indices) merged with each chunk's top-k by
    ``torch.topk`` over their concatenation. ``train_x`` may be float16/bfloat16 and stay on the CPU;
    ``train_y`` stays where it is (only the final ``N_test x k`` indices are looked up in it).

    Peak memory on ``device``, with ``s`` the bytes per element of ``compute_dtype``, ``s_x`` of
    ``train_x``'s dtype, ``D`` the feature dimension and ``C`` the number of classes::

        N_test * (D * s + k * (s + 8))          # test features in compute_dtype + running top-k
        + train_chunk * D * (s_x + 2 * s)       # a training chunk: as moved, converted, prepared
        + test_chunk * train_chunk * s          # the largest similarity block
        + O(test_chunk * (k + C))               # merges and votes

    independent of ``N_train``; the chunk's copies disappear when ``train_x`` is already on
    ``device`` in ``compute_dtype`` (a view) and ``prepare`` is the identity (``majority``). The test
    features go through the same conversion once, before the loop (transiently up to three copies).
    A float16 ``compute_dtype`` needs ``||b||^2 < 65504`` for ``majority``; float32 is the default.

    Ties: distances that are exactly equal at the ``k``-th place may select either of the tied
    training points (``torch.topk`` does not order ties), so results for duplicated training points
    with different labels can depend on the chunk sizes, as they depend on the sort in the published
    loop; near ties closer than the rounding of ``compute_dtype`` (about ``1e-7 * ||b||^2`` in
    float32) may be ordered differently from a direct ``sum((a - b)^2)``.
    """
    chosen = _weighting(weighting)
    if test_chunk < 1 or train_chunk < 1 or k < 1:
        raise ValueError(f"knn: k={k}, test_chunk={test_chunk}, train_chunk={train_chunk} must all be >= 1")
    if len(train_x) == 0 or len(train_x) != len(train_y):
        raise ValueError(
            f"knn: need as many training labels as training features (>= 1), got "
            f"{len(train_y)} labels for {len(train_x)} features"
        )
    if num_classes is None:
        num_classes = int(train_y.max()) + 1
    k = min(k, len(train_x))
    device = _resolve_device(device, train_x, test_x)
    if len(test_x) == 0:
        return torch.empty(0, dtype=torch.long, device=test_x.device)

    test_features = _prepared_chunk(test_x, device, compute_dtype, chosen.prepare)
    test_slices = [slice(start, start + test_chunk) for start in range(0, len(test_features), test_chunk)]
    # Running top-k, allocated once (no long-lived allocations interleaved with the per-chunk blocks).
    best_similarity = torch.empty(len(test_features), k, dtype=compute_dtype, device=device)
    best_index = torch.empty(len(test_features), k, dtype=torch.long, device=device)
    found = 0  # neighbours held per test point: min(k, training rows seen so far)
    starts = range(0, len(train_x), train_chunk)
    for first_index in track(starts, len(starts), "k-NN search", enabled=progress, unit="chunk"):
        train_features = _prepared_chunk(
            train_x[first_index : first_index + train_chunk], device, compute_dtype, chosen.prepare
        )
        merged = min(k, found + len(train_features))
        for rows in test_slices:
            similarity = chosen.similarity(test_features[rows], train_features)
            best_similarity[rows, :merged], best_index[rows, :merged] = _merge_top_k(
                best_similarity[rows, :found], best_index[rows, :found], similarity, first_index, merged
            )
            del similarity  # freed before the next block is made: one block alive at a time
        del train_features  # likewise one training chunk at a time
        found = merged

    predictions = []
    for rows in test_slices:
        labels = train_y[best_index[rows].to(train_y.device)].to(device, torch.long)
        votes = torch.zeros(len(labels), num_classes, device=device)
        votes.scatter_add_(1, labels, chosen.vote_weights(best_similarity[rows], temperature))
        predictions.append(votes.argmax(dim=1))  # first maximum: smallest label among ties
    return torch.cat(predictions).to(test_x.device)


def check_knn_k(k: int, train_images: int, key: str, dataset: str) -> None:
    """``k`` neighbours need at least ``k`` labelled training images; one line (``ConfigError``) otherwise."""
    from ..validation import ConfigError

    if k > train_images:
        raise ConfigError(
            f"{key}={k} is larger than the {train_images} labelled training images of dataset={dataset}: "
            f"lower {key} (at most {train_images})"
        )


def knn_accuracy(
    train_x: Tensor,
    train_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    k: int = 5,
    weighting: str = "majority",
    temperature: float = 0.07,
    *,
    test_chunk: int = 1024,
    train_chunk: int = 16384,
    compute_dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of :func:`knn_predict`; training labels < 0 are ignored."""
    labelled = train_y >= 0  # STL-10's unlabeled split carries label -1
    if not bool(labelled.any()):
        raise ValueError("knn: every training label is < 0 (unlabelled); give labelled training features")
    if not bool(labelled.all()):  # only then a (labelled-sized) copy of the features
        train_x, train_y = train_x[labelled.to(train_x.device)], train_y[labelled]
    num_classes = max(int(train_y.max()), int(test_y.max())) + 1
    predictions = knn_predict(
        train_x,
        train_y,
        test_x,
        k=k,
        num_classes=num_classes,
        weighting=weighting,
        temperature=temperature,
        test_chunk=test_chunk,
        train_chunk=train_chunk,
        compute_dtype=compute_dtype,
        device=device,
        progress=progress,
    )
    return (predictions == test_y.to(predictions.device)).float().mean().item()
