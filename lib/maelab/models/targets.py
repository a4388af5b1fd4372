"""Pixel targets: patches (MAE), per-patch normalised pixels (norm_pix_loss) and AE(b) block targets.

Per-token pixel vectors are ordered (row, col, channel) like facebookresearch/mae's patchify,
for any number of channels (its patchify hard-codes 3).
"""

import torch
import torch.nn.functional as F


def patchify(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """imgs [B, C, H, W] -> [B, L, p*p*C] (row-major token grid)."""
    B, C, H, W = imgs.shape
    p = patch_size
    x = imgs.reshape(B, C, H // p, p, W // p, p)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(B, (H // p) * (W // p), p * p * C)


def unpatchify(x: torch.Tensor, patch_size: int, grid_size: tuple[int, int], in_chans: int) -> torch.Tensor:
    """[B, L, p*p*C] -> imgs [B, C, H, W]; inverse of patchify."""
    B = x.shape[0]
    (gh, gw), p = grid_size, patch_size
    x = x.reshape(B, gh, gw, p, p, in_chans)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(B, in_chans, gh * p, gw * p)


def block_targets(imgs: torch.Tensor, patch_size: int, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """LC-MAE §4.2 / Fig 7: each token's target is the b x b block centred on its patch.

    Border rule: pixels of a block that fall outside the image are not predicted; they are
    returned as zeros with valid = 0 and excluded from the loss and from target normalisation.
    Returns targets [B, L, b*b*C] and valid [1, L, b*b*C] (same pixel order as patchify).
    """
    p, b = patch_size, block_size
    if b < p or (b - p) % 2:
        raise ValueError(f"block_size={b} must be >= patch_size={p} with an even difference (centred block)")
    pad = (b - p) // 2
    B, C, H, W = imgs.shape

    def blocks(x: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(F.pad(x, (pad, pad, pad, pad)), kernel_size=b, stride=p)  # [N, C*b*b, L]
        n = x.shape[0]
        return cols.reshape(n, x.shape[1], b, b, -1).permute(0, 4, 2, 3, 1).reshape(n, -1, b * b * x.shape[1])

    valid = blocks(torch.ones(1, C, H, W, device=imgs.device, dtype=imgs.dtype))
    return blocks(imgs), valid


def normalize_targets(target: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """norm_pix_loss: each token's target minus its mean over (unbiased) sqrt(var + eps), valid pixels only."""
    if valid is None:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        return (target - mean) / (var + eps) ** 0.5
    count = valid.sum(dim=-1, keepdim=True)
    mean = (target * valid).sum(dim=-1, keepdim=True) / count
    var = (((target - mean) * valid) ** 2).sum(dim=-1, keepdim=True) / (count - 1).clamp(min=1)
    return (target - mean) / (var + eps) ** 0.5 * valid
