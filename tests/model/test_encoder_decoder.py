"""Encoder-decoders (T5): the two stacks' kernels, cross-attention, pipeline stages across the stacks,
activation memory, and the refusals. Calibrated on nothing: counts from the shapes."""
from __future__ import annotations

import pytest

from simulator.api import estimate
from simulator.cluster.stages import stage_keys, stage_pass_times
from simulator.files.loader import load_profile, load_workload
from simulator.model import activations, transformer
from simulator.model.ops import execution_precision
from simulator.model.step import expand
from simulator.schema.plan import Plan
from tests.cli.test_bad_input import error_line

T5 = load_workload("t5-11b")


def _ops(phase: str, w=T5, batch: float = 1.0):
    return expand(w, batch).phases[phase]


def test_each_stack_runs_on_its_own_tokens():
    """The encoder's attention is bidirectional on the inputs (S^2 pairs), the decoder's causal on the targets
    (St^2 / 2), the cross-attention every target against every input (St S); the cross-attention's keys and
    values are projected from the encoder's output (the inputs) in every decoder layer."""
    S, St, inner = T5.seq_len, T5.target_len, T5.heads * T5.head_dim
    fwd = _ops("forward")
    attn = sorted((op for op in fwd if op.name == "attn.flash_fwd"), key=lambda op: op.flops)
    assert [op.count for op in attn] == [24, 24]
    assert attn[0].flops == pytest.approx(St * St / 2 * 2 * 2 * inner)  # the decoder's
    assert attn[1].flops == pytest.approx(S * S * 2 * 2 * inner)  # the encoder's
    cross = next(op for op in fwd if op.name == "xattn.flash_fwd")
    assert cross.count == 24 and cross.flops == pytest.approx(St * S * 2 * 2 * inner)
    kv = next(op for op in fwd if op.name == "xattn.kv.fwd")
    assert kv.flops == pytest.approx(2 * S * T5.d_model * 2 * inner)
    head = next(op for op in fwd if op.name == "head.fwd")
    assert head.flops == pytest.approx(2 * St * T5.d_model * T5.vocab_size)  # the loss is on the targets


def test_relative_position_bias_is_read_by_self_attention_only():
    rel = {op.name: op for op in _ops("forward")}
    assert {"relpos.bias", "relpos.dec.bias"} <= set(rel)
    learned = T5.model_copy(update={"position": "learned"})
    S, St, h = T5.seq_len, T5.target_len, T5.heads
    a = execution_precision(T5.training.precision, T5.execution).act_bytes

    def attention_bytes(w):
        return sorted(op.bytes for op in _ops("forward", w) if op.name == "attn.flash_fwd")

    (dec, enc), (dec0, enc0) = attention_bytes(T5), attention_bytes(learned)
    assert enc - enc0 == pytest.approx(a * h * S * S) and dec - dec0 == pytest.approx(a * h * St * St)
    cross = [op.bytes for w in (T5, learned) for op in _ops("forward", w) if op.name == "xattn.flash_fwd"]
    assert cross[0] == cross[1]


def test_pipeline_stages_hold_the_encoder_then_the_decoder():
    plan = Plan(pp=4, dp=1)
    assert stage_keys(T5, plan) == [(12, True, False, 12), (12, False, False, 12), (12, False, False, 0),
                                    (12, False, True, 0)]
    mixed = stage_keys(T5, Plan(pp=5, dp=1))
    assert [k[3] for k in mixed] == [9, 10, 5, 0, 0]  # the third stage holds five encoder and five decoder layers
    whole = transformer.parameter_counts(T5)["total"]
    splits = [transformer.Split(layers=L, first=f, last=last, dense=n) for L, f, last, n in mixed]
    per_stage = sum(transformer.device_parameters(T5, s)["total"] for s in splits)
    assert per_stage == pytest.approx(whole + T5.vocab_size * T5.d_model)  # the last stage's copy of the tied head
    # a decoder layer (self- and cross-attention) holds more than an encoder layer
    enc, dec = (transformer.device_parameters(T5, transformer.Split(layers=1, first=False, last=False, dense=n))
                for n in (1, 0))
    assert dec["total"] - enc["total"] == pytest.approx(4 * T5.d_model * T5.heads * T5.head_dim + T5.d_model)


def test_a_decoder_stage_keeps_the_encoders_output_for_its_cross_attention():
    a = execution_precision(T5.training.precision, T5.execution).act_bytes
    dec = transformer.Split(layers=12, first=False, last=False, dense=0)
    enc = transformer.Split(layers=12, first=False, last=False, dense=12)
    full = dict(recompute="full")
    kept_dec = activations.activation_bytes(T5, 1.0, transformer.Split(**{**dec.__dict__, **full}), 2.0)["layers"]
    kept_enc = activations.activation_bytes(T5, 1.0, transformer.Split(**{**enc.__dict__, **full}), 2.0)["layers"]
    # full recompute: each layer's input per micro-batch in flight (the targets' or the inputs'), the encoder's
    # output once per micro-batch on a decoder stage, and one layer's tensors while it is recomputed
    s = execution_precision(T5.training.precision, T5.execution).stream_bytes
    working_dec = activations.activation_bytes(T5, 1.0, transformer.Split(**{**dec.__dict__, **full}), 0.0)["layers"]
    assert kept_dec - working_dec == pytest.approx(2 * (12 * s * T5.d_model * T5.target_len
                                                        + a * T5.d_model * T5.seq_len))
    working_enc = activations.activation_bytes(T5, 1.0, transformer.Split(**{**enc.__dict__, **full}), 0.0)["layers"]
    assert kept_enc - working_enc == pytest.approx(2 * 12 * s * T5.d_model * T5.seq_len)


def test_fused_stacks_pair_the_decoders_three_residuals_with_their_norms():
    fused = T5.model_copy(update={"execution": "torch-compile"})
    names = {op.name for op in _ops("forward", fused) + _ops("backward", fused)}
    assert {"residual1+lnx.fwd", "residualx+ln2.fwd", "residual2+ln1.fwd", "residualx+ln2.bwd"} <= names
    assert "residual1+ln2.fwd" in names  # the encoder's layers keep the one-stack pairing


def test_a_pipeline_that_gives_the_encoder_fewer_layers_per_stage_balances_t5():
    """An encoder layer on 512 inputs costs more than a decoder layer on 114 targets (fewer FLOPs, but its
    products are thin and read as many weights): an even split leaves the encoder's stages slowest, and
    the slowest stage paces the pipeline; fewer encoder layers per stage (Megatron's split rank) pace better."""
    profile = load_profile("h100-sxm")
    w = T5.model_copy(update={"execution": "megatron-core"})

    def passes(layers=None):
        return stage_pass_times(profile, w, Plan(tp=4, pp=4, dp=4, mb=4, layers_per_stage=layers), 4, 128)

    even = passes()
    assert min(even[:2]) > 1.2 * max(even[2:])
    assert max(passes((10, 10, 12, 16))) < 0.97 * max(even)
    e = estimate("h100-sxm", "t5-11b", devices=64, plan="tp=4,pp=4,dp=4,mb=4,layers_per_stage=10/10/12/16")
    assert sum(v.time_s for v in e.breakdown.values()) == pytest.approx(e.step_time_s, rel=1e-6)


@pytest.mark.parametrize("args,problem", [
    (["-w", "gpt2-124m", "--set", "target_len=100"], "target_len is for an encoder-decoder"),
    (["-w", "t5-11b", "--set", "encoder_layers=48"], "must leave decoder layers"),
    (["-w", "t5-11b", "--set", "experts=8"], "experts not with it"),
    (["-w", "t5-11b", "--set", "target_len=null"], "needs target_len"),
    (["-w", "t5-11b", "--devices", "16", "--plan", "tp=8,cp=2"], "cp 1"),
    (["-w", "t5-11b", "--devices", "64", "--plan", "tp=8,pp=4,vp=2,dp=2"], "interleaved or bidirectional"),
])
def test_what_an_encoder_decoder_cannot_be_is_refused_in_one_line(args, problem):
    line = error_line("estimate", "-H", "h100-sxm", *args)
    assert problem in line, line
