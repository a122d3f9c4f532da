"""Self-contained HTML reports: tables, inlined figures and a whole page, as strings.

Everything here is pure: the caller decides where the page is written. A page carries its own CSS and
its figures (SVG inlined as markup, PNG as a base64 ``data:`` URI); it loads nothing from anywhere and
its one link is a relative href to the CSV file written beside it.
"""
from __future__ import annotations

import base64
import hashlib
import html
import math
import re
import uuid
from urllib.parse import quote

from .errors import CostsimError

IMAGE_FORMATS = ("svg", "png")

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 60rem; padding: 1.5rem 1.25rem 3rem;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1b1f23; background: #fff; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid #d0d7de; }
p.subtitle { margin: 0 0 1rem; color: #57606a; }
section { margin-bottom: 1.5rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .92rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
th, td { padding: .3rem .65rem; border: 1px solid #d0d7de; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
tbody tr:nth-child(even) td { background: #f6f8fa; }
th.num, td.num { text-align: right; white-space: nowrap; }
figure { margin: 1rem 0; }
figure svg, figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .9rem; color: #57606a; margin-top: .35rem; }
ul.notes { padding-left: 1.25rem; }
ul.notes li { margin: .2rem 0; }
p.csv, footer { font-size: .9rem; color: #57606a; }
footer { margin-top: 2.5rem; border-top: 1px solid #d0d7de; padding-top: .5rem; }
a { color: #0969da; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; color: #000; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, figure { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  tbody tr:nth-child(even) td { background: #f2f2f2; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  .table-wrap { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
""".strip()


def _e(text) -> str:
    """Escape any value for use as HTML text or a quoted attribute value."""
    return html.escape("" if text is None else str(text), quote=True)


# --- tables ----------------------------------------------------------------------------------------------

def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _looks_numeric(v) -> bool:
    """True for numbers and for strings that read as one ("1,234", "-3.5e+02", "12%", "x1.5")."""
    if _is_number(v):
        return True
    if not isinstance(v, str):
        return False
    s = v.strip().replace(",", "").rstrip("%").lstrip("x×$")
    if not s:
        return False
    try:
        float(s)
    except ValueError:
        return False
    return True


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() in ("", "-", "—"))


def _cell_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v.is_integer() and abs(v) < 2 ** 53:
            return str(int(v))
        return format(v, ".6g")
    return str(v)


def _numeric_columns(headers: list[str], rows: list[list]) -> set[int]:
    """Columns whose every non-blank cell reads as a number (and that have at least one such cell)."""
    out = set()
    for i in range(len(headers)):
        cells = [r[i] for r in rows if not _blank(r[i])]
        if cells and all(_looks_numeric(c) for c in cells):
            out.add(i)
    return out


def table_html(headers: list[str], rows: list[list], numeric_columns: set[int] | None = None) -> str:
    """An HTML table with every header and cell escaped; numeric columns are right-aligned.

    ``numeric_columns`` names the right-aligned columns by index; left as None, a column is numeric when
    all its non-blank cells are numbers or strings that read as one. Cells may be any value: None is an
    empty cell, floats are shown to six significant figures, everything else as ``str``.
    """
    headers = [str(h) for h in headers]
    rows = [list(r) for r in rows]
    for n, r in enumerate(rows, 1):
        if len(r) != len(headers):
            raise CostsimError(f"row {n} has {len(r)} cells but the table has {len(headers)} columns",
                               field="table")
    numeric = _numeric_columns(headers, rows) if numeric_columns is None else set(numeric_columns)

    def cls(i):
        return ' class="num"' if i in numeric else ""

    out = ['<div class="table-wrap">', "<table>", "<thead>", "<tr>"]
    out += [f'<th scope="col"{cls(i)}>{_e(h)}</th>' for i, h in enumerate(headers)]
    out += ["</tr>", "</thead>", "<tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{_e(_cell_text(c))}</td>" for i, c in enumerate(r)) + "</tr>")
    out += ["</tbody>", "</table>", "</div>"]
    return "\n".join(out)


# --- images ----------------------------------------------------------------------------------------------

_PROLOG = re.compile(r"^\s*(?:<\?xml[^>]*\?>\s*|<!DOCTYPE(?:[^\[>]|\[[^\]]*\])*>\s*|<!--.*?-->\s*)*",
                     re.I | re.S)
_SCRIPT = re.compile(r"<script\b.*?(?:</script\s*>|/>)", re.I | re.S)
_EVENT_ATTR = re.compile(r"""\s+on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*')""", re.I)
_ID_ATTR = re.compile(r"""(\sid\s*=\s*)(["'])(.*?)\2""", re.S)
_HREF_ATTR = re.compile(r"""(\s(?:xlink:)?href\s*=\s*)(["'])(.*?)\2""", re.S | re.I)
_URL_REF = re.compile(r"""url\(\s*(["']?)#([^)"'\s]+)\1\s*\)""")


def _svg_prefix(data: bytes, caption: str) -> str:
    # A fresh random part keeps ids unique even when the same figure appears twice on a page; the digest
    # only makes the prefix easier to trace back to its figure when reading the markup.
    digest = hashlib.sha256(data + caption.encode("utf-8", "replace")).hexdigest()[:6]
    return f"f{digest}{uuid.uuid4().hex[:8]}-"


def _inline_svg(markup: str, prefix: str) -> str:
    """SVG markup ready to sit inside HTML: no prolog, no scripts, no outside links, ids prefixed."""
    markup = _PROLOG.sub("", markup, count=1)
    start = re.search(r"<svg\b", markup, re.I)
    if start is None:
        raise CostsimError("the SVG image has no <svg> element", field="image")
    markup = markup[start.start():]
    markup = _SCRIPT.sub("", markup)
    markup = _EVENT_ATTR.sub("", markup)

    ids = set(m.group(3) for m in _ID_ATTR.finditer(markup))
    markup = _ID_ATTR.sub(lambda m: f"{m.group(1)}{m.group(2)}{prefix}{m.group(3)}{m.group(2)}", markup)

    def href(m):
        value = m.group(3)
        if value.startswith("#"):
            target = value[1:]
            if target in ids:
                return f"{m.group(1)}{m.group(2)}#{prefix}{target}{m.group(2)}"
            return m.group(0)
        return ""  # a link out of the page (or a data URI we did not make): drop it

    markup = _HREF_ATTR.sub(href, markup)

    def url(m):
        target = m.group(2)
        if target in ids:
            return f"url({m.group(1)}#{prefix}{target}{m.group(1)})"
        return m.group(0)

    markup = _URL_REF.sub(url, markup)
    return markup.strip()


def image_html(data: bytes, fmt: str, caption: str, *, id_prefix: str | None = None) -> str:
    """A ``<figure>`` holding the image and its escaped ``<figcaption>``.

    ``fmt`` is "svg" (inlined as markup, every id and its url(#..)/href="#.." references prefixed so that
    several SVGs on one page cannot clash) or "png" (embedded as a base64 data: URI). The id prefix is
    unique per call; pass ``id_prefix`` for reproducible output.
    """
    kind = str(fmt).lower().lstrip(".")
    if kind not in IMAGE_FORMATS:
        raise CostsimError(f"unknown image format '{fmt}'; use one of {', '.join(IMAGE_FORMATS)}", field="image")
    caption = "" if caption is None else str(caption)
    if kind == "svg":
        markup = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else str(data)
        if id_prefix is None:
            raw = data if isinstance(data, (bytes, bytearray)) else markup.encode("utf-8")
            id_prefix = _svg_prefix(bytes(raw), caption)
        elif not re.fullmatch(r"[A-Za-z][\w.-]*", id_prefix):
            raise CostsimError(f"id prefix '{id_prefix}' is not a valid id start", field="image")
        body = _inline_svg(markup, id_prefix)
    else:
        if not bytes(data[:8]) == b"\x89PNG\r\n\x1a\n":
            raise CostsimError("the PNG image does not start with the PNG signature", field="image")
        encoded = base64.b64encode(bytes(data)).decode("ascii")
        body = f'<img src="data:image/png;base64,{encoded}" alt="{_e(caption)}">'
    parts = ["<figure>", body]
    if caption:
        parts.append(f"<figcaption>{_e(caption)}</figcaption>")
    parts.append("</figure>")
    return "\n".join(parts)


# --- the page --------------------------------------------------------------------------------------------

def _csv_href(csv_name: str) -> str:
    name = str(csv_name)
    if not name or "://" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z][\w+.-]*:", name):
        raise CostsimError(f"the CSV link must be a relative file name, not '{csv_name}'", field="csv_name")
    return _e(quote(name.replace("\\", "/"), safe="/._-~"))


def page(title: str, sections: list[tuple[str, str]], *, subtitle: str = "", notes: list[str] = (),
         csv_name: str | None = None, generated_by: str = "costsim") -> str:
    """A complete, self-contained HTML5 document.

    ``sections`` are (heading, fragment) pairs: the heading is escaped, the fragment is pre-rendered HTML
    (from ``table_html`` or ``image_html``) and goes in as it is. ``notes`` (the assumptions) are escaped
    into a list. ``csv_name`` adds the page's one link: a relative href to the CSV written beside it.
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{_e(generated_by)}">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
    ]
    if subtitle:
        out.append(f'<p class="subtitle">{_e(subtitle)}</p>')
    out.append("</header>")
    out.append("<main>")
    for heading, fragment in sections:
        out.append("<section>")
        if heading:
            out.append(f"<h2>{_e(heading)}</h2>")
        out.append(str(fragment))
        out.append("</section>")
    notes = [n for n in notes if n is not None and str(n).strip()]
    if notes:
        out += ["<section>", "<h2>Notes and assumptions</h2>", '<ul class="notes">']
        out += [f"<li>{_e(n)}</li>" for n in notes]
        out += ["</ul>", "</section>"]
    if csv_name is not None:
        out.append(f'<p class="csv">The numbers on this page are also in <a href="{_csv_href(csv_name)}">'
                   f"{_e(csv_name)}</a>, beside this file.</p>")
    out.append("</main>")
    if generated_by:
        out.append(f"<footer>Generated by {_e(generated_by)}.</footer>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
