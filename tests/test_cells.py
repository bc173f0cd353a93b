"""What happened where no digit is right (flush to 0, wrong sign, too large,
failure), and how the tables write it: never "inf" or 8.5e37 ulps for a
finite result, while report.json keeps the counts (issue 17)."""

import re

import numpy as np
import pytest

from stabkit.analysis.stats import KINDS, Points, classify
from stabkit.report import ReportConfig, run, to_json
from stabkit.report.cells import compact_max, max_cell, stat_cell
from stabkit.report.markdown import markdown


def _points(y, exact, rounded, ulp, failure=None, undefined=None):
    y, exact, rounded, ulp = (np.asarray(v, np.float64) for v in (y, exact, rounded, ulp))
    n = y.size
    failure = np.zeros(n, bool) if failure is None else np.asarray(failure)
    undefined = np.zeros(n, bool) if undefined is None else np.asarray(undefined)
    z = np.zeros(n)
    return Points(z, z > 0, z == 0, y, exact, rounded, ulp, z, failure, undefined, np.zeros(n, bool))


def test_classify_names_what_happened():
    tiny = 5e-324
    p = _points(
        y=[0.0, -1e-20, 1.19e-7, np.nan, 1.0 + 2**-52, tiny, -0.0, 4e-20],
        exact=[1e-20, 1e-20, 1.9e-38, 0.5, 1.0, 1e-330, 1e-20, 1e-20],
        rounded=[1e-20, 1e-20, 1.9e-38, 0.5, 1.0, 0.0, 1e-20, 1e-20],
        ulp=[2**52, 2**53, 8.5e37, np.inf, 1.0, 1.0, 2**52, 3 * 2**52],
        failure=[False, False, False, True, False, False, False, False],
    )
    got = [KINDS[k] for k in classify(p)]
    assert got == ["flush to 0", "wrong sign", "too large", "failure", "", "", "flush to 0", "too large"]


def test_undefined_points_have_no_kind():
    p = _points([np.nan], [np.nan], [np.nan], [np.nan], undefined=[True])
    assert classify(p).tolist() == [0]


def test_cells_say_what_happened_past_2_to_the_p():
    big = {"kind": "too large", "value": 1.1920929e-07, "exact": 1.899e-38}
    assert max_cell(8.507059e37, big, "float32") == "too large (\u00d76.3e+30)"
    assert max_cell("inf", {"kind": "too large", "value": 1e-7, "exact": 2.2e-300}, "float64") == "too large (\u00d74.5e+292)"
    flush = {"kind": "flush to 0", "value": 0.0, "exact": 2.9e-39}
    assert max_cell(2097151.5, flush, "float32") == "2.1e+06 (flush to 0)"
    assert max_cell(0.5, {"kind": "", "value": 1, "exact": 1}, "float32") == "0.5"
    assert max_cell(1.5, None, "float64") == "1.5"
    assert stat_cell("inf", "float64") == "> 9.01e+15" and stat_cell(5e36, "float32") == "> 1.68e+07"
    assert stat_cell(2.0e6, "float32") == "2e+06" and stat_cell(None, "float32") == "\u2014"
    assert compact_max(2097151.5, flush, "float32") == "2e6 \u21920"
    assert compact_max(8.5e37, big, "float32") == "\u00d76e30"


@pytest.fixture(scope="module")
def clipped():
    # Keras's clip of probabilities: 1e-7 returned where the exact loss is ~1e-300
    cfg = ReportConfig(functions=("binary_crossentropy:probs",), dtypes=("float32", "float64"),
                       impls=("stable", "accurate"), samples=600, seed=0)
    return to_json(run(cfg))


def test_json_keeps_the_count_markdown_says_too_large(clipped):
    r = {(x["format"], x["impl"]): x for x in clipped["results"]}
    s32, s64 = r[("float32", "stable")], r[("float64", "stable")]
    assert s64["max_ulp"] == "inf" and s32["max_ulp"] > 1e37  # the counts are kept
    assert s32["max_point"]["kind"] == s64["max_point"]["kind"] == "too large"
    assert s32["too_large"] > 0 and s32["max_point"]["value"] > 1e-8 > s32["max_point"]["exact"]
    assert r[("float64", "accurate")]["max_point"]["kind"] == "" and r[("float64", "accurate")]["too_large"] == 0
    md = markdown(clipped, figures=False)
    rows = [l for l in md.splitlines() if l.startswith("| binary_crossentropy (from probabilities) | stable")]
    assert len(rows) == 1 and rows[0].count("too large (\u00d7") == 2
    stat = [l for l in md.splitlines() if l.startswith("| stable |") and l.count("|") > 10]  # the statistics
    assert len(stat) == 2
    for line in rows + stat:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        # max, p99, median, mean: what happened, or a count, never inf or 1e37
        for c in cells[2:6] if line in rows else cells[1:5]:
            # (the factor of "too large (×k)" aside) no count past 2**53
            assert not re.search(r"inf|e\+(1[6-9]|[2-9]\d|\d{3})", c.split("(")[0]), c
    assert all(l.split("|")[2].strip().startswith("too large") and "> " in l for l in stat)
