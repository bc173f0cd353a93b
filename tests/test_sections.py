"""Each report section speaks of its own function: its regimes, its formula
(from probabilities: p, not logits), and only the implementations measured
on it. Regression for issue 17, where log_sigmoid printed softplus's
regimes, softmax, logsumexp and both cross-entropies printed log-softmax's,
and the from-probabilities sections printed the from-logits formula and
listed SciPy, NumPy and JAX, which have no such loss."""

import re

import pytest

from stabkit.report import ReportConfig, run, to_json
from stabkit.report.build import DEFAULT_FUNCTIONS
from stabkit.report.markdown import markdown
from stabkit.report.sections import VARIANTS, call, section

# how each variant's regime texts must name their function
OWN_NAME = {
    "sigmoid": r"(?<![\w-])sigmoid\b", "log_sigmoid": r"\blog_sigmoid\b", "softplus": r"\bsoftplus\b",
    "softmax": r"(?<![\w-])softmax\b", "log_softmax": r"\blog_softmax\b", "logsumexp": r"\blogsumexp\b",
    "binary_crossentropy": r"binary cross-entropy", "sparse_categorical_crossentropy": r"sparse cross-entropy",
    "categorical_crossentropy": r"categorical cross-entropy",
}


def _own(variant: str) -> str:
    return OWN_NAME[variant.removesuffix(":probs")]


def test_every_reported_variant_has_its_own_section():
    assert set(VARIANTS) == set(DEFAULT_FUNCTIONS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_each_regime_names_its_own_function(variant):
    regimes = section(variant)["regimes"]
    assert regimes
    for r in regimes:
        assert re.search(_own(variant), r["description"]), (variant, r["description"])
        if variant.endswith(":probs"):
            assert "from probabilities" in r["description"] or re.search(r"\bp(_[iy])?\b", r["description"])


def test_no_regime_text_is_shared_between_sections():
    seen = {}
    for v in VARIANTS:
        for r in section(v)["regimes"]:
            assert r["description"] not in seen, (v, seen.get(r["description"]))
            seen[r["description"]] = v


def test_log_sigmoid_does_not_describe_softplus():
    # the mislabel: log_sigmoid's regimes were softplus's, word for word
    text = " ".join(r["description"] for r in section("log_sigmoid")["regimes"])
    assert "softplus ~ exp(x)" not in text and "x > 20" not in text
    assert {r["description"] for r in section("log_sigmoid")["regimes"]}.isdisjoint(
        r["description"] for r in section("softplus")["regimes"])


@pytest.mark.parametrize("loss", ["binary_crossentropy", "sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_from_probabilities_formula_is_in_p(loss):
    logits, probs = section(loss), section(loss + ":probs")
    assert "p given" in probs["formula"] and probs["formula"] != logits["formula"]
    for text in [probs["formula"], *probs["identities"].values()]:
        assert "logits" not in text and "(z)" not in text, text
    # and the from-logits identities say nothing of the probabilities' clipping
    assert not any("clip" in t for t in logits["identities"].values())


def test_calls_differ_by_variant():
    assert call("torch", "binary_crossentropy") == "F.binary_cross_entropy_with_logits"
    assert call("torch", "binary_crossentropy:probs") == "F.binary_cross_entropy"
    assert call("accurate", "softplus") == ""


@pytest.fixture(scope="module")
def probs_report():
    cfg = ReportConfig(functions=("binary_crossentropy", "binary_crossentropy:probs", "log_sigmoid"),
                       dtypes=("float16",), impls=("stable", "accurate", "scipy", "numpy"), samples=200, seed=3)
    return to_json(run(cfg))


def test_only_measured_implementations_are_listed(probs_report):
    info = probs_report["function_info"]
    # SciPy and NumPy have no loss from probabilities: nothing about them there
    assert set(info["binary_crossentropy:probs"]["calls"]) == set()
    assert set(info["binary_crossentropy:probs"]["identities"]) == {"stable", "accurate"}
    assert set(info["binary_crossentropy"]["calls"]) == {"scipy", "numpy"}
    assert "naive" not in info["log_sigmoid"]["identities"]  # not run


def test_markdown_sections_carry_their_own_text(probs_report):
    md = markdown(probs_report, figures=False)
    parts = re.split(r"^## ", md, flags=re.M)
    by_title = {p.split("\n", 1)[0]: p for p in parts[1:]}
    probs = by_title["binary_crossentropy (from probabilities)"]
    assert "Formula: `-(y log p + (1-y) log(1-p)), p given`" in probs
    assert "| scipy |" not in probs and "| numpy |" not in probs and "| naive |" not in probs
    for title, variant in (("log_sigmoid", "log_sigmoid"), ("binary_crossentropy", "binary_crossentropy"),
                           ("binary_crossentropy (from probabilities)", "binary_crossentropy:probs")):
        for r in section(variant)["regimes"]:
            assert r["description"] in by_title[title]
            others = [t for t in by_title if t != title]
            assert all(r["description"] not in by_title[o] for o in others)
