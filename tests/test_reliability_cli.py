"""Issue 7: bad input to every command ends in one ``error:`` line on stderr.

Each case gives exit code 2 (usage error) or 1 (failure), exactly one line
on stderr naming the problem and the offending value, no traceback, and
nothing written into the output folder.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stabkit.cli import app

HUGE = str(10**12)

#: a framework that is not installed here (for "none can run"); tensorflow in the test environment
MISSING = next((n for n in ("tensorflow", "keras", "jax", "torch")
                if __import__("importlib.util").util.find_spec(n) is None), None)


def _idx(magic: int, dims, payload: bytes | None = None) -> bytes:
    head = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)
    if payload is None:
        n = 1
        for d in dims:
            n *= d
        payload = bytes(i % 10 for i in range(n))
    return head + payload


def _mnist(folder: Path, images: bytes | None = None, labels: bytes | None = None, gz: bool = True) -> Path:
    """A small t10k pair in ``folder`` (10 images of 28x28), parts replaceable."""
    folder.mkdir(parents=True, exist_ok=True)
    images = _idx(0x803, (10, 28, 28)) if images is None else images
    labels = _idx(0x801, (10,)) if labels is None else labels
    for stem, data in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / stem).write_bytes(data)
    return folder


# Data folders: name -> builder(tmp) returning the folder.
DATA = {
    "missing": lambda t: t / "nowhere",
    "empty": lambda t: (t / "empty").mkdir(parents=True) or t / "empty",
    "is_file": lambda t: t.mkdir() or (t / "afile").write_text("x") and t / "afile",
    "wrong_magic": lambda t: _mnist(t / "d", images=_idx(0x1234, (10, 28, 28))),
    "wrong_magic_raw": lambda t: _mnist(t / "d", images=b"\x00\x00\x08\x09" + bytes(12), gz=False),
    "truncated_gzip": lambda t: _trunc_gz(t / "d"),
    "corrupt_gzip": lambda t: _corrupt_gz(t / "d"),
    "truncated_payload": lambda t: _mnist(t / "d", images=_idx(0x803, (10, 28, 28))[:-100]),
    "trailing_bytes": lambda t: _mnist(t / "d", images=_idx(0x803, (10, 28, 28)) + b"xx"),
    "short_header": lambda t: _mnist(t / "d", images=b"\x00\x00\x08\x03\x00\x00"),
    "tiny_file": lambda t: _mnist(t / "d", labels=b"\x00"),
    "wrong_counts": lambda t: _mnist(t / "d", labels=_idx(0x801, (9,))),
    "huge_dims": lambda t: _mnist(t / "d", images=_idx(0x803, (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), b"")),
    "zero_dim": lambda t: _mnist(t / "d", images=_idx(0x803, (0, 28, 28), b"")),
    "swapped_magic": lambda t: _mnist(t / "d", images=_idx(0x801, (10,)), labels=_idx(0x803, (10, 28, 28))),
    "label_range": lambda t: _mnist(t / "d", labels=_idx(0x801, (10,), bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 200]))),
    "no_labels": lambda t: _no_labels(t / "d"),
}


def _trunc_gz(folder: Path) -> Path:
    _mnist(folder)
    p = folder / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:40])
    return folder


def _corrupt_gz(folder: Path) -> Path:
    _mnist(folder)
    p = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(p.read_bytes())
    raw[12:20] = b"\xff" * 8
    p.write_bytes(bytes(raw))
    return folder


def _no_labels(folder: Path) -> Path:
    _mnist(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    return folder


# (id, argv with {out}/{file}/{data}, exit code, substrings stderr must hold)
CASES = [
    # list
    ("list-unknown-option", ["list", "--bogus"], 2, ["--bogus"]),
    ("list-extra-argument", ["list", "sigmoid"], 2, ["sigmoid"]),
    # eval
    ("eval-unknown-function", ["eval", "sigmod", "1"], 2, ["sigmod"]),
    ("eval-not-a-number", ["eval", "sigmoid", "1x"], 2, ["1x"]),
    ("eval-unknown-format", ["eval", "sigmoid", "1", "--dtype", "float128"], 2, ["float128"]),
    ("eval-no-values", ["eval", "sigmoid"], 2, ["values"]),
    ("eval-loss-without-labels", ["eval", "sparse_categorical_crossentropy", "1", "2"], 2, ["--labels"]),
    ("eval-label-out-of-range", ["eval", "sparse_categorical_crossentropy", "1", "2", "--labels", "5"], 2, ["5"]),
    ("eval-negative-label", ["eval", "sparse_categorical_crossentropy", "1", "2", "--labels", "-1"], 2, ["-1"]),
    ("eval-fractional-label", ["eval", "sparse_categorical_crossentropy", "1", "2", "--labels", "0.5"], 2, ["0.5"]),
    ("eval-label-not-a-number", ["eval", "sparse_categorical_crossentropy", "1", "2", "--labels", "one"], 2, ["one"]),
    ("eval-two-sparse-labels", ["eval", "sparse_categorical_crossentropy", "1", "2", "--labels", "0,1"], 2, ["--labels", "2"]),
    ("eval-label-count", ["eval", "binary_crossentropy", "0.5", "--labels", "0,1"], 2, ["--labels", "2"]),
    ("eval-dtype-without-value", ["eval", "sigmoid", "--", "1", "--dtype"], 2, ["--dtype"]),
    ("eval-unknown-flag", ["eval", "sigmoid", "1", "--from-logitz"], 2, ["--from-logitz"]),
    # analyze
    ("analyze-unknown-function", ["analyze", "softmaxx"], 2, ["softmaxx"]),
    ("analyze-probs-not-loss", ["analyze", "sigmoid:probs"], 2, ["sigmoid"]),
    ("analyze-unknown-format", ["analyze", "sigmoid", "--dtype", "float8"], 2, ["float8"]),
    ("analyze-report-only-format", ["analyze", "sigmoid", "--dtype", "float8_e4m3fn"], 2, ["float8_e4m3fn"]),
    ("analyze-samples-zero", ["analyze", "sigmoid", "--samples", "0"], 2, ["--samples", "0"]),
    ("analyze-samples-negative", ["analyze", "sigmoid", "--samples", "-5"], 2, ["--samples", "-5"]),
    ("analyze-samples-float", ["analyze", "sigmoid", "--samples", "1e12"], 2, ["--samples", "1e12"]),
    ("analyze-samples-huge", ["analyze", "sigmoid", "--samples", HUGE], 2, ["--samples", HUGE, "memory"]),
    ("analyze-unknown-impl", ["analyze", "sigmoid", "--impls", "naive,theano"], 2, ["theano"]),
    ("analyze-empty-impls", ["analyze", "sigmoid", "--impls", ","], 2, ["--impls"]),
    ("analyze-exhaustive-rowwise", ["analyze", "softmax", "--exhaustive"], 2, ["--exhaustive", "softmax"]),
    ("analyze-exhaustive-float64", ["analyze", "sigmoid", "--dtype", "float64", "--exhaustive"], 2, ["--exhaustive", "float64"]),
    ("analyze-unknown-device", ["analyze", "sigmoid", "--device", "tpu"], 2, ["tpu"]),
    ("analyze-workers-zero", ["analyze", "sigmoid", "--workers", "0"], 2, ["--workers", "0"]),
    ("analyze-seed-not-int", ["analyze", "sigmoid", "--seed", "abc"], 2, ["--seed", "abc"]),
    # report
    ("report-unknown-function", ["report", "--functions", "softmax,tanh", "--out", "{out}"], 2, ["tanh"]),
    ("report-empty-functions", ["report", "--functions", ",", "--out", "{out}"], 2, ["--functions"]),
    ("report-unknown-format", ["report", "--dtypes", "float32,float80", "--out", "{out}"], 2, ["float80"]),
    ("report-unknown-impl", ["report", "--impls", "caffe", "--out", "{out}"], 2, ["caffe"]),
    ("report-float8-format", ["report", "--dtypes", "float8_e4m3fn", "--out", "{out}"], 2, ["--dtypes", "float8_e4m3fn"]),
    ("report-figure-format", ["report", "--figure-format", "gif", "--out", "{out}"], 2, ["gif"]),
    ("report-samples-zero", ["report", "--samples", "0", "--out", "{out}"], 2, ["--samples", "0"]),
    ("report-samples-huge", ["report", "--samples", HUGE, "--out", "{out}"], 2, ["--samples", HUGE, "memory"]),
    ("report-unknown-device", ["report", "--device", "gpu", "--out", "{out}"], 2, ["gpu"]),
    ("report-out-is-file", ["report", "--functions", "sigmoid", "--samples", "10", "--out", "{file}"], 2, ["--out", "afile"]),
    ("report-out-under-file", ["report", "--functions", "sigmoid", "--samples", "10", "--out", "{file}/sub"], 2, ["--out", "afile"]),
    # plot
    ("plot-unknown-function", ["plot", "expit", "--out", "{out}/x.png"], 2, ["expit"]),
    ("plot-unknown-kind", ["plot", "sigmoid", "--kind", "pie", "--out", "{out}/x.png"], 2, ["pie"]),
    ("plot-bad-extension", ["plot", "sigmoid", "--out", "{out}/x.gif"], 2, ["x.gif"]),
    ("plot-out-without-extension", ["plot", "sigmoid", "--out", "{file}"], 2, ["--out", "afile"]),
    ("plot-out-under-file", ["plot", "sigmoid", "--out", "{file}/x.png"], 2, ["--out", "afile"]),
    ("plot-unknown-format", ["plot", "sigmoid", "--dtype", "half", "--out", "{out}/x.png"], 2, ["half"]),
    ("plot-samples-negative", ["plot", "sigmoid", "--samples", "-1", "--out", "{out}/x.png"], 2, ["--samples", "-1"]),
    ("plot-samples-huge", ["plot", "sigmoid", "--samples", HUGE, "--out", "{out}/x.png"], 2, ["--samples", HUGE, "memory"]),
    ("plot-unknown-impl", ["plot", "sigmoid", "--impls", "mxnet", "--out", "{out}/x.png"], 2, ["mxnet"]),
    # audit
    ("audit-unknown-framework", ["audit", "--frameworks", "mxnet", "--out", "{out}"], 2, ["mxnet"]),
    ("audit-tier-as-framework", ["audit", "--frameworks", "naive", "--out", "{out}"], 2, ["naive"]),
    ("audit-unknown-function", ["audit", "--functions", "relu", "--out", "{out}"], 2, ["relu"]),
    ("audit-samples-negative", ["audit", "--samples", "-3", "--out", "{out}"], 2, ["--samples", "-3"]),
    ("audit-samples-huge", ["audit", "--samples", HUGE, "--out", "{out}"], 2, ["--samples", HUGE, "memory"]),
    ("audit-out-is-file", ["audit", "--functions", "sigmoid", "--samples", "10", "--frameworks", "numpy", "--out", "{file}"], 2, ["--out", "afile"]),
    # train
    ("train-unknown-dataset", ["train", "--dataset", "cifar", "--out", "{out}"], 2, ["cifar"]),
    ("train-unknown-tier", ["train", "--tier", "exact", "--out", "{out}"], 2, ["exact"]),
    ("train-unknown-optimizer", ["train", "--optimizer", "lbfgs", "--out", "{out}"], 2, ["lbfgs"]),
    ("train-unknown-dtype", ["train", "--dtype", "bfloat16", "--out", "{out}"], 2, ["bfloat16"]),
    ("train-epochs-zero", ["train", "--epochs", "0", "--out", "{out}"], 2, ["--epochs", "0"]),
    ("train-epochs-float", ["train", "--epochs", "1.5", "--out", "{out}"], 2, ["--epochs", "1.5"]),
    ("train-batch-zero", ["train", "--batch-size", "0", "--out", "{out}"], 2, ["--batch-size", "0"]),
    ("train-hidden-not-int", ["train", "--hidden", "25,x", "--out", "{out}"], 2, ["--hidden", "25,x"]),
    ("train-hidden-zero", ["train", "--hidden", "25,0", "--out", "{out}"], 2, ["--hidden", "25,0"]),
    ("train-hidden-huge", ["train", "--hidden", "1000000000", "--out", "{out}"], 2, ["--hidden", "1000000000", "memory"]),
    ("train-lr-negative", ["train", "--learning-rate", "-1", "--out", "{out}"], 2, ["--learning-rate", "-1"]),
    ("train-lr-nan", ["train", "--learning-rate", "nan", "--out", "{out}"], 2, ["--learning-rate", "nan"]),
    ("train-data-dir-with-digits", ["train", "--data-dir", "{out}", "--out", "{out}"], 2, ["--data-dir"]),
    ("train-out-is-file", ["train", "--epochs", "1", "--out", "{file}"], 2, ["--out", "afile"]),
    ("train-nonfinite-choice", ["train", "--on-nonfinite", "ignore", "--out", "{out}"], 2, ["ignore"]),
    # slides
    ("slides-unknown-format", ["slides", "--format", "gif", "--out", "{out}"], 2, ["gif"]),
    ("slides-empty-format", ["slides", "--format", ",", "--out", "{out}"], 2, ["--format"]),
    ("slides-out-is-file", ["slides", "--quick", "--out", "{file}"], 2, ["--out", "afile"]),
    ("slides-data-dir-missing", ["slides", "--quick", "--data-dir", "{data:missing}", "--out", "{out}"], 2, ["nowhere"]),
    ("slides-data-dir-is-file", ["slides", "--quick", "--data-dir", "{data:is_file}", "--out", "{out}"], 2, ["afile"]),
    # negative seeds are usage errors in every command that takes one
    ("analyze-seed-negative", ["analyze", "sigmoid", "--samples", "100", "--impls", "naive", "--seed", "-1"], 2, ["Invalid value for '--seed': must be >= 0"]),
    ("report-seed-negative", ["report", "--seed", "-1", "--out", "{out}"], 2, ["Invalid value for '--seed': must be >= 0"]),
    ("audit-seed-negative", ["audit", "--seed", "-1", "--out", "{out}"], 2, ["Invalid value for '--seed': must be >= 0"]),
    ("plot-seed-negative", ["plot", "sigmoid", "--seed", "-1", "--out", "{out}/x.png"], 2, ["Invalid value for '--seed': must be >= 0"]),
    ("train-seed-negative", ["train", "--seed", "-1", "--out", "{out}"], 2, ["Invalid value for '--seed': must be >= 0"]),
    # nothing requested can run (tensorflow is not installed in the test environment)
    ("analyze-nothing-runs", ["analyze", "sigmoid", "--samples", "100", "--impls", "{missing}"], 1, ["none of the requested implementations can run here ({missing}: not installed)"]),
    ("eval-nothing-runs", ["eval", "softmax", "1", "--impls", "{missing}"], 1, ["none of the requested implementations can run here ({missing}: not installed)"]),
    ("report-nothing-runs", ["report", "--impls", "{missing}", "--functions", "sigmoid", "--dtypes", "float32", "--samples", "10", "--out", "{out}"], 1, ["none of the requested implementations can run here ({missing}"]),
    ("audit-nothing-runs", ["audit", "--frameworks", "{missing}", "--functions", "sigmoid", "--dtypes", "float32", "--samples", "10", "--out", "{out}"], 1, ["none of the requested implementations can run here ({missing}"]),
    ("plot-nothing-runs", ["plot", "sigmoid", "--impls", "{missing}", "--samples", "10", "--out", "{out}/x.png"], 1, ["none of the requested implementations can run here ({missing}"]),
    # an empty --functions is an empty list, as for --impls and --dtypes
    ("report-functions-empty-string", ["report", "--functions", "", "--out", "{out}"], 2, ["Invalid value for '--functions': empty list"]),
    ("audit-functions-empty-string", ["audit", "--functions", "", "--out", "{out}"], 2, ["Invalid value for '--functions': empty list"]),
    # --out "" is refused up front, not taken as the current folder
    ("report-out-empty", ["report", "--functions", "sigmoid", "--samples", "10", "--out", ""], 2, ["Invalid value for '--out': empty path"]),
    ("audit-out-empty", ["audit", "--functions", "sigmoid", "--samples", "10", "--out", ""], 2, ["Invalid value for '--out': empty path"]),
    ("plot-out-empty", ["plot", "sigmoid", "--samples", "10", "--out", ""], 2, ["Invalid value for '--out': empty path"]),
    ("train-out-empty", ["train", "--epochs", "1", "--out", ""], 2, ["Invalid value for '--out': empty path"]),
    ("slides-out-empty", ["slides", "--quick", "--out", ""], 2, ["Invalid value for '--out': empty path"]),
    # a folder that cannot be written: refused before any work, as by the other commands
    ("slides-out-unwritable", ["slides", "--quick", "--out", "/proc/stabkit-x"], 2, ["Invalid value for '--out'", "/proc"]),
    ("train-data-dir-is-file", ["train", "--dataset", "mnist", "--epochs", "1", "--data-dir", "{file}", "--out", "{out}"], 2, ["Invalid value for '--data-dir'", "afile", "is not a folder"]),
    # an unknown option among eval's values is an unknown option, not a value
    ("eval-misspelt-option", ["eval", "softmax", "1", "2", "--dtyp", "float32"], 2, ["No such option: --dtyp", "--dtype"]),
    # options that would be silently ignored are refused, naming the conflict
    ("eval-labels-on-a-non-loss", ["eval", "sigmoid", "1", "--labels", "3"], 2, ["Invalid value for '--labels': only for the losses; sigmoid takes no labels"]),
    ("eval-from-probs-on-a-non-loss", ["eval", "softmax", "1", "2", "--from-probs"], 2, ["Invalid value for '--from-probs': only for the losses"]),
    ("analyze-restart-without-exhaustive", ["analyze", "sigmoid", "--samples", "10", "--restart"], 2, ["Invalid value for '--restart': only with --exhaustive in float32"]),
    ("analyze-resume-16-bit-exhaustive", ["analyze", "sigmoid", "--dtype", "float16", "--exhaustive", "--resume"], 2, ["Invalid value for '--resume'"]),
    ("train-compare-with-loss", ["train", "--compare", "--loss", "probabilities", "--out", "{out}"], 2, ["Invalid value for '--loss': --compare trains both"]),
]

# Every corrupt data folder, through train (exit 1: a failure, not usage) and slides.
_DATA_WORDS = {
    "missing": ["nowhere"], "empty": ["t10k-images"], "wrong_magic": ["magic", "0x00001234"],
    "wrong_magic_raw": ["magic", "0x00000809"], "truncated_gzip": ["gzip", "t10k-images"],
    "corrupt_gzip": ["t10k-labels"], "truncated_payload": ["truncated", "t10k-images"],
    "trailing_bytes": ["trailing", "t10k-images"], "short_header": ["truncated", "t10k-images"],
    "tiny_file": ["t10k-labels", "1 bytes"], "wrong_counts": ["10 images", "9 labels"],
    "huge_dims": ["truncated", "4294967295"], "zero_dim": ["empty dimension"],
    "swapped_magic": ["swapped"], "label_range": ["label 200"], "no_labels": ["t10k-labels"],
}
for _name, _words in _DATA_WORDS.items():
    # a data folder that is no folder is a usage error (exit 2), as for slides
    CASES.append((f"train-data-{_name}", ["train", "--dataset", "mnist", "--epochs", "1", "--data-dir", f"{{data:{_name}}}", "--out", "{out}"],
                  2 if _name == "missing" else 1, ["--data-dir", *_words] if _name == "missing" else _words))
    if _name not in ("missing",):
        CASES.append((f"slides-data-{_name}", ["slides", "--quick", "--data-dir", f"{{data:{_name}}}", "--out", "{out}"], 1, _words))


def test_at_least_40_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40
    assert {c[1][0] for c in CASES} == {"list", "eval", "analyze", "report", "plot", "audit", "train", "slides"}


@pytest.mark.parametrize("argv, code, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, monkeypatch, argv, code, words):
    if MISSING is None and any("{missing}" in a for a in argv):
        pytest.skip("every framework is installed here")
    monkeypatch.setenv("STABKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    args = []
    for a in argv:
        if a.startswith("{data:"):
            a = str(DATA[a[6:-1]](tmp_path / "data"))
        args.append(a.replace("{out}", str(out)).replace("{file}", str(afile)).replace("{tmp}", str(tmp_path))
                    .replace("{missing}", MISSING or ""))
    words = [w.replace("{missing}", MISSING or "") for w in words]
    if argv[0] == "plot":
        out.mkdir()  # the figure's folder must exist
    before = sorted(p.name for p in tmp_path.iterdir())
    r = CliRunner().invoke(app, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    lines = r.stderr.splitlines()
    assert r.exit_code == code, (r.exit_code, r.stderr, r.stdout)
    assert "Traceback" not in r.stderr + r.stdout and not isinstance(r.exception, (AssertionError, TypeError, KeyError))
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "internal error" not in lines[0], lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())
    assert afile.read_text() == "not a folder\n"
    after = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("data", "cache"))
    assert set(after) <= set(before) | {"out"}
