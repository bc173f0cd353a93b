"""``stabkit.accurate.workers(n)``: threads over whole blocks give the bits
of one thread, keep the caller's error state, and refuse bad counts."""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import pytest

from stabkit import accurate
from stabkit._accurate import threads
from stabkit.floats import round_float64

FORMATS = ("float64", "float32", "float16", "bfloat16")


def _rows(n_rows: int, n: int) -> np.ndarray:
    """Rows of every family the row-wise functions branch on: plain, far
    winners, huge offsets, masked, NaN, +inf, tiny and cancelling ones."""
    rng = np.random.default_rng(16)
    x = rng.standard_normal((n_rows, n)) * rng.choice([0.1, 5.0, 40.0], (n_rows, 1))
    x[1::7] += 1e4
    x[2::11, 0] += 60.0
    x[3::13, 1:] = -np.inf
    x[4::17, 2 % n] = np.nan
    x[5::19, 0] = np.inf
    x[6::23] -= 700.0
    x[8::29] = -1e-3 * np.abs(x[8::29])
    return x


def _cast(v: np.ndarray, fmt: str) -> np.ndarray:
    """``v`` rounded once to ``fmt`` (out-of-range values to inf, quietly)."""
    with np.errstate(over="ignore"):
        return round_float64(v, fmt)


def _same(a, b) -> bool:
    return np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.fixture
def spy(monkeypatch):
    """Counts the tasks handed to the pool (a call that ran threaded adds
    ``n`` per loop)."""
    seen = []
    run = threads._run

    def counted(tasks):
        seen.append(len(tasks))
        return run(tasks)

    monkeypatch.setattr(threads, "_run", counted)
    return seen


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(3000, 100), (70_000, 10), (40, 5000)])
def test_rowwise_functions_give_the_bits_of_one_thread(fmt, shape, spy):
    x = _cast(_rows(*shape), fmt)
    labels = np.random.default_rng(1).integers(0, shape[1], shape[0])
    calls = {
        "softmax": lambda: accurate.softmax(x),
        "log_softmax": lambda: accurate.log_softmax(x),
        "logsumexp": lambda: accurate.logsumexp(x, axis=-1),
        "sparse": lambda: accurate.sparse_categorical_crossentropy(labels, x, from_logits=True),
        "categorical": lambda: accurate.categorical_crossentropy(np.eye(shape[1])[labels].astype(x.dtype), x,
                                                                 from_logits=True, reduction="mean"),
    }
    for name, call in calls.items():
        one = call()
        with accurate.workers(2):
            two = call()
        assert _same(one, two), name
    assert spy and all(n == 2 for n in spy)  # every call above ran on two threads


@pytest.mark.parametrize("fmt", FORMATS)
def test_elementwise_functions_give_the_bits_of_one_thread(fmt, spy):
    rng = np.random.default_rng(2)
    v = np.concatenate([rng.standard_normal(300_000) * 30, [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, -800.0]])
    x = _cast(v, fmt)
    y = (rng.random(v.size) < 0.5).astype(x.dtype)
    for fn in (accurate.sigmoid, accurate.log_sigmoid, accurate.softplus):
        one = fn(x)
        with accurate.workers(3):
            assert _same(one, fn(x)), fn.__name__
    one = accurate.binary_crossentropy(y, x, from_logits=True, reduction="sum")
    with accurate.workers(2):
        assert _same(one, accurate.binary_crossentropy(y, x, from_logits=True, reduction="sum"))
    assert spy and max(spy) >= 2


def test_small_inputs_stay_on_the_callers_thread(spy):
    with accurate.workers(4):
        accurate.softmax(np.ones((10, 10)))
        accurate.sigmoid(np.ones(1000, np.float32))
    assert spy == []


def test_the_callers_error_state_reaches_the_workers():
    x = _rows(20_000, 30)
    one = accurate.log_softmax(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"), accurate.workers(2):
            assert _same(one, accurate.log_softmax(x))


def test_the_count_is_scoped_and_bad_counts_are_refused():
    assert threads.current() == 1
    with accurate.workers(2):
        assert threads.current() == 2
        with accurate.workers(1):
            assert threads.current() == 1
        assert threads.current() == 2
    assert threads.current() == 1
    with accurate.workers():
        assert threads.current() == (os.cpu_count() or 1)
    with accurate.workers(np.int64(3)):
        assert threads.current() == 3
    for bad, err in [(0, ValueError), (-2, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)]:
        with pytest.raises(err, match="workers"):
            with accurate.workers(bad):
                pass
    assert threads.current() == 1


def test_blocks_run_on_several_threads_and_errors_come_back():
    seen = set()
    lock = threading.Lock()
    both = threading.Barrier(2, timeout=30)  # the two runs (0-3, 4-7) must overlap in time

    def body(i):
        with lock:
            seen.add(threading.get_ident())
        if i in (0, 4):
            both.wait()
        if i == 5:
            raise ValueError("block 5")

    with accurate.workers(2), pytest.raises(ValueError, match="block 5"):
        threads.each(body, range(8))
    assert len(seen) == 2


def test_a_function_called_inside_a_task_runs_there_and_does_not_wait_for_the_pool():
    x = _rows(3000, 100)
    want = accurate.softmax(x)
    got = [None] * 4

    def body(i):
        assert threads.current() == 1  # the task's copy of the context
        got[i] = accurate.softmax(x)

    with accurate.workers(2):
        threads.each(body, range(4))
    assert all(_same(want, g) for g in got)


PUBLIC = ("sigmoid", "log_sigmoid", "softplus", "softmax", "log_softmax", "logsumexp", "binary_crossentropy",
          "sparse_categorical_crossentropy", "categorical_crossentropy")


def _calls(x: np.ndarray, labels: np.ndarray) -> dict:
    """One call of every public function on ``x`` (rows of 100), taking
    ``**kw`` (the option under test)."""
    onehot = np.eye(x.shape[1], dtype=x.dtype)[labels]
    probs = accurate.sigmoid(x)
    return {
        "sigmoid": lambda **kw: accurate.sigmoid(x, **kw),
        "log_sigmoid": lambda **kw: accurate.log_sigmoid(x, **kw),
        "softplus": lambda **kw: accurate.softplus(x, **kw),
        "softmax": lambda **kw: accurate.softmax(x, **kw),
        "log_softmax": lambda **kw: accurate.log_softmax(x, axis=0, **kw),
        "logsumexp": lambda **kw: accurate.logsumexp(x, axis=-1, **kw),
        "binary_crossentropy": lambda **kw: accurate.binary_crossentropy(probs > 0.5, probs, **kw),
        "sparse_categorical_crossentropy": lambda **kw: accurate.sparse_categorical_crossentropy(
            labels, x, from_logits=True, **kw),
        "categorical_crossentropy": lambda **kw: accurate.categorical_crossentropy(
            onehot, x, from_logits=True, reduction="sum", **kw),
    }


@pytest.mark.parametrize("fmt", ("float64", "float32"))
def test_the_workers_keyword_gives_the_bits_of_one_thread_on_threads(fmt, spy):
    x = _cast(_rows(3000, 100), fmt)
    labels = np.random.default_rng(2).integers(0, 100, 3000)
    calls = _calls(x, labels)
    assert set(calls) == set(PUBLIC)
    for name, call in calls.items():
        before = len(spy)
        one = call()
        assert len(spy) == before, name  # no threads without the keyword
        assert _same(one, call(workers=2)), name
        assert spy[before:] and all(n == 2 for n in spy[before:]), name  # and it ran on two
        assert _same(one, call(workers=1)), name
        with accurate.workers(2):
            before = len(spy)
            assert _same(one, call(workers=1)), name
            assert len(spy) == before, name  # the keyword wins over the enclosing block


@pytest.mark.parametrize("name", PUBLIC)
def test_the_workers_keyword_is_in_the_signature_and_checked(name):
    import inspect

    f = getattr(accurate, name)
    p = inspect.signature(f).parameters["workers"]
    assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is None
    assert "``workers``" in f.__doc__
    call = _calls(np.zeros((2, 3)), np.array([0, 2]))[name]
    with pytest.raises(ValueError, match="workers must be a positive count"):
        call(workers=0)
    with pytest.raises(TypeError, match="workers must be an int"):
        call(workers=2.0)
    assert threads.current() == 1  # a refused count leaves nothing behind
