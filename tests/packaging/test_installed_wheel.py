"""The installed tool works away from the checkout: build a wheel, install it (with its declared
dependencies) into a fresh virtual environment in a temporary folder where neither the checkout nor
the repository's shared/ folder is reachable, and run every data-backed command and bundled suite once.
Each must exit 0 with real output. This is the test of what a user gets from ``pip install .``."""
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

# what a wheel is built from: the package's folders and metadata, nothing else of the checkout
SOURCES = ("pyproject.toml", "README.md", "simulator", "cli", "hardware_profiles", "workloads")


def _clean_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COSTSIM_DATA", "VIRTUAL_ENV",
                                                           "PYTHONHOME", "MPLBACKEND")}
    env.update({"HOME": str(env.get("HOME", home)), "MPLCONFIGDIR": str(home / "mpl")})
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(costsim executable, python executable, working folder, environment) of a fresh install."""
    top = tmp_path_factory.mktemp("installed")
    src = top / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = top / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(dist), str(src)], check=True, cwd=top)
    wheel = next(dist.glob("costsim-*.whl"))
    env_dir = top / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    env = _clean_env(top)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                   check=True, cwd=top, env=env)
    work = top / "work"
    work.mkdir()
    return env_dir / "bin" / "costsim", python, work, env


def _run(installed, *args, timeout=600):
    costsim, _, work, env = installed
    result = subprocess.run([str(costsim), *map(str, args)], cwd=work, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"costsim {' '.join(map(str, args))}: {result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr and "nan" not in result.stdout.lower().split()
    return result.stdout


def test_the_installed_package_is_the_one_imported_and_has_its_data(installed):
    _, python, work, env = installed
    out = subprocess.run([str(python), "-c", "import simulator, simulator.files.bundled as b; "
                          "print(simulator.__file__); print(b.bundled_root())"],
                         cwd=work, env=env, capture_output=True, text=True, check=True)
    module, data = out.stdout.split()
    venv_dir = python.parent.parent
    assert Path(module).is_relative_to(venv_dir) and Path(data).is_relative_to(venv_dir)
    assert not Path(module).is_relative_to(ROOT)


def test_limits_project_and_plot_limits_read_the_bundled_data(installed):
    out = _run(installed, "limits", "--benchmark", "imagenet")
    assert "imagenet" in out.lower()
    out = _run(installed, "project", "--base", "h100-sxm", "--year", "2030")
    assert "2030" in out
    _, _, work, _ = installed
    assert _run(installed, "plot", "limits", "--out", "limits.png").strip().endswith("limits.png")
    assert (work / "limits.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("suite, expect", [
    ("h200", "4 of 4 runs estimated"),
    ("vtrain", "1549 of 1549 runs estimated"),
    ("compression", "fp8"),
    ("history", "of 10 runs predicted"),
])
def test_every_bundled_suite_runs(installed, suite, expect):
    out = _run(installed, "validate", "--suite", suite, "--show", "1")
    assert expect.lower() in out.lower(), out[-1500:]


def test_report_on_the_bundled_example(installed):
    _, _, work, _ = installed
    out = _run(installed, "report", "sweep-demo", "--out", "demo-report", "--quiet")
    page = work / "demo-report" / "index.html"
    assert page.is_file(), out
    text = page.read_text()
    assert "<svg" in text or "<img" in text


def test_calibrate_from_the_bundled_h200_files_reproduces_the_bundled_profile(installed):
    folder = Path(_run(installed, "data", "path", "h200").strip())
    _run(installed, "calibrate", "--from", folder / "measurements.jsonl", "--from", folder / "operators.jsonl",
         "--base", "h200", "--out", "my-h200.yaml")
    _, _, work, _ = installed
    out = _run(installed, "estimate", "-H", work / "my-h200.yaml", "-w", "gpt2-124m", "--json")
    assert '"step_time_s"' in out


def test_the_quick_start_compare_runs(installed):
    out = _run(installed, "compare", "--workload", "gpt2-124m")
    assert "h200" in out
