"""Narrow rows (at most NARROW columns) through the compiled kernel
(``narrow_rows`` in ``stabkit/_native/_narrow.h``), with the bits of
:class:`~stabkit._accurate.rows.Rows`' NumPy passes.

Each function here takes a block of rows as :mod:`stabkit.accurate` gives
it (float64, or float32 for a narrower target; float16 and bfloat16 rows
converted to float64; any strides) and returns what the named method of
``Rows`` returns on it. Narrower targets' log-probabilities are ``d - L``
with ``Rows``' tie fix (``below_ties``), in the kernel's last pass
(``narrow_log_softmax``) or, at a label, repeated in NumPy on the kernel's
``m`` and ``L``. Where the kernel is off
(``STABKIT_NATIVE=0``, not built, NumPy's loops not found; see
:func:`stabkit._native.narrowrows.narrow_status`) or the rows are wider, ``Rows``
itself runs (wider rows of :func:`logsumexp` try the wide-row kernel
first, those of :func:`log_softmax_at` and :func:`crossentropy` through
:mod:`stabkit._accurate.wide`). Otherwise the kernel computes every row at
once and flags the rows it leaves to ``Rows`` (``redo``): NaN or infinite
maxima, zero maxima of both signs, float64 sums below ``n 2**-1020``,
cancelling logsumexps,
and for the log-probabilities rows whose ``L`` is 0 (the zero's sign of
``Rows._signed_zeros``). Those are recomputed by ``Rows`` on their own;
every step of ``Rows`` acts on each row alone, so their bits are the same
as in a whole block.
"""

from __future__ import annotations

import numpy as np

from stabkit._native import narrowrows as native
from stabkit._native import widerows as native_wide
from stabkit.floats import Format

from . import wide
from .blocks import step
from .cancelling import logsumexp_cancelling
from .crossentropy import _finish, crossentropy_from_rows
from .eft import NARROW, workspace
from .rows import Rows
from .unshifted import below_ties, log_softmax_unshifted


def _analysed(x: np.ndarray, exact: bool):
    """``(d, r, e, m, L, redo)`` of the kernel on ``x``, in the workspace
    ``Rows`` uses (so a redo reuses it: read it before), or None where the
    kernel does not run."""
    n_rows, n = x.shape
    if not 0 < n <= NARROW:
        return None
    D, E, R = workspace(max(n_rows, step(n)), n, 5)[:3]
    D, E, R = D[:n_rows], E[:n_rows], R[:n_rows]
    got = native.narrow(x, exact, D, R, E)
    return None if got is None else (D, R, E, *got)


def _rounded(fmt: Format, rounded: bool) -> str | None:
    """The format name the wide-row kernel's fast pass may round to: the
    caller's narrower format where it rounds once (``rounded``), else None."""
    return fmt.name if rounded and fmt.name != "float64" else None


def _rows(x: np.ndarray, exact: bool) -> Rows:
    return Rows(x, exact, block_rows=step(x.shape[-1]))


def logsumexp(x: np.ndarray, fmt: Format, rounded: bool = False) -> np.ndarray:
    """``Rows(x).logsumexp(fmt)``, one value per row (wide rows through
    ``wide_rows``, narrow ones through ``narrow_rows``). ``rounded``: the
    caller rounds the values once to ``fmt`` and uses nothing else of them
    (float32 rows and widened 16-bit ones may then take the kernels' fast
    passes, narrow float32 rows ``narrow_lse32``: the same values in
    ``fmt``, other float64s)."""
    if x.shape[1] == 1:
        # one entry a row: m + log1p(0) = x exactly (-0.0 gives m + 0.0 =
        # +0.0; NaN the quiet NaN Rows gives), without the kernel's redo
        # of every such row in NumPy
        v = x[:, 0].astype(np.float64)
        return np.where(v == v, v + 0.0, np.nan)
    exact = fmt.name == "float64"
    fast = native.narrow_lse32(x) if rounded and fmt.name == "float32" and x.shape[1] <= NARROW else None
    if fast is not None:  # float32 rows of 3 to 16 columns: exp_fast's rounding test, the rest below
        out, done = fast
        if not done.all():
            out[~done] = logsumexp(x[~done], fmt)
        return out
    got = (native.narrow_lse(x, exact) if x.shape[1] <= NARROW
           else native_wide.wide(x, exact, lse=True, rounded=_rounded(fmt, rounded)))
    if got is None:
        return _rows(x, exact).logsumexp(fmt)
    *_, redo, out = got
    if np.count_nonzero(redo):
        # rows that cancel: what Rows.logsumexp does with them, directly (by
        # row numbers: a boolean mask over x's rows costs a pass over x)
        cancel, rest = np.flatnonzero(redo == 2), np.flatnonzero(redo == 1)
        if cancel.size:
            # every row (logits shifted well below 0): x itself, not a copy
            sub = x if cancel.size == x.shape[0] else x[cancel]
            out[cancel] = logsumexp_cancelling(sub.astype(np.float64, copy=False), guess=out[cancel])
        if rest.size:
            wide.hand_back(out, rest, x, lambda back: _rows(back, exact).logsumexp(fmt), wide.one_live_logsumexp)
    return out


def log_softmax(x: np.ndarray, fmt: Format, dst: np.ndarray | None = None) -> np.ndarray:
    """``Rows(x).log_softmax(dst)``: ``(d - L) + r`` for float64 targets;
    for narrower ones ``d - L``, ties settled as ``Rows`` settles them
    (``below_ties``, in the kernel's pass). Into ``dst`` when it is
    contiguous float64 (or float32 for a float32 target, through the fast
    pass), else a new float64 array (the caller rounds it
    once, as NumPy's float64 loops round what they write into a float32 or
    float16 ``dst``)."""
    if x.shape[1] == 1:
        # one entry a row: (d - L) + r = 0 - 0 + 0 = +0 where the entry is
        # finite or +inf (Rows' bits), NaN where it is NaN or -inf (no finite
        # entry); the kernel would send every such row (L == 0) to NumPy
        lp = dst if dst is not None and dst.dtype == np.float64 else np.empty(x.shape)
        lp[...] = np.where((x == x) & (x > -np.inf), 0.0, np.nan)
        return lp
    exact = fmt.name == "float64"
    if exact and x.shape[1] > NARROW:  # the wide-row kernel first (Rows.log_softmax's bits)
        return wide.log_softmax(x, True, dst, lambda q, d: _rows(q, True).log_softmax(d))
    done = None
    if fmt.name == "float32" and dst is not None and dst.dtype == np.float32:
        done = native.narrow_log_softmax32(x, dst)  # float32 rows of 3 to 16 columns: a rounding test
    if done is not None:
        if not done.all():
            dst[~done] = log_softmax(x[~done], fmt)
        return dst
    got = _analysed(x, exact)
    if got is None:
        return _rows(x, exact).log_softmax(dst)
    d, r, _, m, L, redo = got
    redo = redo != 0
    lp = dst if dst is not None and dst.dtype == np.float64 and dst.flags.c_contiguous else np.empty(x.shape)
    # narrower targets: d - L with Rows' tie fix (below_ties) in the same
    # pass, on every row: it moves only entries of tie_rows
    native.narrow_log_softmax(d, r if exact else None, L, lp)
    redo |= L == 0
    if np.count_nonzero(redo):
        wide.hand_back(lp, np.flatnonzero(redo), x, lambda back: _rows(back, exact).log_softmax(),
                       wide.one_live_log_softmax)
    return lp


def log_softmax_at(x: np.ndarray, fmt: Format, cols: np.ndarray, rounded: bool = False,
                   seen: dict | None = None) -> np.ndarray:
    """``Rows(x).log_softmax_at(cols)``: ``(d - L) + r`` at column ``cols[i]``
    of row i for float64 targets; for narrower ones ``below_ties`` of that
    entry's ``d = x + (-m)`` (the kernel's float64 addition, repeated for
    one entry a row). ``rounded`` as for :func:`logsumexp`; ``seen`` as for
    :func:`crossentropy`."""
    exact = fmt.name == "float64"
    if x.shape[1] > NARROW:
        return wide.log_softmax_at(x, exact, cols, _rows, _rounded(fmt, rounded), seen)
    got = _analysed(x, exact)
    if got is None:
        return _rows(x, exact).log_softmax_at(cols)
    d, r, _, m, L, redo = got
    wide.keep_analysis(seen, m, L, redo)
    redo = redo != 0
    if exact:
        lp = native.narrow_log_softmax_at(d, r, L, cols)
    else:
        with np.errstate(invalid="ignore"):
            lp = below_ties((x[np.arange(cols.size), cols] + (-m))[:, None], L)[:, 0]
    redo |= L == 0
    if np.count_nonzero(redo):
        lp[redo] = _rows(x[redo], exact).log_softmax_at(cols[redo])
    return lp


def crossentropy(y: np.ndarray, x: np.ndarray, fmt: Format, scratch, seen: dict | None = None) -> np.ndarray:
    """``crossentropy_from_rows(y, Rows(x), scratch)`` for float64 rows from
    logits: the terms and their compensated sums in one more compiled pass,
    then the same patches (``crossentropy._finish``). ``seen`` (a dict)
    receives the kernel's ``m``, ``L`` and ``redo`` where it ran (``wide.keep_analysis``)."""
    if fmt.name == "float64" and y.shape == x.shape and x.shape[1] > NARROW:
        return wide.crossentropy(y, x, scratch, _rows)
    got = _analysed(x, True) if fmt.name == "float64" and y.shape == x.shape else None
    if got is None:
        return crossentropy_from_rows(y, _rows(x, fmt.name == "float64"), scratch)
    d, r, e, m, L, redo = got
    wide.keep_analysis(seen, m, L, redo)
    redo = redo != 0
    # the terms overwrite e, which nothing needs after L
    out = native.narrow_ce(d, r, L, y, e)
    redo |= L == 0
    out[redo] = 0.0
    loss = _finish(out, y, e, True, x)
    if np.count_nonzero(redo):
        loss[redo] = crossentropy_from_rows(y[redo], _rows(x[redo], True), scratch)
    return loss


def log_softmax_narrower(r: np.ndarray, fmt: Format, dst: np.ndarray | None = None) -> np.ndarray:
    """Log-softmax of a block for a float32 or narrower target: unshifted
    where the row's maximum allows, shifted elsewhere and on short rows (the
    narrow-row kernel, or ``Rows``: NumPy finds their winner faster by a maximum)."""
    if r.shape[-1] <= NARROW:
        return log_softmax(r, fmt, dst)
    # the wide-row kernel first, these rows' NumPy path for those it leaves
    return wide.log_softmax(r, False, dst, _unshifted_then_rows)


def _unshifted_then_rows(r: np.ndarray, dst: np.ndarray | None) -> np.ndarray:
    """:func:`log_softmax_narrower`'s NumPy path for wide rows."""
    lp, ok = log_softmax_unshifted(r, dst, step(r.shape[-1]))
    if not ok.all():
        lp[~ok] = Rows(r[~ok], False, block_rows=step(r.shape[-1])).log_softmax()
    return lp
