"""Grading at half an ulp: the certified rounding decides, not float64.

An exact value a hair past a midpoint of the format (the float16 loss
34960 + log1p(e^-34960), a float32 log-softmax 2^-60 off one) is 0.5 ulp
from both neighbours in float64 arithmetic; both were graded "correctly
rounded", the wrong one too (from stabkit's own tiers and the libraries
alike), and counted in "% correctly rounded"."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from stabkit.cli import app
from stabkit.reference import reference
from stabkit.reference.ziv import ABOVE_HALF


def test_the_wrong_neighbour_of_a_midpoint_is_past_half_an_ulp():
    z = np.array([[-30544.0, -65504.0]], np.float16)
    ref = reference("sparse_categorical_crossentropy", np.array([1]), z, fmt="float16", from_logits=True)
    assert float(ref.rounded[0]) == 34976.0  # the exact value lies just above the midpoint 34960
    down, up = np.float16(34944.0), np.float16(34976.0)
    assert ref.ulp_error(np.array([down]))[0] == ABOVE_HALF > 0.5
    assert ref.ulp_error(np.array([up]))[0] == 0.5
    assert ref.ulp_error(np.array([np.float16(35008.0)]))[0] > 1  # farther off: the float64 figure


def test_eval_says_faithful_not_correctly_rounded_there():
    args = ["eval", "log_softmax", "35.50071716308594", "304.1529541015625", "--dtype", "float32",
            "--impls", "stable,accurate", "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)["implementations"]
    assert rows["stable"]["status"] == "faithful (< 1 ulp)" and rows["stable"]["ulp_error"][0] > 0.5
    assert rows["accurate"]["status"] == "correctly rounded"
    text = CliRunner().invoke(app, args[:-1]).output
    assert ">0.5" in text


def test_eval_rounds_a_written_decimal_once():
    """A decimal within 2^-53 of a midpoint of the format rounded to float64
    first lands on the midpoint, then ties to even: 1.00390625000000000001
    became 1.0 in bfloat16 where its one rounding is 1.0078125."""
    cases = {("1.00390625000000000001", "bfloat16"): 1.0078125, ("1.00390624999999999999", "bfloat16"): 1.0,
             ("1.00390625", "bfloat16"): 1.0, ("1.01171875", "bfloat16"): 1.015625,
             ("-1.00048828125000000000001", "float16"): -1.0009765625, ("65520.00000000000001", "float16"): np.inf,
             ("65520", "float16"): np.inf, ("65519.999999999999999", "float16"): 65504.0,
             ("1.000000059604644775390625000001", "float32"): 1.0000001192092896}
    for (text, dtype), want in cases.items():
        out = CliRunner().invoke(app, ["eval", "sigmoid", "--dtype", dtype, "--impls", "accurate", "--json", "--", text])
        assert out.exit_code == 0, out.output
        got = json.loads(out.stdout)["inputs"][0]
        assert float(got) == want, (text, dtype, got)  # JSON writes inf as "inf"
