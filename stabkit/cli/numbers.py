"""The numbers ``stabkit eval`` reads: decimal or hexadecimal text, each
rounded once to the format asked for, and the option-like words that are no
numbers (``--dtyp``), said as Click says an unknown option."""

from __future__ import annotations

import numpy as np

from stabkit.floats import round_float64
from .common import UsageFailure

__all__ = ["parse_number", "written_value", "rounded_once", "refuse_unknown_options", "parse_list"]


def parse_number(text: str) -> float:
    """A decimal number (``1e-300``, ``-inf``, ``nan``) or a hexadecimal
    float, exact in binary (``0x1p-1074``, ``-0x1.8p3``), as float64."""
    t = text.strip()
    if not t.isascii():  # float() reads other scripts' digits (Arabic-Indic 1 as 1)
        raise UsageFailure(f"{text!r} is not a number")
    try:
        return float(t)
    except ValueError:
        pass
    # fromhex also reads "abc" (2748.0): only with the 0x prefix
    if t.lstrip("+-")[:2].lower() == "0x":
        try:
            return float.fromhex(t)
        except (ValueError, OverflowError):
            pass
    raise UsageFailure(f"{text!r} is not a number")


def written_value(text: str):
    """The number as written, exactly, as a Decimal (1e400 is finite, 1e-400
    is not 0); a hexadecimal float through its float64, which holds it
    exactly (or overflows, as the text does)."""
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return Decimal(parse_number(text))


def rounded_once(texts: list[str], xs: np.ndarray, fmt) -> np.ndarray:
    """The inputs as written, rounded once to ``fmt``, from ``xs`` (the
    decimals rounded to float64) rounded to ``fmt`` by round_float64 (one
    rounding of the float64, where ``astype`` double-rounds bfloat16 with
    ml_dtypes < 0.7). Rounding twice can only go wrong where the float64 is
    itself a midpoint of ``fmt`` (1.00390625 in bfloat16, for
    1.00390625000000000001); there the written decimal, compared exactly with
    that float64, says which neighbour is nearest (ties to even as written)."""
    from decimal import Decimal

    x = round_float64(xs, fmt)
    if fmt.name == "float64":
        return x
    with np.errstate(over="ignore", invalid="ignore"):
        up = round_float64(np.nextafter(xs, np.inf), fmt).astype(np.float64)
        down = round_float64(np.nextafter(xs, -np.inf), fmt).astype(np.float64)
        # past the largest finite value the next one would be max + its ulp
        # (the midpoint max + ulp/2 rounds to inf, as IEEE says)
        step = 2.0 ** (fmt.emax - fmt.precision + 1)
        far_up = np.where(up == np.inf, fmt.max + step, up)
        far_down = np.where(down == -np.inf, -fmt.max - step, down)
        # two neighbours of fmt, and xs exactly halfway (exact in float64: fmt has at most 24 bits)
        mid = np.isfinite(xs) & (up != down) & (xs == (far_up + far_down) / 2)
    for i in np.flatnonzero(mid):
        written, here = written_value(texts[i]), Decimal(float(xs[i]))
        if written != here:
            x[i] = (up if written > here else down)[i]
    return x


def refuse_unknown_options(values: list[str]) -> None:
    """A value that is no number but looks like an option (``--dtyp``) is an
    unknown option, said as Click says it; negative numbers are values."""
    import difflib

    for tok in values:
        if not tok.startswith("-") or len(tok) < 2:
            continue
        try:
            parse_number(tok)
            continue
        except UsageFailure:
            pass
        name = tok.partition("=")[0]
        known = ["--dtype", "--labels", "--from-logits", "--from-probs", "--impls", "--json", "--help"]
        close = difflib.get_close_matches(name, known, n=1)
        raise UsageFailure(f"No such option: {name}" + (f" Did you mean {close[0]}?" if close else ""))


def parse_list(text: str) -> list[float]:
    return [parse_number(t) for t in text.replace(",", " ").split()]
