"""What the report says about each function: the formula, the identity each
tier uses and the regimes where implementations break, per *variant* (a
function, or a loss from probabilities: ``loss:probs``).

The registry's regime records choose where the samples go; the words here
are the report's, one text per variant (a regime's text names its own
function and is not shared with another variant: ``tests/test_sections.py``).
Thresholds are for float64, with float32's in brackets where they differ:
``exp`` overflows past 709.78 [88.72], and ``1 - exp(-t)`` rounds to 1 past
t = 37.4 [17.3].
"""

from __future__ import annotations

from stabkit.registry import get

__all__ = ["Section", "section", "call", "VARIANTS", "PROBS"]

PROBS = ":probs"


class Section(dict):
    """``{"formula", "kind", "identities", "regimes"}`` of one variant, JSON-ready."""


_GAP = "the winner leads the runner-up by"

_TEXT = {
    "sigmoid": (
        "1 / (1 + exp(-x))",
        None,
        [("naive overflow", "x < -709.78 [-88.72]: exp(-x) overflows, so naive 1/(1 + exp(-x)) is 0 while the exact "
          "sigmoid(x) ~ exp(x) is representable down to -745.13 [-103.97]: a flush to 0"),
         ("subnormal result", "x < -708.40 [-87.34]: sigmoid(x) ~ exp(x) is subnormal; an implementation that "
          "computes exp(-x) first flushes it to 0"),
         ("tiny |x|", "|x| < 2**-30: sigmoid(x) ~ 1/2 + x/4, a half plus a last-bit correction"),
         ("large positive", "x > 36.7 [16.6]: sigmoid(x) = 1 - sigmoid(-x) is 1 or the float just below 1")],
    ),
    "log_sigmoid": (
        "-log(1 + exp(-x))",
        None,
        [("large negative", "-40 < x < -20: log_sigmoid(x) = x - log1p(exp(x)) ~ x - exp(x); one built as "
          "-softplus(-x) with PyTorch's threshold of 20 returns x and drops exp(x)"),
         ("naive overflow", "x < -709.78 [-88.72]: exp(-x) overflows, so naive log(1/(1 + exp(-x))) = log(0) = -inf "
          "where the exact log_sigmoid(x) is about x: a failure"),
         ("tiny result", "x > 37 [17]: log_sigmoid(x) ~ -exp(-x); naive 1/(1 + exp(-x)) rounds to 1 and its log "
          "is 0: a flush to 0")],
    ),
    "softplus": (
        "log(1 + exp(x))",
        None,
        [("past PyTorch's threshold", "20 < x < 40: PyTorch's softplus and the stable tier return x, dropping "
          "log1p(exp(-x)) ~ exp(-x) (2e-9 relative at x = 20)"),
         ("naive overflow", "x > 709.78 [88.72]: exp(x) overflows, so naive log(1 + exp(x)) is inf where the exact "
          "softplus(x) is about x: a failure"),
         ("tiny result", "x < -37 [-17]: softplus(x) ~ exp(x); naive 1 + exp(x) rounds to 1 and its log is 0: "
          "a flush to 0")],
    ),
    "softmax": (
        "exp(x_i) / sum_j exp(x_j)",
        None,
        [("moderate gap", f"{_GAP} 10 to 36: the losers' softmax probabilities are about exp(-gap), down to "
          "2e-16, and the winner's 1 - (their sum) rounds to 1 past 37.4 [17.3]"),
         ("large gap", f"{_GAP} more than 36: the losers' softmax probabilities exp(-gap) are below 2e-16 and "
          "underflow to 0 past 745 [104] (subnormal from 708 [87])"),
         ("naive overflow", "a logit above 709.78 [88.72]: naive exp(x) overflows and the softmax "
          "exp(x)/sum(exp(x)) is inf/inf = NaN: a failure")],
    ),
    "log_softmax": (
        "x_i - log sum_j exp(x_j)",
        None,
        [("moderate gap", f"{_GAP} 10 to 36: the winner's log_softmax is -log1p(s) ~ -exp(-gap); the stable "
          "(x - m) - log(sum(exp(x - m))) rounds 1 + s and keeps few of its digits"),
         ("large gap", f"{_GAP} more than 36 [17]: the stable log_softmax returns 0 for the winner, whose exact "
          "value is about -exp(-gap): a flush to 0"),
         ("naive overflow", "a logit above 709.78 [88.72]: naive log_softmax, log(softmax(x)), is log(NaN): a failure")],
    ),
    "logsumexp": (
        "log sum_j exp(x_j)",
        None,
        [("moderate gap", f"{_GAP} 10 to 36: logsumexp = m + log1p(s) with s ~ exp(-gap); the stable "
          "m + log(sum(exp(x - m))) rounds 1 + s first, which shows where m is near 0"),
         ("large gap", f"{_GAP} more than 36 [17]: the stable logsumexp returns m itself; where |m| is tiny "
          "(m = -2e-227 at gap 522) the exact m + s differs from m in every digit, even in sign"),
         ("naive overflow", "a logit above 709.78 [88.72]: naive log(sum(exp(x))) is inf where the exact "
          "logsumexp is finite: a failure")],
    ),
    "binary_crossentropy": (
        "-(y log p + (1-y) log(1-p)), p = sigmoid(z)",
        {"naive": "the formula on p = sigmoid(z)", "stable": "max(z,0) - z*y + log1p(exp(-|z|)) (Keras)",
         "accurate": "y*softplus(-z) + (1-y)*softplus(z) in float64"},
        [("confident and right", "20 < |z| < 745 with the right label (y = 0 for z < 0): the binary cross-entropy "
          "is softplus(-|z|) ~ exp(-|z|), 4.2e-18 at (z = -40, y = 0); naive log(1 - sigmoid(z)) rounds to "
          "log(1) = 0: a flush to 0")],
    ),
    "sparse_categorical_crossentropy": (
        "-log softmax(z)[y]",
        {"naive": "-log(softmax(z)[y])", "stable": "logsumexp(z) - z_y",
         "accurate": "log1p(s) - (z_y - m), TwoSum residual"},
        [("moderate gap", f"{_GAP} 10 to 36: the sparse cross-entropy of a sample labelled with the winner is "
          "log1p(s) ~ exp(-gap); the stable logsumexp(z) - z_y cancels and keeps few of its digits"),
         ("large gap", f"{_GAP} more than 36 [17]: the stable sparse cross-entropy logsumexp(z) - z_y is 0 for "
          "a confidently right sample, whose exact loss is about exp(-gap): a flush to 0"),
         ("naive overflow", "a logit above 709.78 [88.72]: naive softmax is NaN and so is the sparse "
          "cross-entropy: a failure")],
    ),
    "categorical_crossentropy": (
        "-sum_i y_i log softmax(z)_i",
        {"naive": "-sum(y*log(softmax(z)))", "stable": "-sum(y*log_softmax(z))",
         "accurate": "-sum(y*accurate log_softmax), compensated sum, 0*log0 = 0"},
        [("moderate gap", f"{_GAP} 10 to 36: the categorical cross-entropy of a one-hot target on the winner "
          "is -log_softmax(z)_y ~ exp(-gap), and -sum(y * log_softmax(z)) loses the digits log_softmax loses"),
         ("large gap", f"{_GAP} more than 36 [17]: the stable categorical cross-entropy is 0 for a confidently "
          "right one-hot target, whose exact loss is about exp(-gap): a flush to 0"),
         ("masked logits", "a -inf logit with target 0: the categorical cross-entropy's term 0 * log(0) is "
          "NaN in -sum(y * log_softmax(z)) where the exact term is 0: a failure"),
         ("naive overflow", "a logit above 709.78 [88.72]: naive softmax is NaN and so is the categorical "
          "cross-entropy: a failure")],
    ),
    "binary_crossentropy" + PROBS: (
        "-(y log p + (1-y) log(1-p)), p given",
        {"naive": "the formula on p", "stable": "p clipped to [1e-7, 1 - 1e-7] (Keras), then the formula",
         "accurate": "-(y log p + (1-y) log1p(-p)) in float64, 0 log 0 = 0"},
        [("p below 1e-7", "p < 1e-7: the stable tier clips p to 1e-7, so the binary cross-entropy from "
          "probabilities at y = 0, -log(1 - p) ~ p, becomes 1e-7 (too large by 1e-7/p), and at y > 0 it "
          "stays near 16.1 where the exact loss grows to inf at p = 0"),
         ("p near 1", "p > 1 - 1e-7: clipped to 1 - 1e-7 (1 in float16, where y < 1 then gives inf); at p = 1 and "
          "y = 1 naive (1 - y) log(1 - p) is 0 * -inf = NaN where the exact binary cross-entropy is 0")],
    ),
    "sparse_categorical_crossentropy" + PROBS: (
        "-log p[y], p given",
        {"naive": "-log(p[y])", "stable": "rows divided by their sum, clipped to [1e-7, 1 - 1e-7] (Keras), -log(p[y])",
         "accurate": "-log(p[y]) in float64, p as given"},
        [("p_y below 1e-7", "p_y < 1e-7: the stable tier clips p_y, so the sparse cross-entropy from probabilities "
          "is at most 16.1 (-log 1e-7) where the exact -log p_y is larger, and inf at p_y = 0: a failure there"),
         ("p_y near 1", "p_y > 1 - 1e-7: clipped to 1 - 1e-7, the sparse cross-entropy from probabilities is 1e-7 "
          "[1.2e-7] where the exact -log p_y ~ 1 - p_y is smaller, down to 0 at p_y = 1")],
    ),
    "categorical_crossentropy" + PROBS: (
        "-sum_i y_i log p_i, p given",
        {"naive": "-sum(y*log(p))", "stable": "rows divided by their sum, clipped to [1e-7, 1 - 1e-7] (Keras), "
         "-sum(y*log(p))", "accurate": "-sum(y*log(p)) in float64, compensated sum, 0 log 0 = 0"},
        [("p_i below 1e-7", "p_i < 1e-7 with y_i > 0: the stable tier clips p_i, so the categorical cross-entropy "
          "from probabilities stays near 16.1 y_i where the exact term -y_i log p_i is larger (inf at p_i = 0)"),
         ("zero probability", "p_i = 0 with y_i = 0: naive y_i log p_i is 0 * -inf = NaN in the categorical "
          "cross-entropy from probabilities where the exact term is 0: a failure")],
    ),
}

#: Calls that differ between a loss from logits and from probabilities.
_CALLS = {("torch", "binary_crossentropy"): "F.binary_cross_entropy_with_logits",
          ("torch", "binary_crossentropy" + PROBS): "F.binary_cross_entropy"}

#: Every variant the report knows, in the registry's order then the :probs ones.
VARIANTS = tuple(_TEXT)


def section(variant: str) -> Section:
    """The formula, the kind, the tiers' identities and the regimes of
    ``variant`` (``name`` or ``loss:probs``)."""
    name = variant[: -len(PROBS)] if variant.endswith(PROBS) else variant
    prim = get(name)
    formula, identities, regimes = _TEXT[variant]
    return Section(formula=formula, kind=prim.kind, identities=dict(identities or prim.identities),
                   regimes=[{"name": n, "description": d} for n, d in regimes])


def call(impl: str, variant: str) -> str:
    """What the third-party adapter ``impl`` calls for ``variant`` ("" for
    stabkit's tiers, whose identities are in :func:`section`)."""
    from stabkit.analysis.thirdparty import CALLS

    if (impl, variant) in _CALLS:
        return _CALLS[(impl, variant)]
    return CALLS.get(impl, {}).get(variant.removesuffix(PROBS), "")
