"""Data read by default ships inside the package, identical to its source in the repository's shared/
folder, and ``--data`` / ``COSTSIM_DATA`` override it on every command that reads data."""
import ast

import pytest
from click.testing import CliRunner

from cli.main import main
from simulator.errors import CostsimError
from simulator.files.bundled import DATASETS, ENVIRONMENT_VARIABLE, bundled_folder, bundled_root, data_folder
from tests.conftest import ROOT, SHARED


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_bundled_file_is_a_copy_of_its_source_in_shared(name):
    if not SHARED.is_dir():
        pytest.skip("the repository's shared/ folder is not beside this checkout")
    ds = DATASETS[name]
    if ds.source is None:
        pytest.skip(f"{name} is compiled in this repository, not copied from shared/")
    for bundled, source in ds.files.items():
        assert (bundled_folder(name) / bundled).read_bytes() == (SHARED / source).read_bytes(), (
            f"simulator/data/{name}/{bundled} differs from shared/{source}: run scripts/bundle_data.py")


def test_every_bundled_file_is_declared_and_every_licence_travels_with_its_data():
    on_disk = {p.relative_to(bundled_root()).as_posix() for p in bundled_root().rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    declared = {f"{n}/{f}" for n, ds in DATASETS.items() for f in ds.files} | {"NOTICE.md", "examples/sweep-demo.yaml"}
    assert on_disk == declared
    for name in ("thompson", "hardware-history", "vtrain"):
        assert "LICENSE" in DATASETS[name].files
    assert "GNU GENERAL PUBLIC LICENSE" in (bundled_folder("hardware-history") / "LICENSE").read_text()


def test_the_package_data_patterns_take_every_bundled_file():
    # pyproject's package-data for simulator must match what lies in simulator/data (one folder deep)
    text = (ROOT / "pyproject.toml").read_text()
    assert 'simulator = ["data/*.md", "data/*/*"]' in text
    assert all(len(p.relative_to(bundled_root()).parts) <= 2 for p in bundled_root().rglob("*") if p.is_file())


def test_no_code_path_refers_to_the_shared_folder():
    """Strings in code (not comments or docstrings) never point at ../shared: only the bundled copies."""
    offenders = []
    for folder in ("simulator", "cli", "scripts", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                          if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                          and n.body and isinstance(n.body[0], ast.Expr)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                    if "shared/" in node.value or node.value == "shared":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    # exempt: the script that makes the bundled copies from shared/, and the H200 profile's provenance
    # (the files it was fitted on, written into its sources: a citation, not a path that is read)
    offenders = [o for o in offenders if not o.startswith("scripts/bundle_data.py")
                 and "{measurements,operators}" not in o]
    assert not offenders


def test_environment_variable_takes_either_layout(tmp_path):
    (tmp_path / "thompson").mkdir()
    assert data_folder("thompson", environment={ENVIRONMENT_VARIABLE: str(tmp_path)}) == tmp_path / "thompson"
    (tmp_path / "validation" / "vtrain").mkdir(parents=True)
    assert data_folder("vtrain", environment={ENVIRONMENT_VARIABLE: str(tmp_path)}) == tmp_path / "validation/vtrain"
    with pytest.raises(CostsimError, match="no folder 'h200' or 'calibration/h200'"):
        data_folder("h200", environment={ENVIRONMENT_VARIABLE: str(tmp_path)})
    assert data_folder("h200", environment={}) == bundled_folder("h200")
    assert data_folder("h200", tmp_path, environment={ENVIRONMENT_VARIABLE: "/nowhere"}) == tmp_path


def test_data_list_names_every_data_set_and_its_licence():
    result = run("data", "list")
    assert result.exit_code == 0, result.output
    for name, ds in DATASETS.items():
        assert f"{name}: {ds.title}" in result.output and ds.licence in result.output
    assert run("data", "path", "h200").output.strip() == str(bundled_folder("h200"))
    bad = run("data", "path", "imagenet")
    assert bad.exit_code == 2 and "unknown data set 'imagenet'; known: thompson" in bad.output


def _copy(name, to):
    to.mkdir(parents=True)
    for f in DATASETS[name].files:
        (to / f).write_bytes((bundled_folder(name) / f).read_bytes())
    return to


def test_environment_variable_is_read_by_the_commands(tmp_path):
    """COSTSIM_DATA pointing at a tree without the data makes each data command fail naming it; with a
    copy of the data it reads the copy."""
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {ENVIRONMENT_VARIABLE: str(empty)}
    for args in (("limits",), ("project", "--base", "h100-sxm", "--year", "2030"), ("validate", "--suite", "h200"),
                 ("validate", "--suite", "vtrain"), ("validate", "--suite", "compression"),
                 ("validate", "--suite", "history"), ("plot", "limits", "--out", tmp_path / "l.png")):
        result = run(*args, env=env)
        assert result.exit_code == 2 and f"{ENVIRONMENT_VARIABLE}={empty}: has no folder" in result.output, args
    full = tmp_path / "full"
    _copy("h200", full / "calibration" / "h200")  # the shared/ layout
    result = run("validate", "--suite", "h200", env={ENVIRONMENT_VARIABLE: str(full)})
    assert result.exit_code == 0 and str(full / "calibration" / "h200" / "measurements.jsonl") in result.output


def test_data_option_overrides_on_every_command_that_reads_data(tmp_path):
    thompson = _copy("thompson", tmp_path / "t")
    history = _copy("hardware-history", tmp_path / "hh")
    h200 = _copy("h200", tmp_path / "h")
    missing = tmp_path / "missing"
    for args, folder in ((("limits", "--benchmark", "imagenet"), thompson),
                         (("plot", "limits", "--out", tmp_path / "l.png"), thompson),
                         (("project", "--base", "h100-sxm", "--year", "2030"), history),
                         (("validate", "--suite", "h200"), h200),
                         (("validate", "--suite", "compression"), h200)):
        assert run(*args, "--data", folder).exit_code == 0, args
        bad = run(*args, "--data", missing)
        assert bad.exit_code == 2 and f"{missing}: data: no such file or folder" in bad.output, args


def test_data_option_also_takes_a_root_of_data_sets(tmp_path):
    """--data may name a root laid out like shared/ (or simulator/data/): project's --benchmark then
    reads Thompson et al.'s data from the same root as the hardware history."""
    root = tmp_path / "root"
    _copy("thompson", root / "data" / "thompson")
    _copy("hardware-history", root / "hardware-history")
    assert run("limits", "--benchmark", "imagenet", "--data", root).exit_code == 0
    args = ("project", "--base", "h100-sxm", "--benchmark", "imagenet", "--target", "0.2", "--budget", "1e6")
    assert run(*args, "--data", root).exit_code == 0
    (root / "data" / "thompson" / "image-classification-on-imagenet.csv").unlink()
    bad = run(*args, "--data", root)
    assert bad.exit_code == 2 and "image-classification-on-imagenet.csv: no such file" in bad.output
