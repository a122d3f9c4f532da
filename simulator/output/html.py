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

from ..errors import CostsimError

IMAGE_FORMATS = ("svg", "png")

_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 78rem; padding: 1.25rem 1.25rem 3rem;
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
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
/* the answer: what to pick, the cost-time front and the best run per device, above the fold at 1280 px */
.summary { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 0 1.75rem;
           align-items: start; }
.summary > .answer { grid-column: 1 / span 2; grid-row: 1; }
.summary > .front { grid-column: 1; grid-row: 2; }
.summary > .per-device { grid-column: 2; grid-row: 2; }
.summary h2 { margin-top: .9rem; }
.summary table { width: 100%; margin-top: .2rem; font-size: .88rem; }
.summary th, .summary td { padding: .22rem .45rem; }
.summary td { overflow-wrap: anywhere; }
.summary td.num, .summary td.name, .summary td.goal { overflow-wrap: normal; }
.summary figure { margin-top: .9rem; }
@media (max-width: 62rem) {
  .summary { grid-template-columns: minmax(0, 1fr); }
  .summary > .answer, .summary > .front, .summary > .per-device { grid-column: 1; grid-row: auto; }
}
tbody th.group { background: #dde3ea; text-align: left; }
td.goal { font-weight: 600; }
td.name { white-space: nowrap; }
td.merged { font-style: italic; }
p.lead { margin: .2rem 0 .4rem; }
/* the full table: sorting and column choice by radio buttons and check boxes, no script */
.explorer .sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
                white-space: nowrap; }
.explorer fieldset { border: 0; padding: 0; margin: .3rem 0; display: flex; flex-wrap: wrap; gap: .3rem;
                     align-items: center; }
.explorer legend { float: left; font-weight: 600; margin-right: .4rem; padding: 0; }
.explorer label { border: 1px solid #d0d7de; border-radius: 1rem; padding: .05rem .6rem; cursor: pointer;
                  font-size: .88rem; user-select: none; background: #fff; color: #57606a; }
.explorer details { margin: .6rem 0; }
.explorer summary { cursor: pointer; font-weight: 600; }
.explorer tbody.view { display: none; }
@media print { .explorer fieldset { display: none; } }
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
    if isinstance(v, Cell):
        v = v.value
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
    if isinstance(v, Cell):
        v = v.value
    return v is None or (isinstance(v, str) and v.strip() in ("", "-", "—"))


class Cell:
    """A table cell with a CSS class (and an optional tooltip): ``Cell("world / france", "merged")``."""

    __slots__ = ("value", "cls", "title")

    def __init__(self, value, cls: str = "", title: str = ""):
        self.value, self.cls, self.title = value, cls, title

    def __str__(self) -> str:
        return _cell_text(self.value)


def _cell_text(v) -> str:
    if isinstance(v, Cell):
        return _cell_text(v.value)
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
    rows = _checked_rows(headers, rows)
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


def _checked_rows(headers: list[str], rows) -> list[list]:
    """The rows as lists, each as long as the header (a caller bug otherwise, named in one line)."""
    rows = [list(r) for r in rows]
    for n, r in enumerate(rows, 1):
        if len(r) != len(headers):
            raise CostsimError(f"row {n} has {len(r)} cells but the table has {len(headers)} columns",
                               field="table")
    return rows


def _td(v, classes: list[str], tag: str = "td") -> str:
    classes = classes + ([v.cls] if isinstance(v, Cell) and v.cls else [])
    cls = f' class="{_e(" ".join(classes))}"' if classes else ""
    title = f' title="{_e(v.title)}"' if isinstance(v, Cell) and v.title else ""
    return f"<{tag}{cls}{title}>{_e(_cell_text(v))}</{tag}>"


def grouped_table_html(headers: list[str], groups: list[tuple[str | None, list[list]]],
                       numeric_columns: set[int] | None = None) -> str:
    """One table whose rows come in groups, each under a full-width heading row (a group titled None has
    none); cells as in ``table_html``, or ``Cell`` for a cell with its own class."""
    headers = [str(h) for h in headers]
    every = _checked_rows(headers, [r for _, rows in groups for r in rows])
    numeric = _numeric_columns(headers, every) if numeric_columns is None else set(numeric_columns)

    def cls(i):
        return ["num"] if i in numeric else []

    out = ['<div class="table-wrap">', "<table>", "<thead>", "<tr>"]
    out += [_td(h, cls(i), "th").replace("<th", '<th scope="col"', 1) for i, h in enumerate(headers)]
    out += ["</tr>", "</thead>"]
    for title, rows in groups:
        out.append("<tbody>")
        if title is not None:
            out.append(f'<tr><th class="group" colspan="{len(headers)}" scope="rowgroup">{_e(title)}</th></tr>')
        for r in rows:
            out.append("<tr>" + "".join(_td(c, cls(i)) for i, c in enumerate(r)) + "</tr>")
        out.append("</tbody>")
    out += ["</table>", "</div>"]
    return "\n".join(out)


def _slug(text) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def explorer_html(columns: list[tuple[str, str, bool]], groups: list[tuple[str, dict[str, list[list]]]],
                  sorts: list[tuple[str, str]], *, note: str = "", open_groups: int = 1,
                  id_prefix: str = "t") -> tuple[str, str]:
    """The full table, sortable and with a choice of columns, without a script: (fragment, CSS for the head).

    ``columns``: (key, header, shown at first); ``sorts``: (key, label), the first chosen at first;
    ``groups``: (title, {sort key: rows in that order}), one ``<details>`` each (the first ``open_groups``
    open). Every ordering is in the page, in its own ``<tbody>``; a radio button per sort shows one of them
    and a check box per column hides or shows its cells, by CSS alone. Numeric columns are right-aligned.
    """
    if not sorts:
        raise CostsimError("the table needs at least one way to sort it", field="sorts")
    keys = [_slug(k) for k, _, _ in columns]
    p = _slug(id_prefix)
    every = [list(r) for _, views in groups for rows in views.values() for r in rows]
    for n, r in enumerate(every, 1):
        if len(r) != len(columns):
            raise CostsimError(f"row {n} has {len(r)} cells but the table has {len(columns)} columns",
                               field="table")
    numeric = _numeric_columns([h for _, h, _ in columns], every)
    css = [f".explorer #{p}-sort-{_slug(s)}:checked ~ .groups tbody.by-{_slug(s)} {{ display: table-row-group; }}"
           for s, _ in sorts]
    css += [f".explorer #{p}-col-{k}:not(:checked) ~ .groups .k-{k} {{ display: none; }}" for k in keys]
    chosen = [f"#{p}-sort-{_slug(s)}" for s, _ in sorts] + [f"#{p}-col-{k}" for k in keys]
    css.append(",\n".join(f".explorer {c}:checked ~ fieldset label[for={c[1:]}]" for c in chosen) +
               " { background: #0969da; border-color: #0969da; color: #fff; }")
    css.append(",\n".join(f".explorer {c}:focus-visible ~ fieldset label[for={c[1:]}]" for c in chosen) +
               " { outline: 2px solid #0969da; outline-offset: 1px; }")

    out = ['<div class="explorer">']
    for n, (s, label) in enumerate(sorts):
        out.append(f'<input class="sr" type="radio" name="{p}-sort" id="{p}-sort-{_slug(s)}"'
                   f'{" checked" if n == 0 else ""}>')
    for k, (_, _, shown) in zip(keys, columns):
        out.append(f'<input class="sr" type="checkbox" id="{p}-col-{k}"{" checked" if shown else ""}>')
    out.append('<fieldset class="sorts"><legend>Sort by</legend>' + "".join(
        f'<label for="{p}-sort-{_slug(s)}">{_e(label)}</label>' for s, label in sorts) + "</fieldset>")
    out.append('<fieldset class="columns"><legend>Columns</legend>' + "".join(
        f'<label for="{p}-col-{k}">{_e(h)}</label>' for k, (_, h, _) in zip(keys, columns)) + "</fieldset>")
    if note:
        out.append(f'<p class="lead">{_e(note)}</p>')
    out.append('<div class="groups">')
    for g, (title, views) in enumerate(groups):
        out.append(f'<details{" open" if g < open_groups else ""}><summary>{_e(title)}</summary>')
        out += ['<div class="table-wrap">', "<table>", "<thead>", "<tr>"]
        out += [_td(h, [f"k-{k}"] + (["num"] if i in numeric else []), "th").replace("<th", '<th scope="col"', 1)
                for i, (k, (_, h, _)) in enumerate(zip(keys, columns))]
        out += ["</tr>", "</thead>"]
        for s, _ in sorts:
            out.append(f'<tbody class="view by-{_slug(s)}">')
            for r in views.get(s, []):
                out.append("<tr>" + "".join(_td(c, [f"k-{k}"] + (["num"] if i in numeric else []))
                                            for i, (k, c) in enumerate(zip(keys, r))) + "</tr>")
            out.append("</tbody>")
        out += ["</table>", "</div>", "</details>"]
    out += ["</div>", "</div>"]
    return "\n".join(out), "\n".join(css)


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
         csv_name: str | None = None, generated_by: str = "costsim", css: str = "") -> str:
    """A complete, self-contained HTML5 document.

    ``sections`` are (heading, fragment) pairs: the heading is escaped, the fragment is pre-rendered HTML
    (from ``table_html`` or ``image_html``) and goes in as it is. ``notes`` (the assumptions) are escaped
    into a list. ``csv_name`` adds the page's one link: a relative href to the CSV written beside it. ``css``
    (from ``explorer_html``) is added to the page's style sheet. A section given as (heading, fragment, id)
    carries that id.
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{_e(generated_by)}">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{_CSS}\n{css}\n</style>" if css else f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{_e(title)}</h1>",
    ]
    if subtitle:
        out.append(f'<p class="subtitle">{_e(subtitle)}</p>')
    out.append("</header>")
    out.append("<main>")
    for heading, fragment, *rest in sections:
        out.append(f'<section id="{_e(rest[0])}">' if rest and rest[0] else "<section>")
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
