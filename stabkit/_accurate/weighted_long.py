"""The weighted logsumexp (:mod:`.weighted`) of rows longer than ``BLOCK``
entries: the same steps on one row at a time, a chunk of ``BLOCK`` columns
at a time, so that the memory is a few chunks whatever the row's length and
the sum's error bound grows linearly with it.

Before 2026-12-08 such a row was one block: every temporary as long as the
row (a row of 10**7 float64 entries took 2.7 GiB), and the compensated sum's
bound ``n**2 2**-104`` of the terms' magnitudes ``A`` grew past what the
double-double pass could settle (2**-57.5 at 10**7), so a row whose weights
of both signs cancel went to MPFR (55 s).

Per row, two passes over its chunks:

1. the edges (:func:`.weighted._edges` of each chunk, merged: a NaN term,
   or infinite terms of both signs, make the row NaN; infinite terms of one
   sign give ``(inf, that sign)``; no live term ``(-inf, 0)``) and the
   leading entry ``T``, the largest estimate ``z = x + k ln 2`` over the
   chunks (the first of equal ones, as ``argmax`` within a chunk);
2. each chunk's terms against the row's shift ``m = x_T, K = k_T`` (step 2,
   the float64 or the double-double ones), summed as in step 3 (within
   ``BLOCK**2 2**-104`` of the chunk's magnitudes compensated, ``BLOCK u``
   plain), and the chunks' sums added in double-double, each addition off by
   at most ``2**-104`` of what it adds (:func:`.weighted._coef` takes
   ``2**-103`` a chunk). The leading term ``f_T`` is left out of its chunk
   and added last, exactly, as :func:`.weighted._sums` does.

Rows the float64 pass does not settle are summed again, the terms in pairs
(:func:`.weighted._pair_terms`), then in double-double, and the rest go to
MPFR whole (:mod:`.weighted_mp`), as shorter rows do: a sum that cancels
past ~2**-60 of its terms.
"""

from __future__ import annotations

import numpy as np

from stabkit.floats import Format

from . import double_double as _dd
from .eft import rowsum, sum2
from .weighted import BLOCK, GAMMA_DD, GAMMA_PAIR, _coef, _edges, _finish
from .weighted_terms import _dd_terms, _float_terms, _pair_terms, _shift, _shift_to
from .weighted_mp import weighted_row_mp


def _chunks(n: int):
    return (slice(s, min(s + BLOCK, n)) for s in range(0, n, BLOCK))


def _lead(x1, b1):
    """Pass 1 for one row: ``(out, sign, None)`` for an edge row, else
    ``(None, None, (m, K, chunk of T, T's index in it))``."""
    nan = pos = neg = fin = False
    best, lead = -np.inf, None
    for i, c in enumerate(_chunks(x1.shape[0])):
        x, b = np.asarray(x1[c], dtype=np.float64)[None], b1[c][None]
        o, s, fb = _edges(x, b)
        nan |= bool(np.isnan(o[0]))
        pos |= bool(o[0] == np.inf and s[0] > 0)
        neg |= bool(o[0] == np.inf and s[0] < 0)
        if fb[0]:
            fin = True
            sh = _shift(x, b)
            # the same float64 expression as _shift's z, so that the chunks
            # compare as the entries within one do
            z = float(sh.m[0] + sh.K[0] * _dd._LN2_1)
            if z > best:
                best, lead = z, (float(sh.m[0]), int(sh.K[0]), i, int(sh.top[0]))
    if nan or (pos and neg):
        return np.nan, np.nan, None
    if pos or neg:
        return np.inf, (1.0 if pos else -1.0), None
    if not fin:
        return -np.inf, 0.0, None
    return None, None, lead


def _row_sums(x1, b1, lead, exact: bool, terms: str = "float"):
    """Pass 2 for one row: ``(Sh, Sl, A, fine)``, the first three as
    :func:`.weighted._sums` gives them, the terms in float64 (``terms=
    "float"``), in pairs (``"pair"``: ``fine`` says whether every live term
    lay in their domain, :func:`.weighted._pair_terms`) or in double-double
    (``"dd"``)."""
    m, K, at, t = lead
    Sh = Sl = mag = 0.0
    f_top = 0.0
    fine = True
    for i, c in enumerate(_chunks(x1.shape[0])):
        x, b = np.asarray(x1[c], dtype=np.float64)[None], b1[c][None]
        sh = _shift_to(x, b, m, K)
        if terms == "pair":
            p, lo, ok = _pair_terms(x, sh)
            fine &= bool(ok[0])
        else:
            p, lo = _dd_terms(x, sh) if terms == "dd" else _float_terms(x, sh, exact)
        if i == at:
            # the leading term, exact, is added back last
            f_top = float(sh.f[0, t])
            p[0, t] = 0.0
            if lo is not None:
                lo[0, t] = 0.0
        mag += float(rowsum(np.abs(p))[0])
        if lo is None:
            ch, cl = float(rowsum(p)[0]), 0.0
        else:
            hi, sl = sum2(p)
            ch, cl = float(hi[0]), float(sl[0] + rowsum(lo)[0])
        Sh, Sl = _dd.add(Sh, Sl, ch, cl)
    n = x1.shape[0]
    Sh, e = _dd.two_sum(f_top, Sh)
    Sh, Sl = _dd.fast_two_sum(Sh, e + Sl)
    return Sh, Sl, mag * (1 + n * 2.0**-52), fine


def first_pass_long(x2, w2, exact: bool):
    """:func:`.weighted._first_pass` for rows longer than ``BLOCK``: one row
    at a time, a chunk at a time."""
    n_rows = x2.shape[0]
    out, sign = np.full(n_rows, -np.inf), np.zeros(n_rows)
    fin = np.zeros(n_rows, dtype=bool)
    Sh, Sl, mag, m, K = (np.zeros(n_rows) for _ in range(5))
    for r in range(n_rows):
        o, s, lead = _lead(x2[r], w2[r])
        if lead is None:
            out[r], sign[r] = o, s
            continue
        fin[r] = True
        Sh[r], Sl[r], mag[r], _ = _row_sums(x2[r], w2[r], lead, exact)
        m[r], K[r] = lead[0], lead[1]
    return out, sign, fin, Sh, Sl, mag, m, K


def redo_long(x2, w2, rows: np.ndarray, fmt: Format, out: np.ndarray, sign: np.ndarray) -> None:
    """:func:`.weighted._redo` for rows longer than ``BLOCK``: the terms in
    pairs, then in double-double, a chunk at a time, then MPFR on the whole
    row."""
    n = x2.shape[1]
    for r in rows:
        _, _, lead = _lead(x2[r], w2[r])
        for terms, gamma, dropped in (("pair", GAMMA_PAIR, 2.0**-287), ("dd", GAMMA_DD, 2.0**-1000)):
            Sh, Sl, mag, fine = _row_sums(x2[r], w2[r], lead, True, terms)
            o, s, ok = _finish(*(np.array([v]) for v in (Sh, Sl, mag, lead[0], lead[1])), n, _coef(n, gamma, True), fmt,
                               dropped=dropped)
            if fine and ok[0]:
                out[r], sign[r] = o[0], s[0]
                break
        else:
            x, b = np.asarray(x2[r], dtype=np.float64), w2[r]
            keep = (b != 0) & (x > -np.inf)
            out[r], sign[r] = weighted_row_mp(x[keep], b[keep])
