import torch

from whitening_ssl.eval import knn_accuracy, knn_predict, linear_probe, topk_accuracies


def knn_reference(train_x, train_y, test_x, k):
    """The published loop: k smallest Euclidean distances, unique(return_counts) and argmax."""
    predictions = []
    for x in test_x:
        nearest = ((train_x - x) ** 2).sum(1).argsort()[:k]
        labels, counts = train_y[nearest].unique(return_counts=True)
        predictions.append(labels[counts.argmax()])
    return torch.stack(predictions)


def test_knn_matches_reference_loop_including_ties():
    gen = torch.Generator().manual_seed(0)
    train_x, test_x = torch.randn(200, 6, generator=gen), torch.randn(50, 6, generator=gen)
    train_y = torch.randint(0, 4, (200,), generator=gen)
    for k in (1, 4, 5):  # k=4 produces ties, resolved to the smallest label
        got = knn_predict(train_x, train_y, test_x, k=k, test_chunk=17)
        assert torch.equal(got, knn_reference(train_x, train_y, test_x, k))


def test_knn_accuracy_on_clusters_and_unlabelled_points_ignored():
    centres = torch.eye(3) * 10
    train_x = torch.cat([centres + 0.1 * torch.randn(3, 3) for _ in range(5)])
    train_y = torch.arange(3).repeat(5)
    noise = torch.full((5, 3), 10.0)  # far-away unlabelled points (label -1, as STL-10's)
    acc = knn_accuracy(
        torch.cat([train_x, noise]),
        torch.cat([train_y, -torch.ones(5, dtype=torch.long)]),
        centres,
        torch.arange(3),
        k=5,
    )
    assert acc == 1.0


def test_fast_linear_protocol_separates_linearly_separable_features():
    gen = torch.Generator().manual_seed(1)
    num_classes, dim = 10, 32
    directions = torch.randn(num_classes, dim, generator=gen)

    def sample(n):
        y = torch.randint(0, num_classes, (n,), generator=gen)
        return directions[y] * 3 + torch.randn(n, dim, generator=gen), y

    train_x, train_y = sample(3000)
    test_x, test_y = sample(1000)
    accuracies = linear_probe(train_x, train_y, test_x, test_y, epochs=30)
    assert accuracies[1] > 0.95
    assert accuracies[5] >= accuracies[1]


def test_topk_accuracies_are_micro_averaged():
    logits = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4], [0.1, 0.3, 0.6]])
    targets = torch.tensor([0, 1, 1, 2])
    acc = topk_accuracies(logits, targets, num_classes=3, topk=(1, 2, 5))
    assert acc[1] == 0.5 and acc[2] == 0.75 and acc[5] == 1.0


def test_cosine_weighted_knn_matches_a_plain_loop():
    gen = torch.Generator().manual_seed(2)
    train_x, test_x = torch.randn(120, 5, generator=gen), torch.randn(30, 5, generator=gen)
    train_y = torch.randint(0, 3, (120,), generator=gen)
    got = knn_predict(train_x, train_y, test_x, k=7, weighting="cosine", temperature=0.1, test_chunk=11)
    unit_train = train_x / train_x.norm(dim=1, keepdim=True)
    expected = []
    for x in test_x:
        similarity = unit_train @ (x / x.norm())
        nearest = similarity.argsort(descending=True)[:7]
        votes = torch.zeros(3)
        for index in nearest:
            votes[train_y[index]] += torch.exp(similarity[index] / 0.1)
        expected.append(votes.argmax())
    assert torch.equal(got, torch.stack(expected))
