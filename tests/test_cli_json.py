"""One JSON encoding of non-finite numbers in everything the CLI writes:
NaN is null, +-inf are the strings "inf" / "-inf" (never the bare NaN /
Infinity tokens Python's json writes by default, which are not JSON)."""

import json

from typer.testing import CliRunner

from stabkit import cli

runner = CliRunner()


def _strict(text: str):
    """json.loads that rejects NaN, Infinity and -Infinity tokens."""

    def refuse(token):
        raise AssertionError(f"non-JSON token {token} in the output")

    return json.loads(text, parse_constant=refuse)


def _leaves(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from _leaves(x)
    elif isinstance(v, list):
        for x in v:
            yield from _leaves(x)
    else:
        yield v


def test_eval_train_and_report_encode_nan_and_inf_alike(tmp_path):
    # eval: naive softmax(1000, 1) is inf/inf = NaN; naive log_sigmoid(-800) is log(0) = -inf with an infinite error
    r = runner.invoke(cli.app, ["eval", "softmax", "1000", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert _strict(r.stdout)["implementations"]["naive"]["values"] == [None, 0.0]  # inf/inf, e/inf
    r = runner.invoke(cli.app, ["eval", "log_sigmoid", "--json", "--", "-800"])
    naive = _strict(r.stdout)["implementations"]["naive"]
    assert naive["values"] == ["-inf"] and naive["ulp_error"] == ["inf"] and naive["failures"] == [True]

    # train: SGD at a learning rate of 1e6 in float16 makes every loss NaN; --on-nonfinite continue keeps going
    r = runner.invoke(cli.app, ["train", "--dataset", "digits", "--epochs", "1", "--json", "--dtype", "float16",
                                "--optimizer", "sgd", "--learning-rate", "1e6", "--on-nonfinite", "continue",
                                "--out", str(tmp_path / "train")])
    assert r.exit_code == 0, r.output
    run = _strict(r.stdout)["runs"]["logits"]
    assert run["test_loss"] is None and run["history"]["loss"] == [None] and run["history"]["val_loss"] == [None]
    assert _strict((tmp_path / "train" / "history.json").read_text()) == _strict(r.stdout)
    assert "test loss nan" in runner.invoke(cli.app, ["train", "--epochs", "1", "--dtype", "float16", "--optimizer",
                                                      "sgd", "--learning-rate", "1e6", "--on-nonfinite", "continue",
                                                      "--quiet"]).stdout

    # report: the naive tier overflows (-inf values, infinite errors) and makes NaNs (softmax of wide rows)
    out = tmp_path / "rep"
    r = runner.invoke(cli.app, ["report", "--functions", "log_sigmoid,softmax", "--dtypes", "float32", "--impls",
                                "naive", "--samples", "200", "--no-cache", "--quiet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    leaves = list(_leaves(_strict((out / "report.json").read_text())))
    assert "-inf" in leaves and "inf" in leaves and None in leaves
    assert not [v for v in leaves if isinstance(v, str) and v.lower() in ("nan", "infinity", "-infinity")]


def test_plot_kinds_are_the_figures_there_are():
    from stabkit.cli.report import PlotKind
    from stabkit.report.plots import KINDS

    assert tuple(k.value for k in PlotKind) == KINDS
