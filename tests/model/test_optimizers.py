"""Optimizers' states and step kernels: Adafactor (Shazeer and Stern 2018) keeps no per-parameter state and
streams 32 bytes per parameter; the numpy MLP runs only the optimizers its harness implements."""
import pytest

from simulator import api
from simulator.errors import CostsimError
from simulator.files.loader import load_workload
from simulator.model.ops import OPTIMIZER_BYTES_PER_PARAM, optimizer_ops


def test_adafactor_drops_the_adam_states_from_memory_and_streams_its_passes():
    adam = api.estimate("h200", "gpt2-124m", sets=["optimizer=adamw"])
    fact = api.estimate("h200", "gpt2-124m", sets=["optimizer=adafactor"])
    states = adam.memory_breakdown["optimizer_states_bytes"]
    assert fact.memory_breakdown["optimizer_states_bytes"] == 0
    assert states == pytest.approx(8 * 124475904, rel=1e-6)  # AdamW's m and v in fp32
    (op,) = optimizer_ops(1e6, "adafactor")
    assert op.bytes == OPTIMIZER_BYTES_PER_PARAM["adafactor"] * 1e6 == 32e6
    assert fact.breakdown["optimizer"].time_s > adam.breakdown["optimizer"].time_s  # 32 bytes against 28


def test_the_numpy_mlp_refuses_adafactor():
    mlp = {"name": "m", "kind": "mlp", "input_dim": 8, "hidden_dims": [8], "classes": 2,
           "training": {"global_batch_size": 4, "steps": 1, "precision": "fp32", "optimizer": "adafactor"}}
    with pytest.raises(CostsimError, match="numpy mlp runs sgd"):
        load_workload(mlp)
