"""Streaming k-NN (chunks of test AND training points, running top-k) against brute-force loops.

Predictions are compared exactly (torch.equal): the data are continuous random features, so no two
distances tie within float32 rounding and every implementation must pick the same neighbours.
"""

import dataclasses
import math

import pytest
import torch

from whitening_ssl.eval import knn_accuracy, knn_predict
from whitening_ssl.eval.knn import KNN_WEIGHTINGS

NUM_CLASSES = 4


def reference_majority(train_x, train_y, test_x, k):
    """Per test point: sort all squared distances, take k, majority vote (ties: smallest label)."""
    predictions = []
    for x in test_x:
        nearest = ((train_x - x) ** 2).sum(1).argsort()[:k]
        labels, counts = train_y[nearest].unique(return_counts=True)  # labels ascending
        predictions.append(labels[counts.argmax()])  # first maximum: the smallest tied label
    return torch.stack(predictions)


def reference_cosine(train_x, train_y, test_x, k, temperature, num_classes=NUM_CLASSES):
    """Per test point: sort all cosine similarities, take k, each votes exp(similarity / T)."""
    unit_train = train_x / train_x.norm(dim=1, keepdim=True)
    predictions = []
    for x in test_x:
        similarity = unit_train @ (x / x.norm())
        votes = torch.zeros(num_classes)
        for index in similarity.argsort(descending=True)[:k]:
            votes[train_y[index]] += torch.exp(similarity[index] / temperature)
        predictions.append(votes.argmax())
    return torch.stack(predictions)


def make_data(seed, num_train=203, num_test=61, dim=8):
    gen = torch.Generator().manual_seed(seed)
    train_x, test_x = torch.randn(num_train, dim, generator=gen), torch.randn(num_test, dim, generator=gen)
    return train_x, torch.randint(0, NUM_CLASSES, (num_train,), generator=gen), test_x


# (test_chunk, train_chunk): single test rows, chunks that divide neither 61 nor 203, train_chunk < k,
# one chunk bigger than the whole set (single training rows: the k > N_train test).
CHUNKS = [(1, 7), (7, 3), (13, 50), (64, 1000), (1000, 1000)]


@pytest.mark.parametrize("test_chunk, train_chunk", CHUNKS)
@pytest.mark.parametrize("k", [1, 4, 5, 8])  # even k gives vote ties, resolved to the smallest label
def test_majority_matches_sorting_loop(test_chunk, train_chunk, k):
    train_x, train_y, test_x = make_data(0)
    got = knn_predict(train_x, train_y, test_x, k=k, test_chunk=test_chunk, train_chunk=train_chunk)
    assert got.dtype == torch.long
    assert torch.equal(got, reference_majority(train_x, train_y, test_x, k))


@pytest.mark.parametrize("test_chunk, train_chunk", CHUNKS)
@pytest.mark.parametrize("k", [1, 5, 8])
def test_cosine_matches_sorting_loop(test_chunk, train_chunk, k):
    train_x, train_y, test_x = make_data(1)
    got = knn_predict(
        train_x,
        train_y,
        test_x,
        k=k,
        num_classes=NUM_CLASSES,
        weighting="cosine",
        temperature=0.1,
        test_chunk=test_chunk,
        train_chunk=train_chunk,
    )
    assert torch.equal(got, reference_cosine(train_x, train_y, test_x, k, temperature=0.1))


@pytest.mark.parametrize("storage_dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("weighting", ["majority", "cosine"])
def test_half_precision_training_features(storage_dtype, weighting):
    """Half-precision features are upcast chunk by chunk: same result as the loop on the upcast values."""
    train_x, train_y, test_x = make_data(2)
    half_train = train_x.to(storage_dtype)
    got = knn_predict(
        half_train, train_y, test_x, k=5, num_classes=NUM_CLASSES, weighting=weighting, test_chunk=16, train_chunk=37
    )
    upcast = half_train.float()
    if weighting == "majority":
        expected = reference_majority(upcast, train_y, test_x, 5)
    else:
        expected = reference_cosine(upcast, train_y, test_x, 5, temperature=0.07)
    assert torch.equal(got, expected)
    assert half_train.dtype == storage_dtype  # the caller's tensor is not converted


@pytest.mark.parametrize("train_chunk", [1, 5])
@pytest.mark.parametrize("weighting", ["majority", "cosine"])
def test_k_larger_than_training_set_uses_all_of_it(weighting, train_chunk):
    train_x, train_y, test_x = make_data(3, num_train=12, num_test=9)
    got = knn_predict(
        train_x,
        train_y,
        test_x,
        k=50,
        num_classes=NUM_CLASSES,
        weighting=weighting,
        test_chunk=4,
        train_chunk=train_chunk,
    )
    if weighting == "majority":
        expected = reference_majority(train_x, train_y, test_x, 12)
        assert torch.equal(got, torch.full((9,), int(torch.bincount(train_y).argmax())))  # the overall majority
    else:
        expected = reference_cosine(train_x, train_y, test_x, 12, temperature=0.07)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("weighting", ["majority", "cosine"])
def test_largest_similarity_block_is_test_chunk_by_train_chunk(monkeypatch, weighting):
    """Every distance block the search builds has at most test_chunk x train_chunk elements."""
    train_x, train_y, test_x = make_data(4, num_train=203, num_test=61)
    test_chunk, train_chunk = 10, 32
    original = KNN_WEIGHTINGS[weighting]
    blocks = []

    def recording_similarity(test, train):
        block = original.similarity(test, train)
        blocks.append((tuple(test.shape), tuple(train.shape), train.dtype, tuple(block.shape)))
        return block

    monkeypatch.setitem(KNN_WEIGHTINGS, weighting, dataclasses.replace(original, similarity=recording_similarity))
    got = knn_predict(
        train_x.half(),
        train_y,
        test_x,
        k=5,
        num_classes=NUM_CLASSES,
        weighting=weighting,
        test_chunk=test_chunk,
        train_chunk=train_chunk,
    )
    assert len(blocks) == math.ceil(61 / test_chunk) * math.ceil(203 / train_chunk)
    assert max(math.prod(block) for *_, block in blocks) == test_chunk * train_chunk
    assert all(test[0] <= test_chunk and train[0] <= train_chunk for test, train, _, _ in blocks)
    assert all(dtype == torch.float32 for _, _, dtype, _ in blocks)  # upcast one chunk at a time
    reference = (
        reference_majority if weighting == "majority" else (lambda *args: reference_cosine(*args, temperature=0.07))
    )
    assert torch.equal(got, reference(train_x.half().float(), train_y, test_x, 5))


def test_compute_dtype_float64_and_both_chunk_sizes():
    train_x, train_y, test_x = make_data(5)
    expected = reference_majority(train_x.double(), train_y, test_x.double(), 5)
    got = knn_predict(train_x, train_y, test_x, k=5, compute_dtype=torch.float64, train_chunk=19, test_chunk=9)
    assert torch.equal(got, expected)


def test_accuracy_ignores_unlabelled_training_points_with_small_chunks():
    train_x, train_y, test_x = make_data(6)
    test_y = torch.randint(0, NUM_CLASSES, (len(test_x),), generator=torch.Generator().manual_seed(7))
    near_test = test_x[:20] + 1e-3  # unlabelled points next to test points: they must not vote
    all_x = torch.cat([train_x, near_test])
    all_y = torch.cat([train_y, torch.full((20,), -1)])
    accuracy = knn_accuracy(all_x, all_y, test_x, test_y, k=5, test_chunk=8, train_chunk=6)
    expected = (reference_majority(train_x, train_y, test_x, 5) == test_y).float().mean().item()
    assert accuracy == pytest.approx(expected, abs=1e-12)


def test_unknown_weighting_and_bad_chunks_raise_one_line():
    train_x, train_y, test_x = make_data(8)
    with pytest.raises(ValueError, match=r"^knn.weighting='nearest': use one of majority, cosine$"):
        knn_predict(train_x, train_y, test_x, weighting="nearest")
    with pytest.raises(ValueError, match="train_chunk=0"):
        knn_predict(train_x, train_y, test_x, train_chunk=0)
