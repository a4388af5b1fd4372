"""Fixed 2-D sin-cos position embeddings (MAE, after MoCo v3 / "Attention is all you need").

The first half of the channels encodes the column coordinate and the second half the row coordinate,
as facebookresearch/mae's `get_2d_sincos_pos_embed` does (its `meshgrid(grid_w, grid_h)` puts the column
first), so released MAE/timm weights see the table they were trained with; each half is
[sin(pos * w_k), cos(pos * w_k)] with w_k = 1 / 10000^(k / (D/4)).
"""

import torch


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """1-D sin-cos table. positions: [M] (may be fractional) -> [M, dim]."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even dim, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
    angles = positions.to(torch.float64)[:, None] * omega[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


def sincos_2d(dim: int, grid_size: tuple[int, int], scale: float = 1.0) -> torch.Tensor:
    """2-D sin-cos table for a row-major [gh, gw] grid -> [gh * gw, dim].

    scale multiplies the coordinates: a 4x4 crop shown to a model trained on a 7x7 grid can use
    scale=7/4 so its positions span the same range (what DINO does by interpolating learned embeddings).
    """
    if dim % 4:
        raise ValueError(f"2-D sin-cos embedding needs dim divisible by 4, got {dim}")
    gh, gw = grid_size
    rows = torch.arange(gh, dtype=torch.float64).repeat_interleave(gw) * scale
    cols = torch.arange(gw, dtype=torch.float64).repeat(gh) * scale
    return torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)
