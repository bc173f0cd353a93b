"""report.html: one self-contained page beside report.md (figures inside,
no request anywhere), its tables the same as the Markdown's, sortable."""

import base64
import re
from html.parser import HTMLParser

import pytest

from stabkit.report import ReportConfig, run, write
from stabkit.report.html import html, sort_key

CFG = ReportConfig(functions=("sigmoid", "binary_crossentropy:probs"), dtypes=("float16", "float32"),
                   impls=("naive", "stable", "accurate", "scipy"), samples=300, seed=2)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("h")
    paths = write(run(CFG), str(out))
    return out, paths


class _Tables(HTMLParser):
    """Every table's rows as the texts of their cells; every src and href."""

    def __init__(self):
        super().__init__()
        self.tables, self.links, self.cell, self.tags = [], [], None, []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("src", "href")]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def _md_tables(md: str) -> list[list[list[str]]]:
    tables, cur = [], None
    for line in md.splitlines():
        if not line.startswith("|"):
            cur = None
            continue
        if re.fullmatch(r"\|(---\|)+", line):
            continue
        if cur is None:
            cur = []
            tables.append(cur)
        cells = re.split(r"(?<!\\)\|", line)[1:-1]
        cur.append([c.strip().replace("\\|", "|").replace("**", "").replace("`", "") for c in cells])
    return tables


def test_written_beside_the_markdown(written):
    out, paths = written
    page = (out / "report.html").read_text(encoding="utf-8")
    assert str(out / "report.html") in paths
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" in page and "<style>" in page


def test_no_external_resource(written):
    out, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    p = _Tables()
    p.feed(page)
    assert p.links and all(v.startswith(("data:", "#")) for v in p.links)  # figures inside, links to sections
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and all(v[1:] in ids for v in p.links if v.startswith("#"))
    assert not re.search(r"https?://", page)
    assert "link" not in p.tags and "iframe" not in p.tags and not re.search(r"<script[^>]*src", page)
    assert "@import" not in page and "url(" not in page


def test_every_figure_is_embedded(written):
    out, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    figs = sorted((out / "figures").glob("*.png"))
    assert len(figs) == 3  # two functions and the summary
    for f in figs:
        assert "data:image/png;base64," + base64.b64encode(f.read_bytes()).decode() in page, f.name


def test_tables_hold_what_the_markdown_holds(written):
    out, _ = written
    p = _Tables()
    p.feed((out / "report.html").read_text(encoding="utf-8"))
    md = _md_tables((out / "report.md").read_text(encoding="utf-8"))
    assert len(md) >= 8 and [[[c.strip() for c in r] for r in t] for t in p.tables] == md


def test_tables_sort_by_number(written):
    out, _ = written
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.count('<table class="sortable">') == page.count("<table")
    assert 'data-v="0.5"' in page or 'data-v="0.49' in page
    assert sort_key("2.1e+06 (flush to 0)") == "2100000.0" and sort_key("**40**") == "40.0"
    assert sort_key("99.5%") == "99.5" and sort_key("> 1.68e+07") == "16800000.0"
    assert sort_key("too large (\u00d76.3e+30)") == "Infinity" and sort_key("wrong sign") == "Infinity"
    assert sort_key("n/a") is None and sort_key("\u2014") is None and sort_key("**error**: TypeError") is None
    assert sort_key("x = -88.72") is None and sort_key("-inf / 0.04") == "-Infinity"  # parseFloat's spelling


def test_text_is_escaped():
    data = {"command": "stabkit report", "versions": {}, "seed": 0, "samples": 1, "skipped": ["<b>x</b> & y"],
            "results": [], "formats": [], "implementations": [], "functions": []}
    page = html(data)
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in page and "<b>x</b>" not in page
