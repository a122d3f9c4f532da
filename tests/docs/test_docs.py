"""Every example in README.md and docs/*.md runs, and prints what the page says it prints.

One test per runnable block, named by its page and line (``docs/clusters.md:42``). The conventions are
in ``tests/docs/docs_examples.py`` and, for contributors, in docs/index.md.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.docs_examples import (
    ROOT,
    SHELL_LANGUAGES,
    all_blocks,
    doc_files,
    missing_lines,
    problems_in,
    shell_commands,
)

BLOCKS = all_blocks()
RUNNABLE = [b for b in BLOCKS if b.role == "run"]
COMMAND_TIMEOUT_S = 300
README_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && costsim compare --workload gpt2-124m",
    "python3 -m venv .venv && . .venv/bin/activate && pip install '.[test]' && python -m pytest -q",
)


def _shared_source() -> Path | None:
    """The repository's shared data folder, or None where this checkout has none."""
    shared = ROOT.parent / "shared"
    return shared if shared.is_dir() else None


def _bundled_as_shared(target: Path) -> None:
    """Without a shared folder, lay the bundled data sets out as ``shared/`` so that examples naming
    ``../shared/...`` read the same files."""
    try:
        from simulator.files.bundled import DATASETS, bundled_root
    except ImportError:
        return
    for ds in DATASETS.values():
        link = target / ds.source
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(bundled_root() / ds.name, target_is_directory=True)


def _scratch(tmp_path: Path, block) -> Path:
    """A working folder like the repository root, whose writes land in tmp_path."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("examples", "hardware_profiles", "workloads"):  # copied: examples may write into them
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("scripts", "benchmarks", "docs"):
        if (ROOT / name).is_dir():
            (work / name).symlink_to(ROOT / name, target_is_directory=True)
    shared = _shared_source()
    if shared is not None:
        (tmp_path / "shared").symlink_to(shared, target_is_directory=True)
    else:
        (tmp_path / "shared").mkdir()
        _bundled_as_shared(tmp_path / "shared")
    for earlier in BLOCKS:
        if earlier.page == block.page and earlier.line < block.line and earlier.role == "file":
            dest = work / earlier.directives["file"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(earlier.text, encoding="utf-8")
    return work


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["MPLBACKEND"] = "Agg"
    env.pop("COSTSIM_DATA", None)
    return env


def _argv(argv: list[str]) -> list[str]:
    if argv[0] == "costsim":
        return [sys.executable, "-m", "cli.main", *argv[1:]]
    return [sys.executable, *argv[1:]]


def _run_shell(block, work: Path) -> str:
    expected_status = int(block.directives.get("exit", "0"))
    outputs = []
    for argv in shell_commands(block):
        done = subprocess.run(_argv(argv), cwd=work, env=_environment(), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
        output = done.stdout + done.stderr
        shown = " ".join(argv)
        assert done.returncode == expected_status, \
            f"{block.id}: `{shown}` exited {done.returncode}, not {expected_status}:\n{output[-3000:]}"
        bad = problems_in(output)
        assert not bad, f"{block.id}: `{shown}` printed {', '.join(bad)}:\n{output[-3000:]}"
        outputs.append(output)
    return "\n".join(outputs)


def _run_python(block, work: Path, monkeypatch) -> str:
    monkeypatch.chdir(work)
    namespace: dict = {"__name__": "__docs__"}
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        for earlier in RUNNABLE:
            if earlier.page == block.page and earlier.lang == "python" and earlier.line <= block.line:
                code = compile(earlier.text, f"{earlier.id}", "exec")
                if earlier is block:
                    captured.seek(0)
                    captured.truncate()
                exec(code, namespace)  # noqa: S102 - the documentation's own example
    output = captured.getvalue()
    bad = problems_in(output)
    assert not bad, f"{block.id}: printed {', '.join(bad)}:\n{output[-3000:]}"
    return output


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_example_runs(block, tmp_path, monkeypatch):
    work = _scratch(tmp_path, block)
    if block.lang in SHELL_LANGUAGES:
        output = _run_shell(block, work)
    else:
        output = _run_python(block, work, monkeypatch)
    if block.expected:
        missing = missing_lines(block.expected, output)
        assert not missing, (f"{block.id}: the output lacks what the page says it prints:\n  "
                             + "\n  ".join(missing) + f"\n--- output ---\n{output[-4000:]}")


def test_every_block_is_run_checked_written_or_marked():
    unmarked = [f"{b.id} (```{b.lang or 'no language'})" for b in BLOCKS if b.role == "unmarked"]
    assert not unmarked, ("blocks that are neither run, expected output, a file, nor marked "
                          "<!-- no-run: why -->: " + ", ".join(unmarked))


def test_shell_blocks_hold_only_commands():
    for b in RUNNABLE:
        if b.lang in SHELL_LANGUAGES:
            assert shell_commands(b), f"{b.id}: a shell block without a command"


def test_readme_is_a_short_front_page_with_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) < 10_000
    for command in README_COMMANDS:
        assert any(b.page == "README.md" and b.text.strip() == command for b in BLOCKS), command


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert README_COMMANDS[1] in ci.splitlines()


_LINK = re.compile(r"\]\((?!https?://|mailto:)(?P<target>[^)#\s]*)(?:#(?P<anchor>[^)\s]*))?\)")


def _anchors(page: Path) -> set[str]:
    """The heading anchors of a Markdown page, as GitHub makes them."""
    anchors, fenced = set(), False
    for text in page.read_text(encoding="utf-8").splitlines():
        if text.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and text.startswith("#"):
            title = text.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("page", doc_files(), ids=[p.relative_to(ROOT).as_posix() for p in doc_files()])
def test_relative_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for m in _LINK.finditer(text):
        target = (page.parent / m["target"]) if m["target"] else page
        if not target.exists():
            broken.append(m["target"])
        elif m["anchor"] and target.suffix == ".md" and m["anchor"] not in _anchors(target):
            broken.append(f"{m['target']}#{m['anchor']}")
    assert not broken, f"{page.relative_to(ROOT)}: links to missing files or headings: {broken}"


def test_every_docs_page_is_linked_from_the_index():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"({page.name})" in index, f"docs/index.md does not link {page.name}"
