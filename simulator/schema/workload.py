"""Workload descriptions: what is trained, how big, for how long, in which precision."""
from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from . import hardware
from .hardware import CNN_STACKS, MAX_INT, ExecutionStack, Fraction, Input, PositiveFloat, PositiveInt, Source
from .training import Optimizer, Phase, Precision, Training, _check_step_count  # noqa: F401
from .variant import Variant

PLAIN = Variant()


class _WorkloadBase(Input):
    name: str = Field(description="the workload's name (a bundled workload: its file name)")
    description: str = Field(default="", description="what is trained, in prose")
    sources: tuple[Source, ...] = Field(default=(), strict=False, description="where its figures come from")
    training: Training = Field(description="how it is trained and for how long")
    variant: Variant = Field(default=PLAIN, description="set by efficiency strategies")


class TransformerWorkload(_WorkloadBase):
    """A decoder-only transformer language model (GPT style: pre-norm, MLP, learned positions).

    Attributes:
        layers: transformer blocks.
        d_model: width of the residual stream.
        heads: attention heads (d_model must divide by it).
        vocab_size: tokens in the vocabulary.
        seq_len: tokens per sequence.
        ffn_mult: the MLP's hidden width as a multiple of d_model (or give d_ff).
        d_ff: the MLP's hidden width (or give ffn_mult).
        tied_embeddings: whether the output head shares the input embedding's weights.
        attention: ``flash`` (fused kernels) or ``naive`` (the score matrix in memory).
    """

    kind: Literal["transformer"]
    layers: PositiveInt
    d_model: PositiveInt
    heads: PositiveInt
    vocab_size: PositiveInt | None = Field(default=None, description="the vocabulary (required but for a vision "
                                                                   "transformer, which has none)")
    seq_len: PositiveInt
    ffn_mult: PositiveFloat | None = None
    d_ff: PositiveInt | None = None
    tied_embeddings: bool = True
    attention: Literal["flash", "naive"] = "flash"
    execution: ExecutionStack | None = Field(
        default=None, description="the software stack that runs the step (its fusions, overlaps and host costs: "
                                  "docs/stacks.md): pytorch-eager, megatron, megatron-core, torch-compile or xla; "
                                  "default: the device's first stack (eager PyTorch on GPUs, XLA on TPUs)")
    linear_bias: Literal["all", "qkv", "none"] = Field(
        default="all", description="biases of the linear layers: every one (GPT-2/3), the query-key-value "
                                   "projection's only (Qwen2), none (Llama, Mistral, DeepSeek)")
    experts: PositiveInt = Field(default=1, description="mixture of experts: MLP experts per layer (1: dense)")
    experts_per_token: PositiveInt = Field(default=1, description="top-k routing: experts each token visits")
    moe_d_ff: PositiveInt | None = Field(
        default=None, description="mixture of experts: each expert's MLP width; default: d_ff (or ffn_mult x d_model)")
    shared_experts: Annotated[int, Field(ge=0, le=1024)] = Field(
        default=0, description="mixture of experts: experts every token visits besides its routed ones (DeepSeekMoE), "
                               "each moe_d_ff wide")
    expert_imbalance: Annotated[float, Field(ge=1.0, le=1e3, allow_inf_nan=False)] = Field(
        default=1.0, description="mixture of experts: the busiest expert's tokens over the mean (1: balanced "
                                 "routing); the busiest sets the pace of the expert products and their memory")
    dense_layers: Annotated[int, Field(ge=0, le=MAX_INT)] = Field(
        default=0, description="mixture of experts: the first layers keep a dense MLP of d_ff (DeepSeek-V3: 3)")
    causal: bool = Field(default=True, description="causal (decoder) attention; false: bidirectional (an encoder "
                                                    "such as BERT: every query sees every key)")
    objective: Literal["next_token", "masked", "classify"] = Field(
        default="next_token", description="the loss: next-token prediction, masked-token prediction (BERT's "
                                          "MLM: a dense transform, GELU and LayerNorm before the tied head), or "
                                          "classification of the first (class) token (a vision transformer)")
    patch_size: PositiveInt | None = Field(
        default=None, description="a vision transformer: the image's square patches of this many pixels a side, "
                                  "each projected to d_model (seq_len, if absent: the patches plus a class token)")
    image_size: PositiveInt | None = Field(default=None, description="a vision transformer: the image's side, pixels")
    channels: PositiveInt = Field(default=3, description="a vision transformer: the image's channels")
    classes: PositiveInt | None = Field(default=None, description="classify objective: the classes of its head")
    prediction_fraction: Fraction = Field(
        default=1.0, description="masked objective: the share of tokens the head and the loss run on (BERT's "
                                 "masked positions gathered first: 0.15; 1: every position)")
    token_types: Annotated[int, Field(ge=0, le=1024)] = Field(
        default=0, description="segment (token-type) embeddings added to the token's (BERT: 2)")
    embedding_norm: bool = Field(default=False, description="a LayerNorm right after the embedding (BERT, BLOOM)")
    final_norm: bool = Field(default=True, description="a norm after the last layer (pre-LN models); post-LN "
                                                       "encoders such as BERT end each layer in a norm instead "
                                                       "and have none (their kernels priced as pre-LN's)")
    pooler: bool = Field(default=False, description="BERT's pooler (a d x d layer and tanh on the first token) "
                                                    "and its next-sentence head (2 classes)")
    sliding_window: PositiveInt | None = Field(
        default=None, description="sliding-window attention (Mistral): each token attends to at most this many "
                                  "tokens before it; flash attention skips the rest (naive attention still "
                                  "materialises the whole masked score matrix)")
    mtp_layers: Annotated[int, Field(ge=0, le=64)] = Field(
        default=0, description="multi-token prediction (DeepSeek-V3): sequential modules after the last layer, "
                               "each one more block, a projection of 2 x d_model to d_model and its norms, "
                               "sharing the embedding and the output head, with a cross-entropy of its own")
    q_lora_rank: PositiveInt | None = Field(
        default=None, description="multi-head latent attention: the queries' low-rank width (absent: queries "
                                  "projected directly)")
    kv_lora_rank: PositiveInt | None = Field(
        default=None, description="multi-head latent attention (DeepSeek-V2/V3): the keys' and values' shared latent "
                                  "width; with qk_nope_head_dim, qk_rope_head_dim and v_head_dim")
    qk_nope_head_dim: PositiveInt | None = Field(default=None, description="MLA: a head's query-key width without RoPE")
    qk_rope_head_dim: PositiveInt | None = Field(default=None, description="MLA: a head's query-key width with RoPE")
    v_head_dim: PositiveInt | None = Field(default=None, description="MLA: a head's value width")
    mlp: Literal["gelu", "relu", "relu2", "swiglu", "geglu"] = Field(
        default="gelu", description="the MLP: gelu, relu or relu2 (up, activation, down), or gated swiglu or geglu "
                                    "(a gate and an up projection, fused into one product of 2 x d_ff, their product, "
                                    "down)")
    kv_heads: PositiveInt | None = Field(
        default=None, description="key-value heads: grouped-query attention (fewer than heads, dividing them), "
                                  "multi-query (1); default: heads (multi-head attention)")
    norm: Literal["layernorm", "rmsnorm"] = Field(
        default="layernorm", description="the norms: LayerNorm (a weight and a bias) or RMSNorm (a weight)")
    encoder_layers: Annotated[int, Field(ge=0, le=MAX_INT)] = Field(
        default=0, description="an encoder-decoder (T5): the first of the layers are the encoder's (bidirectional, "
                               "on seq_len input tokens), the rest the decoder's (causal self-attention on "
                               "target_len tokens, cross-attention to the encoder's output, an MLP); 0: one stack")
    target_len: PositiveInt | None = Field(
        default=None, description="an encoder-decoder: the decoder's tokens per sequence (T5's span-corruption "
                                  "targets: 114 for 512 inputs); the head and the loss run on them")
    head_dim: PositiveInt | None = Field(
        default=None, description="a head's query-key-value width (T5: d_kv); default: d_model / heads")
    relative_buckets: PositiveInt = Field(
        default=32, description="position relative: the buckets of T5's relative position bias (a table of "
                                "buckets x heads per stack)")
    position: Literal["learned", "rope", "alibi", "relative"] = Field(
        default="learned", description="positions: a learned embedding of seq_len x d_model, rotary (RoPE: no "
                                       "parameters, a rotation of q and k in every layer), or ALiBi (BLOOM: no "
                                       "parameters, a linear bias added to the scores inside the attention "
                                       "kernel), or relative (T5: a learned bias per bucket and head, computed "
                                       "once per stack and read by every self-attention kernel, its gradient "
                                       "written back)")

    @model_validator(mode="before")
    @classmethod
    def _renamed_framework(cls, data):
        if isinstance(data, dict) and "framework" in data:
            raise ValueError("framework: renamed to execution (pytorch_amp is now pytorch-eager; megatron stays "
                             "megatron)")
        if isinstance(data, dict) and "seq_len" not in data and isinstance(data.get("patch_size"), int) and \
                isinstance(data.get("image_size"), int) and data["patch_size"] > 0:  # patches and the class token
            data = {**data, "seq_len": (data["image_size"] // data["patch_size"]) ** 2 + 1}
        return data

    @field_validator("ffn_mult")
    @classmethod
    def _ffn_width_is_a_count(cls, ffn_mult: float | None, info: ValidationInfo):
        d_model = info.data.get("d_model")
        if ffn_mult is not None and d_model is not None and not ffn_mult * d_model <= MAX_INT:
            raise ValueError(f"ffn_mult x d_model = {ffn_mult * d_model:.3g} is the MLP's width, a count: it must "
                             f"be at most {MAX_INT}")
        return ffn_mult

    @model_validator(mode="after")
    def _check(self):
        if self.execution in hardware.CNN_ONLY_STACKS:
            raise ValueError(f"execution: {self.execution} is a stack for convolutional networks; a transformer "
                             "runs pytorch-eager, megatron, megatron-core, torch-compile or xla")
        if self.head_dim is None and self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        if self.kv_heads is not None and (self.kv_heads > self.heads or self.heads % self.kv_heads):
            raise ValueError(f"kv_heads ({self.kv_heads}) must divide heads ({self.heads})")
        moe = [n for n, on in (("moe_d_ff", self.moe_d_ff is not None), ("shared_experts", self.shared_experts),
                               ("expert_imbalance", self.expert_imbalance != 1.0), ("dense_layers", self.dense_layers))
               if on]
        if self.dense_layers > self.layers:
            raise ValueError(f"dense_layers ({self.dense_layers}) is more than the {self.layers} layers")
        mla = {"kv_lora_rank": self.kv_lora_rank, "qk_nope_head_dim": self.qk_nope_head_dim,
               "qk_rope_head_dim": self.qk_rope_head_dim, "v_head_dim": self.v_head_dim}
        given = [k for k, v in mla.items() if v is not None] + (["q_lora_rank"] if self.q_lora_rank else [])
        if given and len([k for k in given if k != "q_lora_rank"]) < 4:
            missing = ", ".join(k for k, v in mla.items() if v is None)
            raise ValueError(f"multi-head latent attention ({', '.join(given)} given) needs all of kv_lora_rank, "
                             f"qk_nope_head_dim, qk_rope_head_dim and v_head_dim: give {missing}")
        if given and self.kv_heads is not None:
            raise ValueError("kv_heads is for grouped-query attention; latent attention (kv_lora_rank) has none")
        if moe and self.experts == 1:
            raise ValueError(f"{', '.join(moe)}: for a mixture of experts (experts > 1); this workload is dense")
        if self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token ({self.experts_per_token}) exceeds experts ({self.experts})")
        self._check_vision()
        self._check_encoder_decoder()
        if self.objective != "masked" and self.prediction_fraction != 1.0:
            raise ValueError("prediction_fraction is for the masked objective (objective: masked)")
        if self.sliding_window is not None and not self.causal:
            raise ValueError("sliding_window is modelled for causal attention only")
        if self.mtp_layers and self.objective != "next_token":
            raise ValueError("mtp_layers predict further next tokens: objective must be next_token")
        if (self.ffn_mult is None) == (self.d_ff is None):
            if self.ffn_mult is None:
                raise ValueError("give one of ffn_mult or d_ff")
            raise ValueError("give ffn_mult or d_ff, not both")
        t = self.training
        if (t.steps is None) == (t.tokens is None):
            raise ValueError("training: give exactly one of steps or tokens")
        if t.epochs is not None or t.dataset_size is not None:
            raise ValueError("training: epochs and dataset_size are for cnn workloads; use steps or tokens")
        if t.tokens is not None:
            _check_step_count(t.tokens / self.tokens_per_step, "tokens / (global_batch_size x seq_len)")
        if t.phases is not None:
            self._check_phases()
        return self

    def _check_phases(self) -> None:
        t = self.training
        if t.tokens is None:
            raise ValueError("training.phases: phases are given in tokens: give training.tokens, not steps")
        if not t.phases:
            raise ValueError("training.phases: an empty list; give at least one phase, or none")
        names = [ph.name for ph in t.phases]
        if len(set(names)) < len(names):
            raise ValueError(f"training.phases: two phases are called '{next(n for n in names if names.count(n) > 1)}'")
        at = 0.0
        for i, ph in enumerate(t.phases):
            where = f"training.phases[{i}] ('{ph.name}')"
            if ph.end_tokens <= ph.start_tokens:
                raise ValueError(f"{where}: end_tokens ({ph.end_tokens:g}) must be above start_tokens "
                                 f"({ph.start_tokens:g})")
            if ph.start_tokens != at:
                what = "overlaps the one before" if ph.start_tokens < at else "leaves a gap after the one before"
                raise ValueError(f"{where}: starts at {ph.start_tokens:g} tokens but the phase before ends at {at:g}: "
                                 f"it {what}; each phase starts where the last ends, the first at 0")
            _check_step_count((ph.end_tokens - ph.start_tokens) / ((ph.global_batch_size or t.global_batch_size)
                                                                  * (ph.seq_len or self.seq_len)),
                              f"phase '{ph.name}': (end_tokens - start_tokens) / (global_batch_size x seq_len)")
            at = ph.end_tokens
        if at != t.tokens:
            raise ValueError(f"training.phases: the last phase ends at {at:g} tokens, not at training.tokens "
                             f"({t.tokens:g})")

    @property
    def ffn_dim(self) -> int:
        """The MLP's hidden width: d_ff, else ffn_mult x d_model rounded."""
        return self.d_ff if self.d_ff is not None else int(round(self.ffn_mult * self.d_model))

    @property
    def kv_dim(self) -> int:
        """The width of the keys (and of the values): kv_heads x the head dimension."""
        return (self.kv_heads or self.heads) * self.head_width

    @property
    def head_width(self) -> int:
        """A head's width: head_dim, else d_model / heads."""
        return self.head_dim if self.head_dim is not None else self.d_model // self.heads

    def _check_vision(self) -> None:
        vision = self.patch_size is not None
        if not vision:
            if self.vocab_size is None:
                raise ValueError("give vocab_size (only a vision transformer, patch_size, has none)")
            if self.objective == "classify" or self.classes is not None or self.image_size is not None:
                raise ValueError("objective classify, classes and image_size are for a vision transformer: give "
                                 "patch_size")
            return
        if self.vocab_size is not None or self.image_size is None or self.classes is None:
            raise ValueError("a vision transformer (patch_size) needs image_size and classes, and has no vocab_size")
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size ({self.patch_size}) must divide image_size ({self.image_size})")
        tokens = (self.image_size // self.patch_size) ** 2 + 1
        if self.seq_len != tokens:
            raise ValueError(f"seq_len ({self.seq_len}) must be the {tokens - 1} patches and the class token: {tokens}")
        if self.objective != "classify" or self.causal or self.tied_embeddings or self.position != "learned":
            raise ValueError("a vision transformer is modelled as ViT: objective classify, causal false, "
                             "tied_embeddings false, position learned")

    def _check_encoder_decoder(self) -> None:
        if not self.encoder_layers:
            if self.target_len is not None:
                raise ValueError("target_len is for an encoder-decoder: give encoder_layers")
            return
        if self.target_len is None:
            raise ValueError("an encoder-decoder (encoder_layers) needs target_len, the decoder's tokens")
        if self.encoder_layers >= self.layers:
            raise ValueError(f"encoder_layers ({self.encoder_layers}) must leave decoder layers among the "
                             f"{self.layers} layers")
        other = [n for n, on in (("experts", self.experts > 1), ("mtp_layers", self.mtp_layers),
                                 ("sliding_window", self.sliding_window is not None), ("patch_size", self.patch_size),
                                 ("causal: false", not self.causal), ("objective", self.objective != "next_token"),
                                 ("kv_lora_rank", self.mla)) if on]
        if other:
            raise ValueError(f"an encoder-decoder (encoder_layers) is modelled as T5: dense, full attention, a causal "
                             f"decoder predicting its targets; {', '.join(other)} not with it")

    @property
    def mla(self) -> bool:
        """Whether attention is multi-head latent attention (kv_lora_rank given)."""
        return self.kv_lora_rank is not None

    def attention_dims(self) -> tuple[int, int, int, int]:
        """(queries, keys, values, attention output) widths per token before tensor parallelism: d_model,
        kv_dim, kv_dim, d_model; under latent attention every head's keys and values materialised for training,
        heads x (qk_nope + qk_rope), the same, heads x v_head_dim, heads x v_head_dim."""
        if not self.mla:
            inner = self.heads * self.head_width
            return inner, self.kv_dim, self.kv_dim, inner
        qk = self.heads * (self.qk_nope_head_dim + self.qk_rope_head_dim)
        v = self.heads * self.v_head_dim
        return qk, qk, v, v

    @property
    def expert_dim(self) -> int:
        """The width of each expert's MLP (a dense model's MLP): moe_d_ff, else the MLP's width."""
        return self.moe_d_ff if self.moe_d_ff is not None and self.experts > 1 else self.ffn_dim

    @property
    def gated(self) -> bool:
        """Whether the MLP is gated (swiglu, geglu): three matrices instead of two."""
        return self.mlp in ("swiglu", "geglu")

    @property
    def tokens_per_step(self) -> int:
        """Tokens of one step: global batch x sequence length."""
        return self.training.global_batch_size * self.seq_len

    @property
    def total_steps(self) -> float:
        """Optimizer steps of the run: steps, else tokens over tokens per step rounded up."""
        t = self.training
        return float(t.steps) if t.steps is not None else float(math.ceil(t.tokens / self.tokens_per_step))


class _EpochWorkload(_WorkloadBase):
    """A workload trained for steps, or for epochs over a data set of ``dataset_size`` samples."""

    def _check_steps_or_epochs(self) -> None:
        t = self.training
        if t.phases is not None:
            raise ValueError("training.phases: phases are for transformer workloads trained on tokens")
        if t.tokens is not None:
            raise ValueError("training: tokens is for transformer workloads; use steps or epochs")
        by_epochs = t.epochs is not None or t.dataset_size is not None
        if by_epochs and (t.epochs is None or t.dataset_size is None):
            raise ValueError("training: epochs needs dataset_size and dataset_size needs epochs")
        if by_epochs == (t.steps is not None):
            raise ValueError("training: give exactly one of steps or epochs with dataset_size")
        if by_epochs:
            _check_step_count(t.epochs * t.dataset_size / t.global_batch_size,
                              "epochs x dataset_size / global_batch_size")

    @property
    def total_steps(self) -> float:
        """Optimizer steps of the run: steps, else epochs x dataset_size over the global batch rounded up."""
        t = self.training
        if t.steps is not None:
            return float(t.steps)
        return float(math.ceil(t.epochs * t.dataset_size / t.global_batch_size))


class CNNWorkload(_EpochWorkload):
    """A convolutional image classifier; the ResNet family by depth.

    Attributes:
        architecture: the family (ResNet).
        depth: layers of the ResNet (18, 34, 50, 101, 152).
        image_size: height and width of an input image in pixels.
        in_channels: channels of an input image.
        classes: classes the classifier chooses among.
    """

    kind: Literal["cnn"]
    architecture: Literal["resnet"] = "resnet"
    depth: Literal[18, 34, 50, 101, 152]
    image_size: PositiveInt = 224
    in_channels: PositiveInt = 3
    classes: PositiveInt = 1000
    execution: ExecutionStack | None = Field(
        default=None, description="the stack that runs the step: pytorch-tuned, pytorch-eager, torch-compile, xla "
                                  "or cudnn-fused; default: the device's first, tuned if eager (docs/stacks.md)")

    @model_validator(mode="after")
    def _check(self):
        if self.training.precision in ("mxfp8_mixed", "fp4_mixed"):
            raise ValueError("training.precision: the block-scaled recipes cover transformers' linear layers")
        if self.execution is not None and self.execution not in CNN_STACKS:
            raise ValueError(f"execution: {self.execution} runs transformers; a convolutional network runs "
                             f"{', '.join(CNN_STACKS)}")
        v = self.variant
        if v.sparsity or v.factorised or v.lora_rank:
            raise ValueError("variant: sparse execution, low-rank factorisation and LoRA are modelled for the "
                             "linear layers of transformer workloads, not for convolutions")
        self._check_steps_or_epochs()
        return self


class MLPWorkload(_WorkloadBase):
    """A multilayer perceptron (ReLU hidden layers, softmax cross-entropy), trained in plain numpy fp32:
    the workload a CPU calibration is checked against end to end.

    Attributes:
        input_dim: features of an input sample.
        hidden_dims: width of each hidden layer, in order.
        classes: classes of the output layer.
    """

    kind: Literal["mlp"]
    input_dim: PositiveInt
    hidden_dims: tuple[PositiveInt, ...] = Field(min_length=1, strict=False)
    classes: PositiveInt

    @model_validator(mode="after")
    def _check(self):
        t = self.training
        if t.steps is None or t.tokens is not None or t.epochs is not None:
            raise ValueError("training: an mlp workload gives steps")
        if t.phases is not None:
            raise ValueError("training.phases: phases are for transformer workloads trained on tokens")
        if t.precision != "fp32" or t.optimizer == "adafactor":
            raise ValueError("training.precision: the numpy mlp runs in fp32" if t.precision != "fp32" else
                             "training.optimizer: the numpy mlp runs sgd, sgd_momentum, adam or adamw")
        if self.variant != PLAIN:
            raise ValueError("variant: the numpy mlp (a CPU calibration check) takes no efficiency strategy")
        return self

    @property
    def total_steps(self) -> float:
        """Optimizer steps of the run (an mlp gives steps)."""
        return float(self.training.steps)


class GenericWorkload(_EpochWorkload):
    """A model known only by the figures a published training record gives: parameters, forward FLOPs
    per sample, and the ratio of a training pass to a forward pass. Its step is priced as matrix
    products of the size those figures imply (see ``simulator/model/generic.py``)."""

    kind: Literal["generic"]
    parameters: PositiveFloat = Field(description="the model's parameters")
    forward_flops_per_sample: PositiveFloat = Field(description="FLOPs of one sample's forward pass")
    training_to_forward_flops_ratio: Annotated[float, Field(ge=1, allow_inf_nan=False)] = Field(
        default=3.0, description="FLOPs of a forward and backward pass over those of a forward pass "
                                 "(3: the backward pass costs twice the forward)")
    layers: PositiveInt = Field(default=50, description="weight layers the work is spread over (an assumption "
                                                        "where the record gives none)")

    @model_validator(mode="after")
    def _check(self):
        if self.variant != PLAIN and self.variant != Variant(forward_only=True):
            raise ValueError("variant: a generic workload takes no compression strategy (its layers are unknown)")
        if self.training.precision in ("mxfp8_mixed", "fp4_mixed"):
            raise ValueError("training.precision: the block-scaled recipes cover transformers' linear layers")
        self._check_steps_or_epochs()
        return self


Workload = Annotated[Union[TransformerWorkload, CNNWorkload, MLPWorkload, GenericWorkload],
                     Field(discriminator="kind")]
