"""Language-model scaling laws: a Chinchilla-style loss L(N, D), compute-optimal allocation, and the
transformer workload that a (parameters, tokens) pair implies.

L(N, D) = E + A / N^alpha + B / D^beta, with training compute C = 6 N D (Kaplan et al. 2020). The
compute-optimal split minimises L under C: N_opt = G (C / 6)^a, D_opt = (C / 6)^b / G with
a = beta / (alpha + beta), b = alpha / (alpha + beta) and G = (alpha A / (beta B))^(1 / (alpha + beta)).
"""
from __future__ import annotations

import math

from scipy.optimize import brentq

from ..errors import CostsimError
from ..schema.hardware import Strict


class LossLaw(Strict):
    """A Chinchilla-style law L(N, D) = E + A / N^alpha + B / D^beta, N parameters, D training tokens.

    Attributes:
        name: the law's name (``LAWS``).
        irreducible_loss: E, nats per token.
        a_coefficient: A, the parameter term's coefficient.
        b_coefficient: B, the data term's coefficient.
        alpha: the parameter term's exponent.
        beta: the data term's exponent.
        source: where the fitted values come from.
    """

    name: str
    irreducible_loss: float   # E, nats per token
    a_coefficient: float      # A
    b_coefficient: float      # B
    alpha: float
    beta: float
    source: str


CHINCHILLA = LossLaw(name="chinchilla", irreducible_loss=1.69, a_coefficient=406.4, b_coefficient=410.7,
                     alpha=0.34, beta=0.28,
                     source="Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models', arXiv:2203.15556, "
                            "approach 3 (parametric fit), eq. 10: E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28")
BESIROGLU = LossLaw(name="besiroglu", irreducible_loss=1.82, a_coefficient=482.01, b_coefficient=2085.43,
                    alpha=0.3478, beta=0.3658,
                    source="Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt', arXiv:2404.10102: "
                           "the same fit redone on the paper's data, E 1.82, A 482.01, B 2085.43, alpha 0.3478, "
                           "beta 0.3658")
LAWS = {law.name: law for law in (CHINCHILLA, BESIROGLU)}
FLOPS_PER_PARAMETER_TOKEN = 6.0  # forward and backward, Kaplan et al. 2020


LAW_RANGE_FLOPS = (1e10, 1e40)  # the training compute the laws are used over (fits span ~1e18 to ~1e24)


def loss(law: LossLaw, parameters: float, tokens: float) -> float:
    """The law's loss for ``parameters`` and ``tokens`` of training, nats per token."""
    return law.irreducible_loss + law.a_coefficient / parameters ** law.alpha + law.b_coefficient / tokens ** law.beta


def compute_optimal(law: LossLaw, compute_flops: float) -> tuple[float, float]:
    """Parameters and tokens that minimise the loss for ``compute_flops`` of training."""
    if compute_flops <= 0 or not math.isfinite(compute_flops):
        raise CostsimError("the compute budget must be positive and finite", field="computes")
    lo, hi = LAW_RANGE_FLOPS
    if not lo * (1 - 1e-9) <= compute_flops <= hi * (1 + 1e-9):  # exp(log(c)) need not give c back
        raise CostsimError(f"a compute budget of {compute_flops:g} FLOPs is outside the law's range ({lo:g} to "
                           f"{hi:g} FLOPs): the compute-optimal model there means nothing", field="computes")
    s = law.alpha + law.beta
    g = (law.alpha * law.a_coefficient / (law.beta * law.b_coefficient)) ** (1 / s)
    c = compute_flops / FLOPS_PER_PARAMETER_TOKEN
    return g * c ** (law.beta / s), c ** (law.alpha / s) / g


def compute_for_loss(law: LossLaw, target_loss: float) -> float:
    """The smallest training compute whose compute-optimal model reaches ``target_loss``."""
    if not target_loss > law.irreducible_loss:
        raise CostsimError(f"loss {target_loss:g} is not above the law's irreducible loss "
                           f"{law.irreducible_loss:g}: no finite compute reaches it", field="losses")

    def gap(log_c: float) -> float:
        return loss(law, *compute_optimal(law, math.exp(log_c))) - target_loss

    lo, hi = (math.log(c) for c in LAW_RANGE_FLOPS)
    if gap(lo) < 0:
        raise CostsimError(f"loss {target_loss:g} is reached below 1e10 FLOPs, outside the law's range",
                           field="losses")
    if gap(hi) > 0:
        raise CostsimError(f"loss {target_loss:g} needs more than 1e40 FLOPs", field="losses")
    return math.exp(brentq(gap, lo, hi, xtol=1e-12))


# Shape of a dense decoder for N parameters: width / depth about 128 (Chinchilla 70B: 8192 / 80 = 102;
# GPT-3 175B: 12288 / 96 = 128), heads of 128, 12 d^2 weights per layer, 2048-token sequences and about
# 2M-token batches (Chinchilla trained with 1.5M to 3M tokens per batch), a 32k vocabulary (Chinchilla's).
WIDTH_PER_LAYER = 128
HEAD_DIM = 128
SEQ_LEN = 2048
BATCH_TOKENS = 2 ** 21
VOCAB = 32000


def transformer_for(parameters: float, tokens: float, name: str, precision: str = "bf16_mixed") -> dict:
    """A transformer workload (as a dict for the loader's validation) with about ``parameters``
    non-embedding weights trained on ``tokens`` tokens. The shape rule is in the constants above."""
    layers = max(1, round((parameters / (12 * WIDTH_PER_LAYER ** 2)) ** (1 / 3)))
    d = max(HEAD_DIM, round(math.sqrt(parameters / (12 * layers)) / HEAD_DIM) * HEAD_DIM)
    return {"name": name, "kind": "transformer", "layers": layers, "d_model": d, "heads": d // HEAD_DIM,
            "vocab_size": VOCAB, "seq_len": SEQ_LEN, "ffn_mult": 4, "tied_embeddings": False,
            "execution": "megatron",
            "description": f"compute-optimal decoder: {parameters:.3g} parameters, {tokens:.3g} tokens",
            "training": {"global_batch_size": BATCH_TOKENS // SEQ_LEN, "tokens": tokens, "precision": precision,
                         "optimizer": "adamw", "activation_recompute": True}}
