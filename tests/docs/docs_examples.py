"""The examples of README.md and docs/*.md, as data: every fenced code block, what it is, and how to run it.

The conventions (also in docs/index.md, for whoever writes documentation):

- A block fenced as ```sh, ```bash, ```shell, ```console or with no language is a list of commands. Each
  logical line (``\\`` continues it; ``#`` starts a comment) must be a ``costsim`` or ``python`` command,
  with no pipes or redirections. Each runs in a fresh scratch folder that holds copies of ``hardware_profiles/``,
  ``workloads/`` (and ``examples/`` if there is one), links to ``scripts/``, ``benchmarks/`` and ``docs/``, and a
  ``../shared`` beside it; it must exit 0 (or the status an ``<!-- exit: N -->`` line right above the
  block gives), print no traceback and no NaN.
- A ```python block runs in a namespace shared with the page's earlier Python blocks, in order.
- A ```text block directly after a runnable block lists what the block's output must contain: each
  line, with runs of spaces taken as one, must appear in some output line; ``...`` in a line stands for
  anything in between on that line.
- ``<!-- file: NAME -->`` right above a block writes the block, as it stands, to NAME in the scratch
  folder of every later runnable block on the same page (an example profile, a CSV of measured runs).
- ``<!-- no-run: why -->`` right above a block says it is not run, and why (an install command, a
  GPU-only command, output shown for illustration).
- Any other block is an error: every block is either run, checked, written, or explicitly not run.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console"}
RUNNABLE_LANGUAGES = SHELL_LANGUAGES | {"python"}
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*(?P<key>no-run|file|exit)\s*:\s*(?P<value>.*?)\s*-->\s*$")


def doc_files() -> list[Path]:
    """README.md and every page under docs/, in a fixed order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass
class Block:
    """One fenced code block of a page.

    Attributes:
        page: the page's path relative to the repository root (``docs/clusters.md``).
        line: the line of the opening fence, counted from 1.
        lang: the fence's language, lower case ('' for none).
        text: the block's content, the fence's indentation removed.
        directives: ``no-run``, ``file`` and ``exit`` comments directly above the fence.
        expected: for a runnable block, the lines of the ```text block right after it.
        role: 'run', 'expected', 'file', 'no-run', or 'unmarked'.
    """

    page: str
    line: int
    lang: str
    text: str
    directives: dict[str, str] = field(default_factory=dict)
    expected: list[str] | None = None
    role: str = "unmarked"

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def parse_page(path: Path) -> list[Block]:
    """The fenced blocks of one Markdown page, with their roles assigned."""
    lines = path.read_text(encoding="utf-8").splitlines()
    page = path.relative_to(ROOT).as_posix()
    blocks: list[Block] = []
    between: list[str] = []  # the lines between the previous block's closing fence and this one's opening
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            between.append(lines[i])
            i += 1
            continue
        indent, fence, lang = len(m["indent"]), m["fence"], m["lang"].lower()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence[0] * len(fence))
                                      and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i].lstrip())
            i += 1
        if i >= len(lines):
            raise ValueError(f"{page}:{start}: the code block is never closed")
        i += 1
        blocks.append(_classify(Block(page, start, lang, "\n".join(body) + "\n"), between, blocks))
        between = []
    return blocks


def _classify(block: Block, between: list[str], earlier: list[Block]) -> Block:
    # directives: comment lines directly above the fence (blank lines allowed in between)
    for text in reversed(between):
        if not text.strip():
            continue
        d = _DIRECTIVE.match(text)
        if not d:
            break
        block.directives[d["key"]] = d["value"]
    if "no-run" in block.directives:
        if not block.directives["no-run"]:
            raise ValueError(f"{block.id}: <!-- no-run: --> needs a reason")
        block.role = "no-run"
    elif "file" in block.directives:
        block.role = "file"
    elif block.lang == "text" and earlier and earlier[-1].role == "run" and earlier[-1].expected is None \
            and all(not t.strip() for t in between):
        block.role = "expected"
        earlier[-1].expected = [t for t in block.text.splitlines() if t.strip()]
    elif block.lang in RUNNABLE_LANGUAGES:
        block.role = "run"
    return block


def all_blocks() -> list[Block]:
    return [b for path in doc_files() for b in parse_page(path)]


def shell_commands(block: Block) -> list[list[str]]:
    """The commands of a shell block as argument lists: continuations joined, comments removed.
    Raises ValueError for a line that is not a costsim or python command."""
    logical, pending = [], ""
    for raw in block.text.splitlines():
        text = raw.rstrip()
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        logical.append(pending + text)
        pending = ""
    if pending:
        logical.append(pending)
    commands = []
    for text in logical:
        if text.lstrip().startswith("$ "):
            text = text.lstrip()[2:]
        argv = shlex.split(text, comments=True)
        if not argv:
            continue
        if argv[0] not in ("costsim", "python", "python3"):
            raise ValueError(f"{block.id}: '{text.strip()}' is not a costsim or python command; "
                             "mark the block <!-- no-run: why --> if it is not meant to run")
        bad = [a for a in argv if a in ("|", "||", "&&", ";", ">", ">>", "<", "2>", "&")]
        if bad:
            raise ValueError(f"{block.id}: '{text.strip()}' uses shell syntax ({bad[0]}); write one "
                             "command per line")
        commands.append(argv)
    return commands


def _normalise(text: str) -> str:
    return " ".join(text.split())


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The expected lines that appear in no line of ``output`` (spaces collapsed; ``...`` = anything)."""
    out_lines = [_normalise(t) for t in output.splitlines()]
    missing = []
    for want in expected:
        parts = [_normalise(p) for p in want.split("...") if p.strip()]
        pattern = re.compile(".*".join(re.escape(p) for p in parts))
        if not any(pattern.search(o) for o in out_lines):
            missing.append(want)
    return missing


_NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def problems_in(output: str) -> list[str]:
    """What no example's output may contain: a traceback, or NaN."""
    found = []
    if "Traceback (most recent call last)" in output:
        found.append("a traceback")
    if _NAN.search(output):
        found.append("NaN ('" + _NAN.search(output).group(0) + "')")
    return found
