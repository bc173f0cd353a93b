"""Issue 7: the file readers, fuzzed with hypothesis.

The IDX reader (MNIST) must end every malformed file in a
:class:`~stabkit.nn.DataError` naming the file, without allocating what a
forged header declares; the reference cache and the sweep's chunk state must
answer ``None`` (recompute) for anything they cannot trust, never raise.
Memory is bounded with tracemalloc (NumPy and zlib report to it).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stabkit.analysis import chunks, sweep
from stabkit.reference import cache
from stabkit.nn.data import DataError, read_idx

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PEAK = 8 << 20  # bytes: every example here is at most a few KiB of data


@contextlib.contextmanager
def _bounded_memory():
    """Trace the block's allocations; its peak must stay below PEAK."""
    tracemalloc.start()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < PEAK, peak


def _idx(magic: int, dims, payload: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


@st.composite
def idx_files(draw):
    """A valid IDX file, then zero or more corruptions; (bytes, gz, intact)."""
    ndim = draw(st.sampled_from([1, 3]))
    dims = draw(st.lists(st.integers(1, 6), min_size=ndim, max_size=ndim))
    n = int(np.prod(dims))
    raw = _idx(0x801 if ndim == 1 else 0x803, dims, draw(st.binary(min_size=n, max_size=n)))
    intact = True
    for op in draw(st.lists(st.sampled_from(["truncate", "magic", "huge", "append", "flip", "count"]), max_size=3)):
        intact = False
        if op == "truncate":
            raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
        elif op == "magic":
            raw = struct.pack(">I", draw(st.integers(0, 2**32 - 1))) + raw[4:]
        elif op == "huge" and len(raw) >= 8:
            i = draw(st.integers(0, (min(len(raw), 16) - 8) // 4))
            raw = raw[: 4 + 4 * i] + struct.pack(">I", draw(st.integers(2**20, 2**32 - 1))) + raw[8 + 4 * i :]
        elif op == "append":
            raw = raw + draw(st.binary(min_size=1, max_size=64))
        elif op == "flip" and raw:
            i = draw(st.integers(0, len(raw) - 1))
            raw = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
        elif op == "count" and len(raw) >= 8:
            raw = raw[:4] + struct.pack(">I", draw(st.integers(0, 2**32 - 1))) + raw[8:]
    gz = draw(st.booleans())
    if gz:
        raw = gzip.compress(raw, mtime=0)
        cut = draw(st.sampled_from([None, "truncate", "flip"]))
        if cut == "truncate":
            raw, intact = raw[: draw(st.integers(0, len(raw) - 1))], False
        elif cut == "flip":
            i = draw(st.integers(10, len(raw) - 1))
            raw, intact = raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :], False
    return raw, gz, intact


@SETTINGS
@given(case=idx_files())
def test_idx_reader(tmp_path, case):
    raw, gz, intact = case
    path = tmp_path / ("f.gz" if gz else "f")
    path.write_bytes(raw)
    with _bounded_memory():
        try:
            a = read_idx(path)
        except DataError as e:
            assert str(e).startswith(str(path)) and len(str(e).splitlines()) == 1, str(e)
            assert not intact, str(e)
        else:
            assert a.dtype == np.uint8 and a.ndim in (1, 3) and a.size > 0


@pytest.mark.parametrize("gz", [False, True])
def test_idx_huge_declared_dimensions_do_not_allocate(tmp_path, gz):
    raw = _idx(0x803, (2**32 - 1,) * 3, b"\x00" * 100)
    path = tmp_path / "huge"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with _bounded_memory(), pytest.raises(DataError, match=r"truncated.*\(4294967295, 4294967295, 4294967295\)"):
        read_idx(path)


def test_idx_gzip_bomb_is_read_only_as_far_as_the_header_says(tmp_path):
    """64 MiB of zeros after a 10-byte header compress to ~64 KiB; only the
    declared 10 bytes and one more are inflated."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(_idx(0x801, (10,), b"\x00" * (64 << 20)), mtime=0))
    with _bounded_memory(), pytest.raises(DataError, match="trailing bytes"):
        read_idx(path)


# ------------------------------------------------------------ reference cache


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _valid_cache(key: str, n: int) -> dict:
    return {"meta": np.array(json.dumps({"key": key, "version": cache.VERSION})),
            **{f: np.zeros(n) for f in cache._FIELDS}}


@st.composite
def cache_files(draw):
    key = "ab" + "0" * 62
    n = draw(st.integers(0, 5))
    kind = draw(st.sampled_from(["valid", "random", "truncated", "flip", "meta", "shape", "object", "missing", "huge"]))
    arrays = _valid_cache(key, n)
    if kind == "random":
        return key, n, draw(st.binary(max_size=600)), False
    if kind == "meta":
        arrays["meta"] = np.array(draw(st.sampled_from(["[1]", "null", "{", "7", '{"key": 1}', '"x"', json.dumps({"key": key})])))
    elif kind == "shape":
        arrays[draw(st.sampled_from(cache._FIELDS))] = np.zeros((n + 1, 2))
    elif kind == "missing":
        del arrays[draw(st.sampled_from(cache._FIELDS))]
    data = _npz(**arrays)
    if kind == "object":
        buf = io.BytesIO()
        np.savez(buf, **{**arrays, "rounded": np.array([{"a": 1}] * n + [None], dtype=object)})
        data = buf.getvalue()
    elif kind == "truncated":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif kind == "huge":
        data = _forged_npy_zip("rounded", (2**40,), arrays)
    return key, n, data, kind == "valid"


def _forged_npy_zip(name: str, shape, arrays) -> bytes:
    """An .npz whose member ``name`` declares ``shape`` but holds 16 bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k, v in arrays.items():
            if k == name:
                continue
            b = io.BytesIO()
            np.save(b, v, allow_pickle=False)
            z.writestr(f"{k}.npy", b.getvalue())
        hdr = io.BytesIO()
        np.lib.format.write_array_header_1_0(hdr, {"descr": "<f8", "fortran_order": False, "shape": shape})
        z.writestr(f"{name}.npy", hdr.getvalue() + b"\x00" * 16)
    return buf.getvalue()


@SETTINGS
@given(case=cache_files())
def test_cache_load(tmp_path, monkeypatch, case):
    key, n, data, valid = case
    monkeypatch.setenv("STABKIT_CACHE_DIR", str(tmp_path / "c"))
    p = cache._path(key)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    with _bounded_memory():
        out = cache.load(key, n)
    if valid:
        assert out is not None
    if out is not None:
        assert set(out) == set(cache._FIELDS) and all(a.shape == (n,) for a in out.values())


# ------------------------------------------------------------ sweep chunk state


def _valid_chunk(meta: dict, names) -> dict:
    arrays = {"meta": np.array(json.dumps({**meta, "unsupported": []})), "n_fast": np.zeros(2)}
    for nm in names:
        arrays.update({f"{nm}/counts": np.zeros(8), f"{nm}/floats": np.zeros(5), f"{nm}/worst": np.zeros((3, 7)),
                       f"{nm}/hist_keys": np.zeros(4), f"{nm}/hist_counts": np.zeros(4)})
    return arrays


@st.composite
def chunk_files(draw):
    names = ("naive", "accurate")
    meta = {"key": "k", "version": 1, "index": 3, "lo": 0, "hi": 10, "impls": list(names)}
    arrays = _valid_chunk(meta, names)
    kind = draw(st.sampled_from(["valid", "random", "truncated", "flip", "meta", "shape", "missing", "object", "huge"]))
    if kind == "random":
        return meta, names, draw(st.binary(max_size=600)), False
    if kind == "meta":
        arrays["meta"] = np.array(draw(st.sampled_from(
            ["[1]", "null", "{", "3", json.dumps(meta), json.dumps({**meta, "unsupported": 5}),
             json.dumps({**meta, "index": 4, "unsupported": []})])))
    elif kind == "shape":
        arrays[draw(st.sampled_from(sorted(k for k in arrays if k != "meta")))] = np.zeros((2, 3, 4))
    elif kind == "missing":
        del arrays[draw(st.sampled_from(sorted(arrays)))]
    elif kind == "object":
        arrays["n_fast"] = np.array([None, {}], dtype=object)
    if kind == "huge":
        return meta, names, _forged_npy_zip("naive/counts", (2**40,), arrays), False
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    if kind == "truncated":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    return meta, names, data, kind == "valid"


@SETTINGS
@given(case=chunk_files())
def test_sweep_chunk_load(tmp_path, case):
    meta, names, data, valid = case
    p = tmp_path / "chunk.npz"
    p.write_bytes(data)
    with _bounded_memory():
        out = chunks.load_state(p, meta, names)
    if valid:
        assert out is not None
    if out is not None:
        assert out["n_fast"].shape == (2,)


# ------------------------------------------------------------ model weights


def _weights_file() -> bytes:
    from stabkit.nn import Sequential
    from stabkit.nn.layers import Dense

    m = Sequential([Dense(3, activation="relu"), Dense(2)])
    m.build(4, seed=0)
    buf = io.BytesIO()
    np.savez(buf, **{f"{i:03d}_{k}": getattr(layer, k) for i, layer in enumerate(m.layers) for k in ("kernel", "bias")})
    return buf.getvalue()


@st.composite
def weight_files(draw):
    data = _weights_file()
    kind = draw(st.sampled_from(["valid", "random", "truncated", "flip", "huge"]))
    if kind == "random":
        data = draw(st.binary(max_size=600))
    elif kind == "truncated":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip":
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif kind == "huge":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            arrays = {n[:-4]: np.load(io.BytesIO(z.read(n)), allow_pickle=False) for n in z.namelist()}
        data = _forged_npy_zip("000_kernel", (2**20, 2**20), arrays)
    return data, kind == "valid"


@SETTINGS
@given(case=weight_files())
def test_load_weights(tmp_path, case):
    from stabkit.nn import Sequential
    from stabkit.nn.layers import Dense

    data, valid = case
    p = tmp_path / "w.npz"
    p.write_bytes(data)
    m = Sequential([Dense(3, activation="relu"), Dense(2)])
    m.build(4, seed=1)
    with _bounded_memory():
        try:
            m.load_weights(p)
        except DataError as e:
            assert str(e).startswith(str(p)) and not valid, str(e)
