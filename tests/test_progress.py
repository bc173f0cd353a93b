"""Issue 12: long commands report progress on stderr when it is not a
terminal (CI, ``| tee``): a line every few seconds and a final one; nothing
with ``--quiet``. The throttle is a function of the clock, so a fake clock
drives it."""

from __future__ import annotations

import io
import re

import pytest
from typer.testing import CliRunner

from stabkit.cli import progress as _progress
from stabkit.cli.progress import PlainProgress, elapsed, progress, progress_line
from stabkit.cli import app

LINE = re.compile(r"^references: \d+/\d+ \(\d+%\), \d:\d\d:\d\d elapsed$")


class FakeClock:
    def __init__(self, t: float = 100.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_progress_line_and_elapsed():
    assert elapsed(0) == "0:00:00" and elapsed(12.9) == "0:00:12" and elapsed(3725) == "1:02:05"
    assert progress_line("references", 1200, 40000, 12.3) == "references: 1200/40000 (3%), 0:00:12 elapsed"
    assert progress_line("sweep", 5, None, 61) == "sweep: 5, 0:01:01 elapsed"
    assert progress_line("x", 7, 7, 0) == "x: 7/7 (100%), 0:00:00 elapsed"


def test_plain_progress_is_throttled_by_the_clock():
    clock, out = FakeClock(), io.StringIO()
    p = PlainProgress("references", out, every=5.0, clock=clock)
    p.set_total(100)
    for _ in range(10):  # all within the first 5 s: silent
        clock.t += 0.4
        p.advance()
    assert out.getvalue() == ""
    clock.t += 1.0  # 5.0 s since the start
    p.advance(10)
    assert out.getvalue() == "references: 20/100 (20%), 0:00:05 elapsed\n"
    clock.t += 4.9
    p.advance(30)  # 4.9 s since the last line
    assert out.getvalue().count("\n") == 1
    clock.t += 0.1
    p.advance(0)
    clock.t += 20
    p.advance(50)
    p.close()
    assert out.getvalue().splitlines() == [
        "references: 20/100 (20%), 0:00:05 elapsed",
        "references: 50/100 (50%), 0:00:10 elapsed",
        "references: 100/100 (100%), 0:00:30 elapsed",
        "references: 100/100 (100%), 0:00:30 elapsed",  # the final line
    ]


def test_a_short_run_prints_no_final_line():
    clock, out = FakeClock(), io.StringIO()
    p = PlainProgress("references", out, every=5.0, clock=clock)
    p.set_total(3)
    p.advance(3)
    clock.t += 1
    p.close()
    assert out.getvalue() == ""


def test_progress_chooses_by_stream_and_quiet(monkeypatch):
    monkeypatch.setattr(_progress, "EVERY", 0.0)
    out = io.StringIO()  # not a terminal
    with progress(False, "references", out) as (advance, set_total):
        set_total(4)
        advance(2)
        advance(2)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("references: 4/4 (100%)") and len(lines) == 3
    out = io.StringIO()
    with progress(True, "references", out) as (advance, set_total):
        set_total(4)
        advance(4)
    assert out.getvalue() == ""


def test_analyze_reports_progress_on_a_pipe(monkeypatch):
    # CliRunner's stderr is not a terminal: before issue 12 this printed nothing
    monkeypatch.setattr(_progress, "EVERY", 0.0)
    args = ["analyze", "softplus", "--dtype", "float32", "--samples", "300", "--impls", "naive,accurate", "--no-cache"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert lines and all(LINE.match(s) for s in lines), r.stderr
    assert "(100%)" in lines[-1]
    assert "softplus in float32" in r.stdout and "references:" not in r.stdout
    r = CliRunner().invoke(app, [*args, "--quiet"])
    assert r.exit_code == 0 and r.stderr == ""


@pytest.mark.parametrize("quiet", [False, True])
def test_train_quiet_drops_the_epoch_lines(quiet):
    args = ["train", "--epochs", "2", "--hidden", "8"] + (["--quiet"] if quiet else [])
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    epochs = [s for s in r.stdout.splitlines() if s.startswith("Epoch ")]
    assert len(epochs) == (0 if quiet else 2)
    assert "test accuracy" in r.stdout
