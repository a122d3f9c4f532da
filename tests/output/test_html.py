"""The HTML report builder: escaping, self-containment, inlined figures."""
import base64
import re
import struct
import zlib
from html.parser import HTMLParser

import pytest

from simulator.errors import CostsimError
from simulator.output.html import image_html, page, table_html

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Collector(HTMLParser):
    """Checks that every non-void tag closes in order, and gathers tags and attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.tags, self.attrs, self.ids, self.text = [], [], [], [], [], []
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)
        self.ids.extend(v for k, v in attrs if k == "id")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend((tag, k, v) for k, v in attrs)
        self.ids.extend(v for k, v in attrs if k == "id")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(markup: str) -> _Collector:
    p = _Collector()
    p.feed(markup)
    p.close()
    return p


def _svg(label: str) -> bytes:
    return f"""<?xml version="1.0" encoding="utf-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"
  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<!-- Created with a plotting library -->
<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="100pt" height="50pt" viewBox="0 0 100 50"
     xmlns="http://www.w3.org/2000/svg" version="1.1">
 <defs>
  <clipPath id="p1"><rect x="0" y="0" width="100" height="50"/></clipPath>
  <path id="glyph" d="M 0 0 L 5 5"/>
  <linearGradient id='grad'><stop offset="0"/></linearGradient>
 </defs>
 <g id="figure_1" clip-path="url(#p1)" style="fill: url('#grad')">
  <use xlink:href="#glyph" x="3"/>
  <use href="#glyph" x="9"/>
  <text x="1" y="40">{label}</text>
 </g>
</svg>
""".encode()


def _png(width=2, height=1) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _sample_page() -> str:
    table = table_html(["model <b>", "step time (s)", "GPUs"],
                       [["gpt<script>alert(1)</script>", 0.125, 8], ["a & b", 1.5, None]])
    return page("Costs <for> \"you\"", [("Estimates & <more>", table),
                                          ("Plot one", image_html(_svg("one"), "svg", "first <plot>")),
                                          ("Plot two", image_html(_svg("two"), "svg", "second")),
                                          ("Raster", image_html(_png(), "png", "a png"))],
                subtitle="H100 <x8>", notes=["FLOPs < peak", "price from a 'list'"],
                csv_name="costs report.csv", generated_by="costsim <test>")


def test_the_page_parses_and_its_tags_balance():
    doc = _sample_page()
    assert doc.lstrip().lower().startswith("<!doctype html>")
    p = parse(doc)
    assert p.errors == [] and p.stack == []
    assert p.doctype.lower() == "doctype html"
    for tag in ("html", "head", "meta", "title", "style", "body", "h1", "h2", "table", "thead", "tbody",
                "figure", "figcaption", "svg", "img", "ul", "li", "a"):
        assert tag in p.tags, tag
    assert p.tags.count("html") == p.tags.count("body") == p.tags.count("head") == 1


def test_the_page_is_self_contained():
    doc = _sample_page()
    p = parse(doc)
    assert "script" not in p.tags
    assert "<script" not in doc.lower()
    assert not any(tag == "link" for tag in p.tags)
    links = [(tag, k, v) for tag, k, v in p.attrs if k in ("src", "href", "xlink:href")]
    for tag, k, v in links:
        assert "http://" not in v and "https://" not in v, (tag, k, v)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", doc, re.I)
    anchors = [v for tag, k, v in p.attrs if tag == "a" and k == "href"]
    assert anchors == ["costs%20report.csv"]
    assert "@import" not in doc and "url(http" not in doc


def test_text_is_escaped():
    doc = _sample_page()
    p = parse(doc)
    text = "".join(p.text)
    assert "gpt<script>alert(1)</script>" in text
    assert "gpt&lt;script&gt;" in doc
    assert "<b>" not in doc
    assert "model &lt;b&gt;" in doc
    assert "Costs &lt;for&gt; &quot;you&quot;" in doc
    assert "a &amp; b" in doc
    assert "FLOPs &lt; peak" in doc and "H100 &lt;x8&gt;" in doc and "first &lt;plot&gt;" in doc
    assert "costsim &lt;test&gt;" in doc


def test_table_escapes_cells_and_right_aligns_numbers():
    t = table_html(["name", "value"], [["<x>", 1.0], ["y", 2.5]])
    assert "&lt;x&gt;" in t and "<x>" not in t
    assert '<td class="num">2.5</td>' in t and '<th scope="col" class="num">value</th>' in t
    assert '<td>y</td>' in t
    assert parse(t).errors == [] and parse(t).stack == []
    forced = table_html(["a", "b"], [["1", "x"]], numeric_columns={1})
    assert '<td class="num">x</td>' in forced and "<td>1</td>" in forced
    assert '<td class="num">1,234</td>' in table_html(["n"], [["1,234"], ["-"]])
    with pytest.raises(CostsimError):
        table_html(["a", "b"], [[1]])


def test_two_svgs_with_the_same_ids_get_distinct_ids():
    one = image_html(_svg("one"), "svg", "first")
    two = image_html(_svg("two"), "svg", "second")
    same = image_html(_svg("one"), "svg", "first")
    docs = [parse(x) for x in (one, two, same)]
    ids = [set(d.ids) for d in docs]
    assert all(len(s) == 4 for s in ids)
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    for markup, found in zip((one, two, same), ids):
        refs = re.findall(r"""url\(['"]?#([^)'"]+)""", markup) + re.findall(r'href="#([^"]+)"', markup)
        assert len(refs) == 4
        assert set(refs) <= found, (refs, found)
        assert "<?xml" not in markup and "DOCTYPE" not in markup
        assert markup.startswith("<figure>\n<svg") and markup.endswith("</figure>")
    assert 'id="p1"' not in one and 'url(#p1)' not in one and 'href="#glyph"' not in one
    fixed = image_html(_svg("one"), "svg", "c", id_prefix="fig1-")
    assert 'id="fig1-p1"' in fixed and 'clip-path="url(#fig1-p1)"' in fixed
    assert "url('#fig1-grad')" in fixed and 'xlink:href="#fig1-glyph"' in fixed


def test_svg_inlining_drops_scripts_handlers_and_outside_links():
    evil = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"><script>alert(1)</script>'
            b'<a href="https://example.com"><rect id="r" onclick=\'y()\'/></a></svg>')
    markup = image_html(evil, "svg", "evil")
    assert "<script" not in markup and "onload" not in markup and "onclick" not in markup
    assert "https://example.com" not in markup


def test_a_png_round_trips_through_base64():
    data = _png(3, 2)
    markup = image_html(data, "png", "tiny <png>")
    m = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', markup)
    assert m
    assert base64.b64decode(m.group(1)) == data
    assert "<figcaption>tiny &lt;png&gt;</figcaption>" in markup
    assert parse(markup).errors == [] and parse(markup).stack == []


def test_bad_images_and_csv_links_are_refused():
    with pytest.raises(CostsimError):
        image_html(b"GIF89a", "gif", "no")
    with pytest.raises(CostsimError):
        image_html(b"not a png", "png", "no")
    for bad in ("https://example.com/a.csv", "/etc/a.csv", "javascript:alert(1)"):
        with pytest.raises(CostsimError):
            page("t", [], csv_name=bad)
    assert "href=" not in page("t", [("s", "<p>x</p>")])


def test_a_matplotlib_svg_inlines_cleanly():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    figs = []
    for _ in range(2):
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3], [1, 4, 9])
        buf = io.BytesIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        figs.append(image_html(buf.getvalue(), "svg", "plot"))
    doc = page("plots", [("a", figs[0]), ("b", figs[1])])
    p = parse(doc)
    assert p.errors == [] and p.stack == []
    assert len(p.ids) == len(set(p.ids)) > 0
    refs = re.findall(r"""url\(['"]?#([^)'"]+)""", doc) + re.findall(r'href="#([^"]+)"', doc)
    assert refs and set(refs) <= set(p.ids)
