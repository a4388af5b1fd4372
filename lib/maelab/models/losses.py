"""Token-level losses: MAE reconstruction (LC-MAE eq 1), cross-view (eq 5), in-view (eq 6), collapse statistic.

The papers write sums over tokens; like facebookresearch/mae we average over the tokens (or token
pairs) the sum runs over, so the loss scale does not depend on the number of tokens.
"""

import torch
import torch.nn.functional as F


def reconstruction_loss(
    pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Eq 1: mean squared error per token, averaged over tokens with weight 1 (the removed ones in MAE).

    pred, target: [B, L, P]; weight: [B, L] (mask, or ones for an autoencoder); valid: [*, L, P] pixel mask.
    """
    err = (pred - target) ** 2
    per_token = err.mean(dim=-1) if valid is None else (err * valid).sum(-1) / valid.sum(-1)
    return (per_token * weight).sum() / weight.sum()


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """[B, L, D] -> [B, L, L] cosine similarities (a zero vector has similarity 0 to everything)."""
    xn = F.normalize(x, dim=-1, eps=1e-8)
    return xn @ xn.transpose(-1, -2)


def cross_view_loss(v1: torch.Tensor, v2: torch.Tensor, m1: torch.Tensor, m2: torch.Tensor) -> torch.Tensor:
    """Eq 5: 1 - cos(v_i^{m1}, v_i^{m2}) at positions removed in both views. v: [B, L, D], m: [B, L]."""
    both = m1 * m2
    cos = (F.normalize(v1, dim=-1, eps=1e-8) * F.normalize(v2, dim=-1, eps=1e-8)).sum(-1)
    return ((1 - cos) * both).sum() / both.sum().clamp(min=1)


def in_view_loss(v: torch.Tensor, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Eq 6: |cos(v_i, v_j) - cos(x_i, x_j)| over pairs i != j of removed positions. v: [B, L, D], x: [B, L, P]."""
    L = m.shape[1]
    pairs = m[:, :, None] * m[:, None, :] * (1 - torch.eye(L, device=m.device, dtype=m.dtype))
    diff = (cosine_matrix(v) - cosine_matrix(x)).abs()
    return (diff * pairs).sum() / pairs.sum().clamp(min=1)


def normalized_std(v: torch.Tensor) -> torch.Tensor:
    """Collapse statistic (SimSiam): per-dimension std across samples of l2-normalised v, times sqrt(D).

    v: [N, D]. About 1 for well-spread outputs, 0 when every output is the same vector.
    """
    vn = F.normalize(v.float(), dim=-1)
    return vn.std(dim=0).mean() * vn.shape[-1] ** 0.5
