"""Today's decoders: gated MLPs (SwiGLU, GeGLU), squared ReLU, grouped-query and multi-query attention,
RMSNorm and rotary positions, as the bundled Llama 3 and Mixtral workloads use them.

Tested on: the published parameter counts (the models' Hugging Face configs, as their papers give the
shapes) within 0.5%, and the FLOPs per token against a count made here from the shapes alone."""
from __future__ import annotations

import pytest

from simulator.api import estimate
from simulator.errors import CostsimError
from simulator.files.loader import load_workload
from simulator.model import activations, transformer
from simulator.model.memory import parameter_count
from simulator.model.step import expand
from tests.cli.test_bad_input import error_line

PUBLISHED = {"llama-3-8b": 8_030_261_248, "llama-3-70b": 70_553_706_496, "llama-3.1-405b": 405_853_388_800,
             "mixtral-8x7b": 46_702_792_704, "gpt3-175b": 175e9, "bloom-176b": 176_247_271_424,
             "bert-large": 336_226_108,  # BertForPreTraining: the encoder, pooler, MLM transform and NSP head
             "vit-h-14": 632e6,  # ViT-Huge, Table 1 of the ViT paper (with a 1,000-class head)
             "deepseek-v3": 671e9,  # the report's 671B (its checkpoint's 685B adds the 14B multi-token module)
             "t5-11b": 11_307_321_344}  # T5ForConditionalGeneration of t5-11b's config (the paper's "11B")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_the_bundled_models_have_their_published_parameter_counts(name):
    w = load_workload(name)
    main = parameter_count(w) - transformer.parameter_counts(w)["mtp"]  # the multi-token modules apart
    assert main == pytest.approx(PUBLISHED[name], rel=0.005)


def test_deepseek_v3_with_its_prediction_module_is_its_checkpoints_685b():
    """The checkpoint holds the 671B main model and a 14B module: one MoE block, the 2d x d projection,
    three norms, and its own copies of the embedding and the head (shared in training)."""
    w = load_workload("deepseek-v3")
    copies = 2 * w.vocab_size * w.d_model
    assert parameter_count(w) + copies == pytest.approx(685e9, rel=0.005)
    assert transformer.parameter_counts(w)["mtp"] + copies == pytest.approx(14e9, rel=0.05)
    ops = transformer.step_ops(w, 1.0)
    assert {"mtp.proj.fwd", "mtp.head.fwd", "mtp.mlp.up.fwd"} <= {op.name for op in ops["forward"]}
    assert any(op.name.startswith("mtp.loss") for op in ops["loss"])


def _independent_flops_per_token(w) -> float:
    """Forward and backward matrix FLOPs per token from the shapes: 6 x the active matrix weights (the
    attention projections, latent attention's down and up projections among them; the k experts' and
    the shared experts' two or three MLP matrices, the router; a mixture's dense first layers' MLP; the
    head; each multi-token module's block, projection and head), and causal attention: QK^T over the
    queries' width and PV over the output's, forward S (q + o) / 2 x 2, flash attention's backward 2.5x
    the forward."""
    d, L, H = w.d_model, w.layers, w.heads
    mats = 3 if w.mlp in ("swiglu", "geglu") else 2
    if w.encoder_layers:  # T5, per input token: the encoder on the inputs; the decoder's blocks and head on the
        # targets, its cross-attention's keys and values on the inputs; bidirectional, causal and cross attention
        S, St, inner = w.seq_len, w.target_len, H * w.head_width
        Le, Ld = w.encoder_layers, L - w.encoder_layers
        block = 4 * d * inner + mats * d * w.ffn_dim
        weights = Le * block * S + Ld * (block + 2 * d * inner) * St + Ld * 2 * d * inner * S + w.vocab_size * d * St
        pairs = Le * S * S + Ld * St * St / 2 + Ld * St * S
        return (6 * weights + 3.5 * 2 * 2 * inner * pairs) / S
    if w.kv_lora_rank:
        qk, v = H * (w.qk_nope_head_dim + w.qk_rope_head_dim), H * w.v_head_dim
        q_proj = d * w.q_lora_rank + w.q_lora_rank * qk if w.q_lora_rank else d * qk
        attention = (q_proj + d * (w.kv_lora_rank + w.qk_rope_head_dim)
                     + w.kv_lora_rank * H * (w.qk_nope_head_dim + w.v_head_dim) + v * d)
        q_width, o_width = qk, v
    else:
        kv = (w.kv_heads or H) * d // H
        attention, q_width, o_width = d * (d + 2 * kv) + d * d, d, d
    moe_f = w.moe_d_ff or w.ffn_dim
    if w.experts > 1:
        moe = mats * d * moe_f * (w.experts_per_token + w.shared_experts) + d * w.experts
        mlp = (L - w.dense_layers) * moe + w.dense_layers * mats * d * w.ffn_dim
    else:
        mlp = L * mats * d * w.ffn_dim
    attention_flops = 3.5 * (L + w.mtp_layers) * w.seq_len * (q_width + o_width) * (1 if w.causal else 2)
    if w.patch_size:  # patches projected (no gradient into the pixels: 4 FLOPs a weight), one class token classified
        S, pixels = w.seq_len, w.channels * w.patch_size ** 2
        return 6 * (L * attention + mlp + d * w.classes / S) + 4 * pixels * d * (S - 1) / S + attention_flops
    active = L * attention + mlp + w.vocab_size * d * w.prediction_fraction
    if w.objective == "masked":  # BERT: the transform on the predicted positions; the pooler and NSP per sequence
        active += d * d * w.prediction_fraction + (d * d + 2 * d) / w.seq_len * w.pooler
    if w.mtp_layers:  # each prediction module: one more MoE block, the 2d -> d projection, the head again
        active += w.mtp_layers * (attention + moe + 2 * d * d + w.vocab_size * d)
    return 6 * active + 3.5 * (L + w.mtp_layers) * w.seq_len * (q_width + o_width) * (1 if w.causal else 2)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_flops_per_token_match_a_count_from_the_shapes(name):
    w = load_workload(name)
    per_token = expand(w, 1.0).model_flops_per_pass / w.seq_len
    assert per_token == pytest.approx(_independent_flops_per_token(w), rel=1e-9)


def test_mixtral_is_active_on_about_13b_of_its_47b():
    w = load_workload("mixtral-8x7b")
    d, f = w.d_model, w.ffn_dim
    experts = w.layers * 3 * d * f * w.experts
    active = parameter_count(w) - experts * (w.experts - w.experts_per_token) / w.experts
    assert active == pytest.approx(12.9e9, rel=0.01)  # the paper's 13B active (12.9B in its text)


def _variant(**changes):
    return load_workload("gpt-1.3b").model_copy(update=changes)


def test_grouped_query_attention_shrinks_kv_projections_traffic_and_memory():
    mha, gqa = _variant(), _variant(kv_heads=4)
    assert gqa.kv_dim == 4 * 128 and mha.kv_dim == 2048
    p_mha, p_gqa = transformer.parameter_counts(mha)["total"], transformer.parameter_counts(gqa)["total"]
    assert p_mha - p_gqa == pytest.approx(24 * 2 * (2048 - 512) * 2048, rel=1e-3)  # k and v projections
    e_mha, e_gqa = expand(mha, 1.0), expand(gqa, 1.0)
    flash = {op.name: op for op in e_gqa.phases["forward"]}["attn.flash_fwd"]
    assert flash.flops == {op.name: op for op in e_mha.phases["forward"]}["attn.flash_fwd"].flops  # same scores
    assert flash.bytes < {op.name: op for op in e_mha.phases["forward"]}["attn.flash_fwd"].bytes
    assert (activations.activation_bytes(gqa, 1.0)["layers"] < activations.activation_bytes(mha, 1.0)["layers"])


def test_a_gated_mlp_has_three_matrices_and_runs_one_fused_up_projection():
    gelu, swiglu = _variant(d_ff=8192, ffn_mult=None), _variant(d_ff=8192, ffn_mult=None, mlp="swiglu")
    extra = transformer.parameter_counts(swiglu)["total"] - transformer.parameter_counts(gelu)["total"]
    assert extra == pytest.approx(24 * 2048 * 8192, rel=1e-3)
    up = {op.name: op for op in expand(swiglu, 1.0).phases["forward"]}["mlp.up.fwd"]
    assert up.flops == pytest.approx(2 * 2048 * 2048 * 2 * 8192)  # d -> 2 d_ff, one product
    names = {op.name for op in expand(swiglu, 1.0).phases["forward"]}
    assert "mlp.swiglu" in names and "mlp.gelu" not in names


def test_rope_and_rmsnorm_drop_their_parameters_and_rope_adds_its_rotation():
    base, modern = _variant(), _variant(position="rope", norm="rmsnorm")
    gone = transformer.parameter_counts(base)["total"] - transformer.parameter_counts(modern)["total"]
    assert gone == pytest.approx(2048 * 2048 + 24 * 2 * 2048 + 2048)  # positions, the norms' biases
    assert "rope.fwd" in {op.name for op in expand(modern, 1.0).phases["forward"]}


def test_a_llama_step_estimates_with_tensor_parallelism_over_whole_kv_heads():
    e = estimate("h100-sxm", "llama-3-70b", devices=64, plan="tp=8,pp=8,dp=1,mb=1,zero=1,sp,recompute=full",
                 sets=["global_batch_size=64"])
    assert 0.2 < e.mfu_fraction < 0.6
    with pytest.raises(CostsimError, match=r"kv_heads \(8\) not divisible by tp \(16\)"):
        estimate("h100-sxm", "llama-3-70b", devices=256, plan="tp=16,pp=16,dp=1,mb=1", sets=["global_batch_size=64"])


@pytest.mark.parametrize("sets,problem", [
    (["kv_heads=5"], "kv_heads .5. must divide heads .16."),
    (["kv_heads=32"], "kv_heads .32. must divide heads"),
    (["mlp=swish"], "mlp"),
    (["norm=batchnorm"], "norm"),
])
def test_bad_model_options_are_one_line(sets, problem):
    import re
    line = error_line("estimate", "-H", "h100-sxm", "-w", "gpt-1.3b", *[a for s in sets for a in ("--set", s)])
    assert re.search(problem, line), line


QWEN_MOE = """name: qwen1.5-moe-a2.7b
kind: transformer
layers: 24
d_model: 2048
heads: 16
vocab_size: 151936
seq_len: 8192
d_ff: 5632
moe_d_ff: 1408
experts: 60
experts_per_token: 4
shared_experts: 4
mlp: swiglu
norm: rmsnorm
position: rope
tied_embeddings: false
training: {global_batch_size: 64, tokens: 1.0e9, precision: bf16_mixed, optimizer: adamw}
"""


def test_shared_experts_and_narrow_experts_give_a_published_moe_its_counts(tmp_path):
    """Qwen1.5-MoE-A2.7B (Qwen team 2024, config.json: 60 experts of 1,408, top-4, a shared expert of
    5,632 = 4 x 1,408): 14.3B parameters, 2.7B active."""
    path = tmp_path / "qwen-moe.yaml"
    path.write_text(QWEN_MOE)
    w = load_workload(str(path))
    assert w.expert_dim == 1408
    total = parameter_count(w)
    assert total == pytest.approx(14.3e9, rel=0.01)
    routed = w.layers * 3 * 2048 * 1408 * 60
    assert total - routed * (60 - 4) / 60 == pytest.approx(2.7e9, rel=0.02)
    names = {op.name for op in expand(w, 1.0).phases["forward"]}
    assert {"mlp.shared.up.fwd", "mlp.shared.swiglu", "mlp.shared.down.fwd"} <= names


def test_the_busiest_expert_sets_the_pace(tmp_path):
    path = tmp_path / "qwen-moe.yaml"
    path.write_text(QWEN_MOE)
    even = estimate("h100-sxm", str(path), devices=8, plan="tp=1,pp=1,dp=8,ep=4,mb=1,zero=3,recompute=full")
    skewed = estimate("h100-sxm", str(path), devices=8, plan="tp=1,pp=1,dp=8,ep=4,mb=1,zero=3,recompute=full",
                      sets=["expert_imbalance=1.5"])
    assert skewed.step_time_s > even.step_time_s
    assert skewed.model_flops_per_step == pytest.approx(even.model_flops_per_step)  # the useful work: balanced
    assert skewed.executed_flops_per_step > even.executed_flops_per_step  # the busiest device's, as it runs
    assert skewed.mfu_fraction < even.mfu_fraction
    line = error_line("estimate", "-H", "h100-sxm", "-w", "gpt-1.3b", "--set", "shared_experts=1")
    assert "for a mixture of experts" in line and "shared_experts" in line


def test_deepseek_v3_is_active_on_37b_of_its_671b():
    """DeepSeek-V3 Technical Report: 37B activated per token (256 routed experts of 2,048, 8 active, one
    shared; the first 3 of 61 layers dense)."""
    w = load_workload("deepseek-v3")
    routed = (w.layers - w.dense_layers) * 3 * w.d_model * w.moe_d_ff * w.experts
    main = parameter_count(w) - transformer.parameter_counts(w)["mtp"]
    active = main - routed * (w.experts - w.experts_per_token) / w.experts
    assert active == pytest.approx(37e9, rel=0.03)
    names = {op.name for op in expand(w, 1.0).phases["forward"]}
    assert {"mla.q_down.fwd", "mla.kv_up.fwd", "mlp.dense.up.fwd", "mlp.shared.up.fwd", "moe.router.fwd"} <= names


def test_latent_attention_needs_all_its_widths():
    line = error_line("estimate", "-H", "h100-sxm", "-w", "deepseek-v3", "--set", "v_head_dim=null")
    assert "needs all of kv_lora_rank" in line
    line = error_line("estimate", "-H", "h100-sxm", "-w", "deepseek-v3", "--set", "kv_heads=8")
    assert "latent attention" in line


def test_dense_first_layers_fall_in_the_first_stages():
    from simulator.cluster.stages import stage_keys
    from simulator.schema.plan import Plan
    keys = stage_keys(load_workload("deepseek-v3"), Plan(pp=16))
    assert [k[3] for k in keys] == [3] + [0] * 15  # 61 layers over 16 stages: 3, 4, ..., 4; the first 3 dense
    assert sum(k[0] for k in keys) == 61


def test_alibi_positions_have_no_parameters_and_no_kernels():
    """BLOOM's ALiBi: a bias added to the scores inside the attention kernel; no embedding, no rotation."""
    w = load_workload("bloom-176b").model_copy(update={"layers": 2})
    learned = w.model_copy(update={"position": "learned"})
    assert parameter_count(learned) - parameter_count(w) == w.seq_len * w.d_model
    names = {op.name for op in expand(w, 1.0).phases["forward"]}
    assert not any(n.startswith("rope") for n in names)
    assert expand(w, 1.0).model_flops_per_pass == expand(learned, 1.0).model_flops_per_pass


def test_an_encoder_attends_both_ways_and_predicts_only_its_masked_tokens():
    """BERT-large: bidirectional attention scores S^2 pairs (a decoder S^2 / 2); the tied head and the loss
    run on the 15% of positions gathered; the pooler and next-sentence head on one token per sequence."""
    bert = load_workload("bert-large").model_copy(update={"layers": 2})
    decoder = bert.model_copy(update={"causal": True, "objective": "next_token", "prediction_fraction": 1.0,
                                      "pooler": False})
    fwd = {op.name: op for op in expand(bert, 1.0).phases["forward"]}
    dec = {op.name: op for op in expand(decoder, 1.0).phases["forward"]}
    assert fwd["attn.flash_fwd"].flops == pytest.approx(2 * dec["attn.flash_fwd"].flops)
    assert fwd["head.fwd"].flops == pytest.approx(0.15 * dec["head.fwd"].flops)
    assert {"mlm.transform.fwd", "mlm.gelu", "pooler.fwd", "nsp.fwd", "embedding.token_type", "ln_emb.fwd"} <= set(fwd)
    assert "ln_f.fwd" not in fwd  # post-LN: no final norm
    assert activations.activation_bytes(bert, 1.0)["logits"] < activations.activation_bytes(decoder, 1.0)["logits"]


@pytest.mark.parametrize("sets,problem", [(["prediction_fraction=0.15"], "for the masked objective"),
                                          (["causal=false", "sliding_window=128"], "causal attention only"),
                                          (["objective=masked", "mtp_layers=1"], "objective must be next_token")])
def test_encoder_options_that_do_not_go_together_are_refused(sets, problem):
    line = error_line("estimate", "-H", "h100-sxm", "-w", "gpt2-124m", *[x for s in sets for x in ("--set", s)])
    assert problem in line


def test_a_vision_transformer_projects_patches_and_classifies_its_class_token():
    """ViT-H/14: 256 patches of 14 x 14 x 3 pixels and a class token; no vocabulary; the classifier on one
    token per image."""
    w = load_workload("vit-h-14").model_copy(update={"layers": 2})
    assert w.seq_len == 257 and w.vocab_size is None
    fwd = {op.name: op for op in expand(w, 1.0).phases["forward"]}
    assert fwd["patch.proj.fwd"].flops == pytest.approx(2 * 256 * 588 * 1280)
    assert fwd["head.fwd"].flops == pytest.approx(2 * 1 * 1280 * 1000)
    assert "embedding.lookup" not in fwd
    assert not any(op.name == "patch.proj.dgrad" for op in expand(w, 1.0).phases["backward"])


@pytest.mark.parametrize("sets,problem", [(["seq_len=256"], "patches and the class token: 257"),
                                          (["patch_size=15"], "must divide image_size"),
                                          (["vocab_size=1000"], "has no vocab_size"),
                                          (["causal=true"], "modelled as ViT")])
def test_a_vision_transformer_that_does_not_add_up_is_refused(sets, problem):
    line = error_line("estimate", "-H", "h100-sxm", "-w", "vit-h-14", *[x for s in sets for x in ("--set", s)])
    assert problem in line
