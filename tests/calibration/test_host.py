"""costsim calibrate --host: eager dispatch timed through PyTorch's CPU backend, written as a profile that
extends its base. The timing code runs here on a stand-in for torch's few calls (and on torch itself where
it is installed); without torch the command says so in one line."""
import sys
import types

import numpy as np
import pytest

from cli.main import main
from simulator import api
from simulator.files.loader import load_profile
from tests.conftest import cli_runner


class _Tensor:
    def __init__(self, values):
        self.v, self.grad = np.asarray(values, dtype=float), None

    def __mul__(self, x):
        return _Tensor(self.v * x)

    def __matmul__(self, other):
        return _Tensor(self.v @ other.v)

    def add_(self, x):
        self.v += x
        return self

    def backward(self):
        return None


def _stand_in():
    make = lambda fill: lambda *shape, requires_grad=False: _Tensor(np.full(shape, fill))  # noqa: E731
    optim = types.SimpleNamespace(AdamW=lambda params, foreach: types.SimpleNamespace(step=lambda: None))
    return types.SimpleNamespace(__version__="stand-in", set_num_threads=lambda n: None, zeros=make(0.0),
                                 ones=make(1.0), optim=optim)


def test_host_figures_become_a_profile_extending_the_base(tmp_path):
    text, records = api.calibrate_host(base="h200", name="this-host", torch=_stand_in())
    assert {r["kind"] for r in records} == {"launch_overhead", "host_dispatch"}
    assert all(r["seconds_per_call"] >= 0 for r in records)
    path = tmp_path / "this-host.yaml"
    path.write_text(text)
    p, h200 = load_profile(str(path)), load_profile("h200")
    tiny = next(r for r in records if r["kind"] == "launch_overhead" and "GEMM" not in r["what"])
    assert p.kernel_launch_overhead_s == pytest.approx(tiny["seconds_per_call"], rel=1e-5)
    assert p.matmul_dispatch_s is not None and p.efficiency == h200.efficiency  # only the host figures change
    assert any(s.status == "measured" and "matmul_dispatch_s" in s.fields for s in p.sources)


def test_on_torch_itself_where_it_is_installed():
    torch = pytest.importorskip("torch")
    records = api.calibrate_host(base="h200", name="this-host", torch=torch)[1]
    assert 0 < records[0]["seconds_per_call"] < 1e-3


def test_without_torch_one_line_and_status_2(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    out = tmp_path / "h.yaml"
    result = cli_runner().invoke(main, ["calibrate", "--host", "--out", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip() == ("costsim: error: --host: timing eager dispatch needs PyTorch (pip install torch); "
                                     "it is not installed")
    assert not out.exists()


def test_host_and_device_together_are_refused(tmp_path):
    result = cli_runner().invoke(main, ["calibrate", "--host", "--device", "cpu", "--out", str(tmp_path / "h.yaml")])
    assert result.exit_code == 2 and "give one of --device, --host or --from" in result.stderr
