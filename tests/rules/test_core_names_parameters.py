"""The core names parameters, not command-line flags: an error from ``simulator`` says ``targets``, and
the command line alone shows it as ``--target``, through the one table ``cli.options.FLAGS``."""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import click
import pytest

import simulator
from cli.main import main
from cli.options import FLAGS, as_flag
from simulator import api
from simulator.run.sweep import SweepSpec

CORE = Path(simulator.__file__).parent
FLAG = re.compile(r"--[A-Za-z]")
# keywords whose value becomes an error's field (``prefix`` is from_validation's start of the field)
FIELD_KEYWORDS = ("field", "prefix")


def _flag_start(node) -> bool:
    """A string constant, or an f-string whose text begins, with a flag (``--x``)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(FLAG.match(node.value))
    if isinstance(node, ast.JoinedStr) and node.values:
        return _flag_start(node.values[0])
    if isinstance(node, ast.IfExp):
        return _flag_start(node.body) or _flag_start(node.orelse)
    return False


def _flag_fields(tree) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            lines += [k.value.lineno for k in node.keywords if k.arg in FIELD_KEYWORDS and _flag_start(k.value)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.posonlyargs + node.args.args
            defaults = list(zip(args[len(args) - len(node.args.defaults):], node.args.defaults))
            defaults += [(a, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None]
            lines += [d.lineno for a, d in defaults if a.arg in FIELD_KEYWORDS and _flag_start(d)]
    return sorted(lines)


def test_no_core_error_names_a_flag_as_its_field():
    found = [f"{path.relative_to(CORE.parent)}:{line}" for path in sorted(CORE.rglob("*.py"))
             for line in _flag_fields(ast.parse(path.read_text(), str(path)))]
    assert not found, f"the core names parameters, not flags (map them in cli.options.FLAGS): {found}"


def test_the_rule_sees_the_forms_it_forbids():
    code = ('CostsimError("x", field="--target")\nCostsimError("x", field=f"--strategy {t}")\n'
            'CostsimError.from_validation(e, prefix=f"--strategy {t}")\ndef f(field="--plot"): pass\n'
            'CostsimError("--set expects field=value", field="targets")\nCostsimError("x", field="plan.tp")\n')
    assert _flag_fields(ast.parse(code)) == [1, 2, 3, 4]


def _commands(cmd, path="costsim"):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}")


def _api_parameters() -> set[str]:
    """The parameters of simulator.api's calls, and the calls' own names (``plot``: the figure asked for)."""
    names = set()
    for name, fn in inspect.getmembers(api, callable):
        names.add(name)
        try:
            names |= set(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            continue
    return names | set(SweepSpec.model_fields)  # a sweep's axes: api.sweep takes them as keywords


def test_every_flag_in_the_table_is_a_real_option_of_a_parameter_of_that_name():
    options = {}  # what the command line calls it -> the click parameter names behind it
    for _, cmd in _commands(main):
        for p in cmd.params:
            for name in (p.opts if isinstance(p, click.Option) else [p.human_readable_name]):
                options.setdefault(name, set()).add(p.name)
    api_names = _api_parameters()
    for parameter, flag in FLAGS.items():
        assert flag in options, f"{parameter}: {flag} is no option of any costsim command"
        assert parameter in options[flag] | api_names, \
            f"{parameter} is neither the parameter behind {flag} ({options[flag]}) nor one of simulator.api's"


@pytest.mark.parametrize("field, shown", [
    ("strategy prune:2of4", "--strategy prune:2of4"),
    ("targets", "--target"),
    ("budget_usd", "--budget"),
    ("kind", "KIND"),
    ("plan.tp", "--plan: tp"),    # a part of what one flag gives
    ("--columns", "--columns"),   # the command line's own errors already name their flag
    (None, None),
])
def test_the_command_line_shows_a_parameter_as_its_flag(field, shown):
    assert as_flag(field) == shown


def test_a_flag_is_shown_only_where_the_command_has_it():
    assert as_flag("targets", main.commands["estimate"]) == "targets"  # estimate has no --target
    assert as_flag("targets", main.commands["plot"]) == "--target"


def test_the_python_api_is_told_the_parameter():
    with pytest.raises(simulator.errors.CostsimError) as err:
        api.limits(targets=(1.5,))
    assert err.value.field == "targets" and "--" not in str(err.value)
    with pytest.raises(simulator.errors.CostsimError) as err:
        api.strategies("h200", "gpt2-124m", ["nosuch"])
    assert err.value.field == "strategy" and "--" not in str(err.value)
