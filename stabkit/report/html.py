"""``report.html``: the blocks of ``report.md`` (:func:`stabkit.report.markdown.document`)
as one self-contained page: figures embedded as base64 ``data:`` URIs, the
style and a small table-sorting script inline, no request to anywhere.

Clicking a column's header sorts its table by that column (again: the other
way). Cells sort by the number they start with (``data-v``); a worst case
shown as what happened (a flush to 0, a wrong sign, too large) without its
count sorts above every number, and cells without a number ("n/a", "—",
"error") sort last.
"""

from __future__ import annotations

import base64
import html as _html
import math
import re

from .markdown import document

__all__ = ["html", "sort_key"]

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}
th{background:#f0f0f0;cursor:pointer;user-select:none;white-space:nowrap}
th[data-dir=asc]::after{content:" \\25B2"}th[data-dir=desc]::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#fafafa}
code{background:#f4f4f4;padding:0 0.2em}
img{max-width:100%;height:auto}
"""

# Sort a table by the clicked column: numbers (data-v) before text, cells
# with neither last; a second click reverses.
_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir);
    function key(row) {
      var c = row.cells[col], v = c.getAttribute("data-v");
      return v === null ? [1, c.textContent] : [0, parseFloat(v)];
    }
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var ka = key(a), kb = key(b);
      if (ka[0] !== kb[0]) return ka[0] - kb[0];
      var d = ka[0] === 0 ? ka[1] - kb[1] : (ka[1] < kb[1] ? -1 : ka[1] > kb[1] ? 1 : 0);
      return dir === "asc" ? d : -d;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

_NUM = re.compile(r"^\**(?:> )?([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|[-+]?inf)%?")
_KINDS = ("flush to 0", "wrong sign", "too large")


def sort_key(cell: str) -> str | None:
    """The ``data-v`` of a cell: its leading number, "Infinity" for a worst
    case shown only as what happened, None for text."""
    m = _NUM.match(cell.strip())
    if m:
        v = float(m.group(1))
        # as JavaScript's parseFloat reads it ("inf" it does not)
        return ("-" if v < 0 else "") + "Infinity" if v in (math.inf, -math.inf) else repr(v)
    return "Infinity" if cell.startswith(_KINDS) else None


def _inline(text: str) -> str:
    """Markdown's inline code, bold and italics, escaped."""
    out = []
    for i, part in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append("<code>" + _html.escape(part) + "</code>")
            continue
        part = _html.escape(part, quote=False)
        part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", part)
        out.append(re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<em>\1</em>", part))
    return "".join(out)


def _table(header: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{_inline(c)}</th>" for c in header)
    body = []
    for r in rows:
        cells = []
        for c in r:
            v = sort_key(str(c))
            cells.append((f'<td data-v="{v}">' if v is not None else "<td>") + _inline(str(c)) + "</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{h}</tr></thead><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def _data_uri(src: str, figures: dict) -> str | None:
    """``figures/x.png`` as a data URI from ``figures`` (path -> bytes): the
    PNG, else an SVG of the same name; None when neither was written."""
    stem = src.rsplit(".", 1)[0]
    for ext, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
        data = figures.get(f"{stem}.{ext}")
        if data is not None:
            return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    return None


def html(data: dict, figures: dict | None = None) -> str:
    """The HTML report for the JSON data ``data``; ``figures`` maps each
    figure's relative path (``figures/summary.png``) to its bytes (none:
    a report without figures)."""
    figures = figures or {}
    parts, toc, section = [], [], ""
    for b in document(data, figures=bool(figures)):
        if b[0] == "h":
            anchor = re.sub(r"[^a-z0-9]+", "-", b[2].lower()).strip("-")
            if b[1] == 2:
                section = anchor
                toc.append(f'<li><a href="#{anchor}">{_inline(b[2])}</a></li>')
            elif b[1] == 3 and not anchor.startswith(section):
                anchor = f"{section}-{anchor}"  # "Worst inputs" comes once per function
            parts.append(f'<h{b[1]} id="{anchor}">{_inline(b[2])}</h{b[1]}>')
        elif b[0] == "p":
            parts.append("<p>" + _inline(b[1]).replace("\n", " ") + "</p>")
        elif b[0] == "img":
            uri = _data_uri(b[2], figures)
            if uri:
                parts.append(f'<figure><img src="{uri}" alt="{_html.escape(b[1])}"></figure>')
        elif b[0] == "table":
            parts.append(_table(b[1], b[2]))
        else:
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
    if toc:  # after the title: the sections, for a reader who jumps
        parts.insert(1, "<nav><ul>" + "".join(toc) + "</ul></nav>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>stabkit error report</title>\n"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(parts)
            + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")
