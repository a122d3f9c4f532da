"""Execution stacks (model/stacks.py, model/fusion.py): each rule does what it says to the named kernels,
no stack changes the model's arithmetic, the docs list the table as the code has it, and a stack the
device cannot run is refused."""
import pytest

from simulator import api
from simulator.errors import CostsimError
from simulator.files.loader import load_profile, load_workload
from simulator.model import activations, transformer
from simulator.model.ops import MATRIX_CLASSES
from simulator.model.stacks import RULES, STACKS
from simulator.model.step import host_dispatch_s
from simulator.schema.hardware import CNN_ONLY_STACKS
from tests.conftest import ROOT

ORDER = list(STACKS)


def _wl(name="gpt2-124m", **update):
    w = load_workload(name)
    return w.model_copy(update=update)


def _ops(w, split=transformer.WHOLE):
    phases = transformer.step_ops(w, 2.0, split=split)
    return [op for ops in phases.values() for op in ops]


def _names(ops):
    return {op.name for op in ops}


def test_every_rule_has_a_source_and_every_stack_names_known_rules():
    for rule in RULES.values():
        assert rule.what and rule.source and rule.url.startswith("https://")
    for stack in STACKS.values():
        assert set(stack.rules) <= set(RULES)
    assert ("eager_dispatch" in STACKS["pytorch-eager"].rules) and "compiled_step" in STACKS["xla"].rules


def test_the_docs_list_the_rules_as_the_code_has_them():
    text = (ROOT / "docs" / "stacks.md").read_text()
    for name, rule in RULES.items():
        row = f"| `{name}` | {rule.what} | " + " | ".join("yes" if name in STACKS[s].rules else "" for s in ORDER)
        assert " ".join(row.split()) in " ".join(text.split()), name
        assert rule.url in text, name


@pytest.mark.parametrize("stack", [s for s in ORDER if s not in CNN_ONLY_STACKS])  # those run CNNs only
def test_no_stack_changes_the_model_arithmetic(stack):
    base = _ops(_wl(execution="pytorch-eager"))
    ops = _ops(_wl(execution=stack))
    flops = lambda o: sum(op.flops * op.count for op in o if op.op_class in MATRIX_CLASSES)  # noqa: E731
    assert flops(ops) == pytest.approx(flops(base), rel=1e-12)
    moved = lambda o: sum(op.bytes * op.count for op in o if op.op_class not in MATRIX_CLASSES)  # noqa: E731
    assert moved(ops) <= moved(base)  # fusion only removes traffic outside the matrix products


def test_fused_bias_grad_and_bias_free_linears_have_no_bias_kernels():
    assert any(n.endswith(".bias_grad") for n in _names(_ops(_wl(execution="megatron"))))
    assert not any(n.endswith(".bias_grad") for n in _names(_ops(_wl(execution="megatron-core"))))
    llama = load_workload("llama-3-8b").model_copy(update={"layers": 2, "seq_len": 256})
    assert not any(n.endswith(".bias_grad") for n in _names(_ops(llama)))
    qkv_only = {n for n in _names(_ops(llama.model_copy(update={"linear_bias": "qkv"}))) if n.endswith(".bias_grad")}
    assert qkv_only == {"qkv.bias_grad"}


def test_parameter_counts_follow_the_biases():
    llama = load_workload("llama-3-8b")
    plain = transformer.parameter_counts(llama)["total"]
    biased = transformer.parameter_counts(llama.model_copy(update={"linear_bias": "all"}))["total"]
    q, k, v, o = llama.attention_dims()
    per_layer = (q + k + v) + llama.d_model + 2 * llama.ffn_dim + llama.d_model  # qkv, proj, gate+up, down
    assert biased - plain == llama.layers * per_layer
    assert plain == 8_030_261_248  # meta-llama/Meta-Llama-3-8B, exactly


def test_fused_cross_entropy_reads_the_low_precision_logits_once_each_way():
    w = _wl(execution="megatron-core")
    loss = transformer.step_ops(w, 2.0)["loss"]
    assert [op.name for op in loss] == ["loss.fused_fwd", "loss.fused_bwd"]
    n = 2.0 * w.seq_len * w.vocab_size
    assert sum(op.bytes for op in loss) == pytest.approx(3 * 2 * n)  # bf16: read, read, write
    assert activations.activation_bytes(w, 2.0)["logits"] == pytest.approx(2 * n)  # the bf16 logits only
    eager = activations.activation_bytes(_wl(execution="pytorch-eager"), 2.0)["logits"]
    assert eager == pytest.approx((2 + 4 + 4) * n)  # bf16, their fp32 copy and the fp32 log-probabilities


def test_pointwise_fusion_merges_each_residual_add_into_its_norm():
    eager = _ops(_wl(execution="megatron"))
    fused = _ops(_wl(execution="torch-compile"))
    assert "residual1.add" in _names(eager) and "residual1.add" not in _names(fused)
    assert {"residual1+ln2.fwd", "residual2+ln1.fwd", "residual1+ln2.bwd", "residual2+ln1.bwd"} <= _names(fused)
    assert "attn.out_transpose" not in _names(fused)


def test_xla_runs_the_activation_in_the_products_epilogues():
    ops = _ops(_wl(execution="xla"))
    assert not any(n.startswith("mlp.gelu") for n in _names(ops))
    up = next(op for op in ops if op.name == "mlp.up.fwd")
    plain = next(op for op in _ops(_wl(execution="torch-compile")) if op.name == "mlp.up.fwd")
    assert up.out_bytes == pytest.approx(2 * plain.out_bytes)  # the activation and its pre-activation stored


def test_gradient_accumulation_fusion_drops_the_gradient_cast_and_accumulates_in_fp32():
    core = _ops(_wl(execution="megatron-core"))
    assert "weights.grad_cast_bwd" not in _names(core)
    assert "weights.grad_cast_bwd" in _names(_ops(_wl(execution="megatron")))
    wgrad = next(op for op in core if op.name == "mlp.up.wgrad")
    assert wgrad.out_bytes == pytest.approx(4 * 768 * 3072)  # fp32 main_grad


def test_weights_are_cast_once_per_step_after_the_optimizer():
    phases = transformer.step_ops(_wl(execution="megatron"), 2.0)
    assert "weights.cast_fwd" in _names(phases["optimizer"]) and "weights.cast_fwd" not in _names(phases["forward"])
    assert "optimizer.grad_norm" in _names(phases["optimizer"])
    eager = transformer.step_ops(_wl(execution="pytorch-eager"), 2.0)
    assert "weights.cast_fwd" in _names(eager["forward"])


def test_fp8_norms_write_the_next_products_input():
    w = _wl(execution="megatron-core", training=load_workload("gpt2-124m").training.model_copy(
        update={"precision": "fp8_mixed"}))
    names = _names(_ops(w))
    assert "qkv.fp8_cast_input" not in names and "mlp.up.fp8_cast_input" not in names
    assert "proj.fp8_cast_input" in names  # attention's output is no norm's


def test_host_dispatch_per_kind_and_none_when_compiled():
    h200 = load_profile("h200")
    arrays = transformer.step_ops(_wl(), 2.0)
    from simulator.model.step import expand
    a = expand(_wl(execution="pytorch-eager"), 2.0).arrays
    matmul = sum(a.class_static[i][2] for i, c in enumerate(("gemm", "sparse_gemm", "attention", "attention_backward",
                                                                 "conv", "elementwise", "normalization", "loss",
                                                                 "embedding", "optimizer")) if c in ("gemm",
                                                                                                     "sparse_gemm"))
    total = sum(st[2] for st in a.class_static)
    assert host_dispatch_s(a.class_static, h200, "pytorch-eager") == pytest.approx(
        matmul * h200.matmul_dispatch_s + (total - matmul) * h200.kernel_launch_overhead_s)
    assert host_dispatch_s(a.class_static, h200, "xla") == 0.0
    assert arrays  # the expansion ran


def test_a_small_eager_step_waits_on_the_host_and_a_compiled_one_does_not():
    eager = api.estimate("h200", "gpt2-124m", sets=["global_batch_size=2"])
    compiled = api.estimate("h200", "gpt2-124m", sets=["global_batch_size=2", "execution=torch-compile"])
    assert eager.breakdown["launch_overhead"].time_s > 0.3 * eager.step_time_s
    assert compiled.breakdown["launch_overhead"].time_s == 0.0
    assert compiled.step_time_s < eager.step_time_s


def test_stack_overlaps_hide_their_communication():
    plan = "tp=8,pp=2,dp=1,mb=1,sp"
    sets = ["layers=8", "global_batch_size=8", "tokens=1e7"]
    core = api.estimate("h100-sxm", "llama-3-8b", devices=16, plan=plan, sets=sets + ["execution=megatron-core"])
    xla = api.estimate("h100-sxm", "llama-3-8b", devices=16, plan=plan, sets=sets + ["execution=xla"])
    assert xla.breakdown["communication"].time_s < 0.2 * core.breakdown["communication"].time_s  # collective matmuls


def test_the_device_sets_the_default_stack():
    tpu = api.estimate("tpu-v5p", "gpt2-124m")
    assert any("execution as xla" in a for a in tpu.assumptions)
    gpu = api.estimate("h200", "gpt2-124m")
    assert any("execution as pytorch-eager" in a for a in gpu.assumptions)


@pytest.mark.parametrize("hardware,sets,field,words", [
    ("xeon-8480", ["execution=xla"], "execution", "does not run xla"),
    ("tpu-v5p", ["execution=megatron-core"], "execution", "its stacks are xla"),
    ("a100-sxm-80gb", ["execution=megatron-core", "precision=fp8_mixed"], "training.precision", "fp8 matrix units"),
])
def test_a_stack_the_device_cannot_run_is_refused(hardware, sets, field, words):
    with pytest.raises(CostsimError) as err:
        api.estimate(hardware, "gpt2-124m", sets=sets)
    assert err.value.field == field and words in err.value.problem


def test_the_old_framework_field_says_it_was_renamed(tmp_path):
    path = tmp_path / "old.yaml"
    text = (ROOT / "workloads" / "gpt2-124m.yaml").read_text() + "\nframework: megatron\n"
    path.write_text(text)
    with pytest.raises(CostsimError) as err:
        load_workload(str(path))
    assert "renamed to execution" in str(err.value)


def test_cuda_graphs_keep_eager_kernels_and_drop_only_the_host_dispatch():
    sets = ["global_batch_size=1", "seq_len=256"]  # a step of short kernels: eager waits on the host
    eager = api.estimate("h100-sxm", "gpt2-124m", sets=sets + ["execution=pytorch-eager"])
    graphs = api.estimate("h100-sxm", "gpt2-124m", sets=sets + ["execution=pytorch-cuda-graphs"])
    for cls in ("gemm", "elementwise", "normalization"):  # the same kernels, priced alike
        assert graphs.breakdown[cls].time_s == pytest.approx(eager.breakdown[cls].time_s, rel=1e-12)
    assert graphs.step_time_s < 0.8 * eager.step_time_s
    assert any("no operator is dispatched by the host" in a for a in graphs.assumptions)
