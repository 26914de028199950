import pytest
import torch

from whitening_ssl.schedules import lr_factor


def reference_learning_rates(base_lr, epochs, iters, warmup, drops, gamma):
    """The paper's training loop: lr_warmup() writes the lr each step, MultiStepLR steps per epoch."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=base_lr)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[epochs - a for a in drops], gamma=gamma)
    rates = []
    for epoch in range(epochs):
        for n_iter in range(iters):
            step = n_iter + epoch * iters
            if step < warmup:
                for group in optimizer.param_groups:
                    group["lr"] = base_lr * (step + 1) / warmup
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize(
    "epochs,iters,warmup,drops",
    [(100, 7, 500, [50, 25]), (60, 20, 500, [50, 25]), (30, 3, 10, [50, 25]), (12, 5, 0, [4, 2])],
)
def test_step_schedule_matches_the_paper_loop(epochs, iters, warmup, drops):
    base = 3e-3
    expected = reference_learning_rates(base, epochs, iters, warmup, drops, 0.2)
    got = [base * lr_factor(s, iters, epochs, "step", warmup, drops=drops, gamma=0.2) for s in range(epochs * iters)]
    assert got == pytest.approx(expected, rel=1e-12)


def test_cosine_and_constant():
    assert lr_factor(0, 10, 10, "cosine", warmup_steps=0) == pytest.approx(1.0)
    assert lr_factor(50, 10, 10, "cosine", warmup_steps=0) == pytest.approx(0.5)
    assert lr_factor(99, 10, 10, "constant", warmup_steps=100) == pytest.approx(1.0)
    assert lr_factor(4, 10, 10, "constant", warmup_steps=10) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown lr schedule"):
        lr_factor(0, 1, 1, "linear", warmup_steps=0)
    # a setting the schedule does not have is refused, not dropped
    with pytest.raises(ValueError, match=r"^lr schedule 'cosine' has no setting drops \(its own: none\)$"):
        lr_factor(0, 1, 1, "cosine", warmup_steps=0, drops=[50])
