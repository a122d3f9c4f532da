"""A Hugging Face ``config.json`` read as a workload (``--workload hf:PATH/config.json``).

Nothing is downloaded: the file is a local one. Each architecture's fields are mapped by name; the
workload's description lists every field read, and every field left out because it does not change
what a training step costs (dropout, initialiser ranges, token ids). An architecture costsim does not
model, or a field it cannot honour (a sliding attention window shorter than the sequence, an
attention variant it lacks), is refused in one line naming the file and the field. A config gives the
model, not its training: give the training block with ``--set global_batch_size=N --set tokens=T``
(precision bf16_mixed and AdamW unless set).
"""
from __future__ import annotations

import json

from ..errors import CostsimError

# fields that do not change the cost of a training step
_IGNORED = {"architectures", "model_type", "torch_dtype", "transformers_version", "bos_token_id", "eos_token_id",
            "pad_token_id", "initializer_range", "attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop",
            "attn_pdrop", "summary_activation", "summary_first_dropout", "summary_proj_to_labels", "summary_type",
            "summary_use_proj", "task_specific_params", "use_cache", "rms_norm_eps", "layer_norm_epsilon",
            "layer_norm_eps", "rope_theta", "rope_scaling", "rotary_emb_base",
            "pretraining_tp", "head_dim", "router_aux_loss_coef", "output_router_logits", "router_jitter_noise",
            "scale_attn_weights", "reorder_and_upcast_attn", "scale_attn_by_inverse_layer_idx", "n_ctx",
            "use_parallel_residual", "rotary_pct", "classifier_dropout", "tie_encoder_decoder", "max_window_layers",
            "use_sliding_window", "sliding_window", "qkv_bias", "bias", "name_or_path", "_name_or_path"}
_LLAMA = {"hidden_size": "d_model", "num_hidden_layers": "layers", "num_attention_heads": "heads",
          "num_key_value_heads": "kv_heads", "intermediate_size": "d_ff", "vocab_size": "vocab_size",
          "max_position_embeddings": "seq_len", "tie_word_embeddings": "tied_embeddings"}
ARCHITECTURES = {
    "llama": (_LLAMA, {"mlp": "swiglu", "norm": "rmsnorm", "position": "rope", "tied_embeddings": False,
                       "linear_bias": "none"}),
    "mistral": (_LLAMA, {"mlp": "swiglu", "norm": "rmsnorm", "position": "rope", "tied_embeddings": False,
                         "linear_bias": "none"}),
    "qwen2": (_LLAMA, {"mlp": "swiglu", "norm": "rmsnorm", "position": "rope", "tied_embeddings": False,
                       "linear_bias": "qkv"}),
    "mixtral": ({**_LLAMA, "num_local_experts": "experts", "num_experts_per_tok": "experts_per_token"},
                {"mlp": "swiglu", "norm": "rmsnorm", "position": "rope", "tied_embeddings": False,
                 "linear_bias": "none"}),
    "gpt2": ({"n_embd": "d_model", "n_layer": "layers", "n_head": "heads", "n_inner": "d_ff",
              "vocab_size": "vocab_size", "n_positions": "seq_len", "tie_word_embeddings": "tied_embeddings"},
             {"mlp": "gelu", "norm": "layernorm", "position": "learned", "tied_embeddings": True}),
    "gpt_neox": ({"hidden_size": "d_model", "num_hidden_layers": "layers", "num_attention_heads": "heads",
                  "intermediate_size": "d_ff", "vocab_size": "vocab_size", "max_position_embeddings": "seq_len",
                  "tie_word_embeddings": "tied_embeddings"},
                 {"mlp": "gelu", "norm": "layernorm", "position": "rope", "tied_embeddings": False}),
    "deepseek_v3": ({"hidden_size": "d_model", "num_hidden_layers": "layers", "num_attention_heads": "heads",
                     "intermediate_size": "d_ff", "moe_intermediate_size": "moe_d_ff", "n_routed_experts": "experts",
                     "num_experts_per_tok": "experts_per_token", "n_shared_experts": "shared_experts",
                     "first_k_dense_replace": "dense_layers", "q_lora_rank": "q_lora_rank",
                     "kv_lora_rank": "kv_lora_rank", "qk_nope_head_dim": "qk_nope_head_dim",
                     "qk_rope_head_dim": "qk_rope_head_dim", "v_head_dim": "v_head_dim", "vocab_size": "vocab_size",
                     "max_position_embeddings": "seq_len", "tie_word_embeddings": "tied_embeddings",
                     "num_nextn_predict_layers": "mtp_layers"},
                    {"mlp": "swiglu", "norm": "rmsnorm", "position": "rope", "tied_embeddings": False,
                     "linear_bias": "none"}),
    "bert": ({"hidden_size": "d_model", "num_hidden_layers": "layers", "num_attention_heads": "heads",
              "intermediate_size": "d_ff", "vocab_size": "vocab_size", "max_position_embeddings": "seq_len",
              "type_vocab_size": "token_types", "tie_word_embeddings": "tied_embeddings"},
             {"mlp": "gelu", "norm": "layernorm", "position": "learned", "tied_embeddings": True, "causal": False,
              "objective": "masked", "pooler": True, "embedding_norm": True, "final_norm": False}),
    "vit": ({"hidden_size": "d_model", "num_hidden_layers": "layers", "num_attention_heads": "heads",
             "intermediate_size": "d_ff", "image_size": "image_size", "patch_size": "patch_size",
             "num_channels": "channels"},
            {"mlp": "gelu", "norm": "layernorm", "position": "learned", "tied_embeddings": False, "causal": False,
             "objective": "classify"}),
    "t5": ({"d_model": "d_model", "d_ff": "d_ff", "d_kv": "head_dim", "num_heads": "heads", "vocab_size": "vocab_size",
            "num_layers": "encoder_layers", "n_positions": "seq_len", "tie_word_embeddings": "tied_embeddings",
            "relative_attention_num_buckets": "relative_buckets"},
           {"norm": "rmsnorm", "position": "relative", "tied_embeddings": True, "linear_bias": "none"}),
}
# T5's fields that do not change a step's cost here: dropout, initialisation, the bias's largest distance
# (buckets are what it costs), the activation's names beside feed_forward_proj, generation settings
_T5_IGNORED = {"dropout_rate", "initializer_factor", "decoder_start_token_id", "output_past",
               "relative_attention_max_distance", "dense_act_fn", "is_gated_act"}
_T5_MLP = {"relu": "relu", "gelu": "gelu", "gated-gelu": "geglu"}
# ViT's fields that do not change a step's cost here (its labels are read as the classifier's classes)
_VIT_IGNORED = {"attention_probs_dropout_prob", "hidden_dropout_prob", "encoder_stride", "label2id"}
# BERT's fields that do not change a step's cost here (dropouts, checkpointing as a flag)
_BERT_IGNORED = {"attention_probs_dropout_prob", "hidden_dropout_prob", "gradient_checkpointing",
                 "position_embedding_type"}
# DeepSeek-V3's fields that do not change a training step's cost here: its routing's grouping and scaling
# (the experts visited per token are what cost), its auxiliary loss, the fp8 checkpoint's quantisation
_DEEPSEEK_IGNORED = {"n_group", "topk_group", "topk_method", "routed_scaling_factor", "scoring_func",
                     "norm_topk_prob", "aux_loss_alpha", "seq_aux", "ep_size", "quantization_config",
                     "num_key_value_heads"}
# each architecture's own fields that do not change a step's cost here
_ARCH_IGNORED = {"deepseek_v3": _DEEPSEEK_IGNORED, "bert": _BERT_IGNORED, "vit": _VIT_IGNORED, "t5": _T5_IGNORED}
# architectures people ask for that need what costsim does not model yet (issue 15)
_NOT_YET = {"deepseek_v2": "multi-head latent attention with its own routing",
            "qwen2_moe": "shared-expert gating of its own"}
_ACTIVATIONS = {"llama": ("silu",), "mistral": ("silu",), "qwen2": ("silu",), "mixtral": ("silu",),
                "deepseek_v3": ("silu",), "bert": ("gelu",), "vit": ("gelu",),
                "gpt2": ("gelu_new", "gelu", "gelu_pytorch_tanh"), "gpt_neox": ("gelu", "gelu_new", "gelu_fast")}


def hf_workload(text: str, source: str, name: str) -> dict:
    """The workload fields of a Hugging Face ``config.json``'s ``text`` read from ``source`` (see the module
    docstring); ``name`` names the workload (its folder's name)."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise CostsimError(f"not JSON: {err.msg} at line {err.lineno}", source=source) from None
    if not isinstance(config, dict):
        raise CostsimError("expected a JSON object of fields (a Hugging Face config.json)", source=source)
    arch = config.get("model_type")
    if arch in _NOT_YET:
        raise CostsimError(f"'{arch}' is {_NOT_YET[arch]}, which costsim does not model yet", source=source,
                           field="model_type")
    if arch not in ARCHITECTURES:
        raise CostsimError(f"unknown architecture {arch!r}: known {', '.join(ARCHITECTURES)}", source=source,
                           field="model_type")
    names, fixed = ARCHITECTURES[arch]
    data: dict = {"name": name or str(arch), "kind": "transformer", **fixed}
    read = []
    for key, value in config.items():
        if key in names and value is not None:
            data[names[key]] = value
            read.append(key)
        elif key in ("hidden_act", "activation_function"):
            if value not in _ACTIVATIONS[arch]:
                raise CostsimError(f"{value!r}: a {arch} MLP here is {' or '.join(_ACTIVATIONS[arch])}",
                                   source=source, field=key)
            read.append(key)
        elif key in ("attention_bias", "mlp_bias") and arch == "llama":  # Llama's optional biases
            read.append(key)
        elif arch == "deepseek_v3" and key in ("moe_layer_freq", "attention_bias"):
            if value not in (1, False):
                modelled = "every layer a mixture (1)" if key == "moe_layer_freq" else "no biases (false)"
                raise CostsimError(f"{value!r}: only {modelled} is modelled for deepseek_v3", source=source, field=key)
            read.append(key)
        elif arch == "vit" and key in ("id2label", "qkv_bias"):
            if key == "qkv_bias" and value is not True:
                raise CostsimError(f"{value!r}: a ViT's q, k, v projections have biases here", source=source, field=key)
            read.append(key)
        elif arch == "t5" and key in ("num_decoder_layers", "feed_forward_proj", "is_encoder_decoder"):
            if key == "feed_forward_proj" and value not in _T5_MLP:
                raise CostsimError(f"{value!r}: a T5 MLP here is {', '.join(_T5_MLP)}", source=source, field=key)
            if key == "is_encoder_decoder" and value is not True:
                raise CostsimError(f"{value!r}: a t5 config here is an encoder-decoder (true)", source=source,
                                   field=key)
            read.append(key)
        elif arch == "bert" and key == "position_embedding_type":
            if value != "absolute":
                raise CostsimError(f"{value!r}: only learned absolute positions are modelled for bert", source=source,
                                   field=key)
        elif key in _ARCH_IGNORED.get(arch, ()):
            continue
        elif key not in _IGNORED and key not in names:
            raise CostsimError(f"a field costsim cannot honour in a {arch} config (it may change the cost); remove it "
                               f"to price the model without it", source=source, field=key)
    window = config.get("sliding_window")
    if window is not None and config.get("use_sliding_window", True):  # Mistral's window (Qwen2's is off)
        if arch == "qwen2" and config.get("max_window_layers", 0) < data.get("layers", 0):
            raise CostsimError("a window on only some layers (max_window_layers below the layer count) is not "
                               "modelled", source=source, field="max_window_layers")
        data["sliding_window"] = window
    if arch == "llama" and (config.get("attention_bias") or config.get("mlp_bias")):
        if not (config.get("attention_bias") and config.get("mlp_bias")):
            raise CostsimError("biases on only some of a Llama's linears (attention_bias and mlp_bias differ) are not "
                               "modelled: linear_bias is all, qkv or none", source=source,
                               field="attention_bias" if config.get("attention_bias") else "mlp_bias")
        data["linear_bias"] = "all"
    if arch == "vit":  # the classifier's classes: the labels the config names (Hugging Face's default: 2)
        data["classes"] = len(config.get("id2label") or {}) or 2
    if arch == "t5":
        _t5_stacks(config, data, source)
    if "d_ff" not in data:
        data["ffn_mult"] = 4
    ignored = sorted(k for k in config if k in _IGNORED or k in _ARCH_IGNORED.get(arch, ()))
    data["description"] = (f"{arch} from {source}: read {', '.join(read)}" +
                           (f"; left out (no effect on the cost here): {', '.join(ignored)}" if ignored else ""))
    if arch == "t5":
        data["description"] += (f"; target_len {data['target_len']}: span corruption's targets for {data['seq_len']} "
                                f"inputs (noise 0.15, mean span 3; set target_len for another task)")
    data["sources"] = [{"cite": f"Hugging Face config.json at {source}", "status": "secondary"}]
    data["training"] = {"precision": "bf16_mixed", "optimizer": "adamw"}
    return data


def span_targets(inputs: int, noise: float = 0.15, mean_span: float = 3.0) -> int:
    """The target tokens of T5's span corruption for ``inputs`` input tokens (``random_spans_helper`` of the
    T5 repository, t5/data/preprocessors.py): the longest raw text whose corrupted input fits, then its
    noise tokens, one sentinel per span and the end token."""
    def lengths(raw: int) -> tuple[int, int]:
        noisy = int(round(raw * noise))
        spans = int(round(noisy / mean_span))
        return raw - noisy + spans + 1, noisy + spans + 1

    raw = inputs
    while lengths(raw + 1)[0] <= inputs:
        raw += 1
    return lengths(raw)[1]


def _t5_stacks(config: dict, data: dict, source: str) -> None:
    """A T5 config's two stacks as costsim's layers (num_layers + num_decoder_layers, the encoder's first),
    its MLP from feed_forward_proj, and the span-corruption targets of its input length."""
    if "encoder_layers" not in data:
        raise CostsimError("a t5 config gives its encoder's layers", source=source, field="num_layers")
    decoder = config.get("num_decoder_layers") or data["encoder_layers"]  # T5's default: as many as the encoder's
    data["layers"] = data["encoder_layers"] + decoder
    data["mlp"] = _T5_MLP[config.get("feed_forward_proj", "relu")]
    data.setdefault("seq_len", 512)
    data["target_len"] = span_targets(data["seq_len"])


def check_trained(data, source: str) -> None:
    """Refuse, in one line, a workload read from a Hugging Face config (a ``.json`` source) that has not
    been given its training: a config gives the model only."""
    training = data.get("training") if isinstance(data, dict) else None
    if source.endswith(".json") and isinstance(training, dict) and "global_batch_size" not in training:
        raise CostsimError("a Hugging Face config gives the model, not its training: set the training's "
                           "global_batch_size and tokens (or steps), e.g. global_batch_size=512 and tokens=1e12",
                           source=source, field="training.global_batch_size")


def config_named(err: CostsimError, source: str) -> CostsimError:
    """``err`` about a workload read from a Hugging Face config (a ``.json`` source) with its field named
    as the config names it too (``d_model (hidden_size or n_embd in the config)``); ``err`` otherwise."""
    if not source.endswith(".json") or not err.field:
        return err
    head = err.field.split(".")[0]
    keys = sorted({k for names, _ in ARCHITECTURES.values() for k, v in names.items() if v == head})
    if not keys:
        return err
    return CostsimError(err.problem, source=source, field=f"{err.field} ({' or '.join(keys)} in the config)")
