"""``--workload hf:PATH/config.json``: a Hugging Face config read as a workload. The configs are written
here (their published fields); nothing is downloaded."""
from __future__ import annotations

import json

import pytest

from simulator.files.loader import load_workload
from simulator.model.memory import parameter_count
from tests.cli.test_bad_input import error_line

TRAIN = ["global_batch_size=64", "tokens=1e9"]
LLAMA_8B = {"architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
            "bos_token_id": 128000, "eos_token_id": 128001, "hidden_act": "silu", "hidden_size": 4096,
            "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192,
            "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
            "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 500000.0,
            "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.40.0.dev0",
            "use_cache": True, "vocab_size": 128256}
MIXTRAL = {"architectures": ["MixtralForCausalLM"], "hidden_act": "silu", "hidden_size": 4096,
           "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mixtral",
           "num_attention_heads": 32, "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8,
           "num_local_experts": 8, "rms_norm_eps": 1e-05, "rope_theta": 1e6, "router_aux_loss_coef": 0.02,
           "sliding_window": None, "tie_word_embeddings": False, "vocab_size": 32000}
DEEPSEEK_V3 = {"architectures": ["DeepseekV3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
               "aux_loss_alpha": 0.001, "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1,
               "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168, "initializer_range": 0.02,
               "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
               "model_type": "deepseek_v3", "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8,
               "n_routed_experts": 256, "n_shared_experts": 1, "norm_topk_prob": True, "num_attention_heads": 128,
               "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 128,
               "num_nextn_predict_layers": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
               "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                       "weight_block_size": [128, 128]},
               "rms_norm_eps": 1e-06, "rope_scaling": {"factor": 40, "type": "yarn"}, "rope_theta": 10000,
               "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": True, "tie_word_embeddings": False,
               "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16", "use_cache": True,
               "v_head_dim": 128, "vocab_size": 129280}
BERT_LARGE = {"architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1,
              "gradient_checkpointing": False, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 1024,
              "initializer_range": 0.02, "intermediate_size": 4096, "layer_norm_eps": 1e-12,
              "max_position_embeddings": 512, "model_type": "bert", "num_attention_heads": 16,
              "num_hidden_layers": 24, "pad_token_id": 0, "position_embedding_type": "absolute",
              "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": True, "vocab_size": 30522}
GPT2 = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
        "embd_pdrop": 0.1, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
        "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
        "vocab_size": 50257}


def _write(tmp_path, config: dict, folder: str = "model") -> str:
    path = tmp_path / folder / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return f"hf:{path}"


def test_a_llama_config_is_the_bundled_llama(tmp_path):
    w = load_workload(_write(tmp_path, LLAMA_8B, "llama-3-8b"), TRAIN)
    bundled = load_workload("llama-3-8b")
    assert w.name == "llama-3-8b"
    for field in ("layers", "d_model", "heads", "kv_heads", "d_ff", "vocab_size", "seq_len", "mlp", "norm",
                  "position", "tied_embeddings"):
        assert getattr(w, field) == getattr(bundled, field), field
    assert parameter_count(w) == parameter_count(bundled)
    assert "read attention_bias, hidden_act, hidden_size" in w.description and "left out" in w.description


def test_mixtral_and_gpt2_configs(tmp_path):
    mixtral = load_workload(_write(tmp_path, MIXTRAL, "mixtral"), TRAIN)
    assert (mixtral.experts, mixtral.experts_per_token) == (8, 2)
    assert parameter_count(mixtral) == pytest.approx(46_702_792_704, rel=0.005)
    gpt2 = load_workload(_write(tmp_path, GPT2, "gpt2"), TRAIN)
    assert parameter_count(gpt2) == pytest.approx(124_439_808, rel=0.005)  # GPT-2 small, as transformers counts it
    assert gpt2.tied_embeddings and gpt2.position == "learned"


@pytest.mark.parametrize("change,problem", [
    ({"model_type": "deepseek_v2"}, "multi-head latent attention"),
    ({"model_type": "qwen2_moe"}, "shared-expert gating"),
    ({"model_type": "falcon"}, "unknown architecture 'falcon'"),
    ({"hidden_act": "relu"}, "hidden_act: 'relu'"),
    ({"num_experts": 60}, "num_experts: a field costsim cannot honour"),
    ({"model_type": None}, "unknown architecture None"),
])
def test_what_a_config_cannot_say_is_refused_in_one_line(tmp_path, change, problem):
    ref = _write(tmp_path, {**LLAMA_8B, **change})
    line = error_line("estimate", "-H", "h100-sxm", "-w", ref, *[a for s in TRAIN for a in ("--set", s)])
    assert "config.json" in line and problem in line, line


def test_a_config_needs_its_training_and_a_file(tmp_path):
    ref = _write(tmp_path, LLAMA_8B)
    line = error_line("estimate", "-H", "h100-sxm", "-w", ref)
    assert "gives the model, not its training" in line and "global_batch_size" in line
    assert "nothing is downloaded" in error_line("estimate", "-H", "h100-sxm", "-w", "hf:no/such/config.json")
    bad = tmp_path / "bad" / "config.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    assert "not JSON" in error_line("estimate", "-H", "h100-sxm", "-w", f"hf:{bad}")


def test_a_bad_value_is_named_as_the_config_names_it(tmp_path):
    ref = _write(tmp_path, {**LLAMA_8B, "num_key_value_heads": 0})
    line = error_line("estimate", "-H", "h100-sxm", "-w", ref, *[a for s in TRAIN for a in ("--set", s)])
    assert "kv_heads (num_key_value_heads in the config)" in line


def test_a_deepseek_v3_config_is_the_bundled_deepseek_v3(tmp_path):
    w = load_workload(_write(tmp_path, DEEPSEEK_V3, "deepseek-v3"), TRAIN + ["seq_len=4096"])
    bundled = load_workload("deepseek-v3")
    for field in ("layers", "d_model", "heads", "d_ff", "moe_d_ff", "experts", "experts_per_token", "shared_experts",
                  "dense_layers", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                  "vocab_size", "mtp_layers", "linear_bias", "mlp", "norm", "position", "tied_embeddings"):
        assert getattr(w, field) == getattr(bundled, field), field
    assert parameter_count(w) == parameter_count(bundled)
    assert "left out" in w.description and "routed_scaling_factor" in w.description


def test_a_deepseek_config_with_sparse_moe_layers_is_refused(tmp_path):
    line = error_line("estimate", "-H", "h100-sxm", "-w", _write(tmp_path, {**DEEPSEEK_V3, "moe_layer_freq": 2}),
                      *[x for s in TRAIN for x in ("--set", s)])
    assert "moe_layer_freq" in line and "every layer a mixture" in line


def test_a_sliding_window_is_read_and_narrows_attention(tmp_path):
    mistral = {k: v for k, v in LLAMA_8B.items() if k != "attention_bias"}
    mistral.update(model_type="mistral", sliding_window=4096, max_position_embeddings=32768)
    w = load_workload(_write(tmp_path, mistral, "mistral"), TRAIN + ["seq_len=16384"])
    assert w.sliding_window == 4096
    from simulator.model.step import expand
    full = w.model_copy(update={"sliding_window": None})
    flops = lambda x: next(op.flops for op in expand(x, 1.0).phases["forward"] if op.name == "attn.flash_fwd")  # noqa: E731
    S, W = 16384, 4096
    assert flops(w) / flops(full) == pytest.approx((S * W - W * W / 2) / (S * S / 2))


def test_a_bert_config_is_the_bundled_bert_large(tmp_path):
    w = load_workload(_write(tmp_path, BERT_LARGE, "bert-large"), TRAIN)
    bundled = load_workload("bert-large")
    for field in ("layers", "d_model", "heads", "vocab_size", "seq_len", "token_types", "causal", "objective",
                  "pooler", "embedding_norm", "final_norm", "tied_embeddings"):
        assert getattr(w, field) == getattr(bundled, field), field
    assert parameter_count(w) == parameter_count(bundled) == 336_226_108
    assert w.prediction_fraction == 1.0  # Hugging Face's head runs on every position; the bundled one gathers 15%
    line = error_line("estimate", "-H", "h100-sxm", "-w",
                      _write(tmp_path, {**BERT_LARGE, "position_embedding_type": "relative_key"}, "rel"),
                      *[x for s in TRAIN for x in ("--set", s)])
    assert "position_embedding_type" in line and "absolute" in line


def test_a_vit_config_is_the_bundled_vit(tmp_path):
    vit = {"architectures": ["ViTForImageClassification"], "attention_probs_dropout_prob": 0.0, "encoder_stride": 16,
           "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": 1280, "image_size": 224,
           "initializer_range": 0.02, "intermediate_size": 5120, "layer_norm_eps": 1e-12, "model_type": "vit",
           "num_attention_heads": 16, "num_channels": 3, "num_hidden_layers": 32, "patch_size": 14, "qkv_bias": True,
           "id2label": {str(i): f"class {i}" for i in range(1000)}}
    w = load_workload(_write(tmp_path, vit, "vit-h-14"), TRAIN)
    bundled = load_workload("vit-h-14")
    for field in ("layers", "d_model", "heads", "d_ff", "image_size", "patch_size", "channels", "classes", "seq_len",
                  "causal", "objective"):
        assert getattr(w, field) == getattr(bundled, field), field
    assert parameter_count(w) == parameter_count(bundled)


T5_11B = {"architectures": ["T5WithLMHeadModel"], "d_ff": 65536, "d_kv": 128, "d_model": 1024,
          "decoder_start_token_id": 0, "dropout_rate": 0.1, "eos_token_id": 1, "initializer_factor": 1.0,
          "is_encoder_decoder": True, "layer_norm_epsilon": 1e-06, "model_type": "t5", "n_positions": 512,
          "num_heads": 128, "num_layers": 24, "output_past": True, "pad_token_id": 0,
          "relative_attention_num_buckets": 32, "vocab_size": 32128}


def test_a_t5_config_is_the_bundled_t5_11b(tmp_path):
    w = load_workload(_write(tmp_path, T5_11B, "t5-11b"), TRAIN)
    bundled = load_workload("t5-11b")
    for field in ("layers", "encoder_layers", "d_model", "heads", "head_dim", "d_ff", "vocab_size", "seq_len",
                  "target_len", "mlp", "norm", "position", "relative_buckets", "tied_embeddings", "linear_bias"):
        assert getattr(w, field) == getattr(bundled, field), field
    assert parameter_count(w) == parameter_count(bundled) == 11_307_321_344
    assert "target_len 114" in w.description and "dropout_rate" in w.description


def test_t5_v1_1_configs_and_their_refusals(tmp_path):
    v11 = {**T5_11B, "feed_forward_proj": "gated-gelu", "num_decoder_layers": 12, "tie_word_embeddings": False,
           "n_positions": 1024}
    w = load_workload(_write(tmp_path, v11, "t5-v1_1"), TRAIN)
    assert (w.mlp, w.layers, w.encoder_layers, w.tied_embeddings) == ("geglu", 36, 24, False)
    assert w.target_len == 229  # span corruption's targets for 1,024 inputs
    for change, problem in (({"feed_forward_proj": "gated-silu"}, "feed_forward_proj: 'gated-silu'"),
                            ({"is_encoder_decoder": False}, "is_encoder_decoder"),
                            ({"use_cache": True, "relative_attention_bucket_size": 3}, "relative_attention_bucket")):
        ref = _write(tmp_path, {**T5_11B, **change}, "bad-" + next(iter(change)))
        line = error_line("estimate", "-H", "h100-sxm", "-w", ref, *[a for s in TRAIN for a in ("--set", s)])
        assert "config.json" in line and problem in line, line
