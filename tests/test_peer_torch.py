"""PyTorch's documented calls (torch.nn.functional and torch.logsumexp),
written for stabkit (issue 15): the same arguments under stabkit's names,
answered by PyTorch in the same test. ``dim`` is stabkit's ``axis``; the
cross-entropy options map to the sparse loss as documented in the README.
"""

from __future__ import annotations

import numpy as np
import pytest

from stabkit import accurate, naive, stable

torch = pytest.importorskip("torch")
F = torch.nn.functional
TIERS = (naive, stable, accurate)
ids = lambda t: t.__name__  # noqa: E731


def _t(seed, *shape, scale=2.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_activations(tier):
    x = _t(0, 4, 5)
    assert torch.allclose(tier.sigmoid(x), torch.sigmoid(x), rtol=1e-14)
    assert torch.allclose(tier.log_sigmoid(x), F.logsigmoid(x), rtol=1e-14)
    for dim in (0, 1, -1):
        assert torch.allclose(tier.softmax(x, axis=dim), F.softmax(x, dim=dim), rtol=1e-14)
        assert torch.allclose(tier.log_softmax(x, axis=dim), F.log_softmax(x, dim=dim), rtol=1e-13)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_softmax_dtype_argument(tier):
    x = _t(1, 3, 4, dtype=torch.float16)
    y = tier.log_softmax(x, axis=1, dtype=torch.float32)
    assert y.dtype == torch.float32
    assert torch.allclose(y, F.log_softmax(x, dim=1, dtype=torch.float32), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_logsumexp_dim_keepdim(tier):
    x = _t(2, 3, 4, 5)
    for dim in (0, 2, (0, 1)):
        for keep in (False, True):
            assert torch.allclose(tier.logsumexp(x, axis=dim, keepdims=keep), torch.logsumexp(x, dim=dim, keepdim=keep), rtol=1e-14)


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_torch_spellings_dim_and_keepdim(tier):
    """The call a PyTorch user writes first, ``softmax(t, dim=1)`` and
    ``logsumexp(t, dim=1, keepdim=True)``: the same values as stabkit's own
    ``axis=``/``keepdims=`` spellings and PyTorch's shapes."""
    x = _t(3, 3, 4, 5)
    for dim in (0, 1, -1):
        assert torch.equal(tier.softmax(x, dim=dim), tier.softmax(x, axis=dim))
        assert torch.equal(tier.log_softmax(x, dim=dim), tier.log_softmax(x, axis=dim))
        assert torch.allclose(tier.softmax(x, dim=dim), F.softmax(x, dim=dim), rtol=1e-14)
    for dim in (0, 2, (0, 1)):
        for keep in (False, True):
            got = tier.logsumexp(x, dim=dim, keepdim=keep)
            assert got.shape == torch.logsumexp(x, dim=dim, keepdim=keep).shape
            assert torch.equal(got, tier.logsumexp(x, axis=dim, keepdims=keep))


@pytest.mark.parametrize("tier", TIERS, ids=ids)
def test_both_spellings_at_once_are_refused(tier):
    x = _t(4, 3, 4)
    with pytest.raises(TypeError, match="axis=0 and dim=1"):
        tier.softmax(x, 0, dim=1)
    with pytest.raises(TypeError, match="axis=0 and dim=1"):
        tier.logsumexp(x, 0, dim=1)
    with pytest.raises(TypeError, match="keepdim"):
        tier.logsumexp(x, 1, keepdims=True, keepdim=True)
    # the default axis beside dim is no conflict
    assert torch.equal(tier.log_softmax(x, -1, dim=0), tier.log_softmax(x, axis=0))


def test_softplus_beta_threshold():
    x = torch.linspace(-30, 30, 241, dtype=torch.float64)
    for beta, threshold in [(1, 20), (2, 20), (0.5, 10), (4, 2)]:
        want = F.softplus(x, beta=beta, threshold=threshold)
        for tier in (stable, accurate):
            assert torch.allclose(tier.softplus(x, beta=beta, threshold=threshold), want, rtol=1e-13)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_with_class_indices(reduction):
    logits, target = _t(3, 8, 5), torch.tensor([0, 4, 1, 1, 3, 2, 0, 4])
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0], dtype=torch.float64)
    for tier in (stable, accurate):
        got = tier.sparse_categorical_crossentropy(target, logits, from_logits=True, reduction=reduction)
        assert torch.allclose(got, F.cross_entropy(logits, target, reduction=reduction), rtol=1e-13)
        got = tier.sparse_categorical_crossentropy(target, logits, from_logits=True, class_weight=w, reduction=reduction)
        assert torch.allclose(got, F.cross_entropy(logits, target, weight=w, reduction=reduction), rtol=1e-13)
        t2 = target.clone()
        t2[[1, 5]] = -100  # torch's default ignore_index
        got = tier.sparse_categorical_crossentropy(t2, logits, from_logits=True, ignore_index=-100, reduction=reduction)
        assert torch.allclose(got, F.cross_entropy(logits, t2, ignore_index=-100, reduction=reduction), rtol=1e-13)


@pytest.mark.parametrize("ls", [0.1, 0.3])
def test_cross_entropy_label_smoothing(ls):
    logits, target = _t(4, 6, 4), torch.tensor([0, 3, 1, 2, 2, 0])
    want = F.cross_entropy(logits, target, label_smoothing=ls, reduction="none")
    for tier in (stable, accurate):
        got = tier.sparse_categorical_crossentropy(target, logits, from_logits=True, label_smoothing=ls)
        assert torch.allclose(got, want, rtol=1e-13)


def test_cross_entropy_with_probability_targets():
    logits = _t(5, 5, 3)
    target = torch.softmax(_t(6, 5, 3), dim=1)
    want = F.cross_entropy(logits, target, reduction="none")
    for tier in (stable, accurate):
        assert torch.allclose(tier.categorical_crossentropy(target, logits, from_logits=True), want, rtol=1e-13)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_with_logits_pos_weight(reduction):
    x = _t(7, 6, 3, scale=5.0)
    y = (torch.rand(6, 3, generator=torch.Generator().manual_seed(8), dtype=torch.float64) > 0.5).double()
    pw = torch.tensor([1.0, 3.0, 0.25], dtype=torch.float64)
    want = F.binary_cross_entropy_with_logits(x, y, pos_weight=pw, reduction=reduction)
    for tier in (stable, accurate):
        got = tier.binary_crossentropy(y, x, from_logits=True, pos_weight=pw, reduction=reduction)
        assert torch.allclose(got, want, rtol=1e-13)


def test_bce_on_probabilities():
    p = torch.sigmoid(_t(9, 10))
    y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 1, 0], dtype=torch.float64)
    want = F.binary_cross_entropy(p, y, reduction="none")
    assert torch.allclose(accurate.binary_crossentropy(y, p), want, rtol=1e-13)


def test_bfloat16_and_requires_grad_tensors():
    x = _t(10, 2, 7, dtype=torch.bfloat16).requires_grad_()
    with pytest.warns(UserWarning, match="requires grad"):
        y = accurate.log_softmax(x, axis=1)
    assert y.dtype == torch.bfloat16 and not y.requires_grad
    want = F.log_softmax(x.detach().double(), dim=1)
    assert torch.allclose(y.double(), want, rtol=2**-8, atol=2**-8)
