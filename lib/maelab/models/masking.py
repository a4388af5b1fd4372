"""Random masking with a mask unit that may be coarser than the ViT patch (MAE; HLVM §3, App. C.1).

Conventions (as in facebookresearch/mae): mask [B, L] in the token grid's row-major order,
0 = keep, 1 = remove; ids_keep [B, L_keep] indexes the kept tokens; ids_restore [B, L] undoes the
keep-first ordering. Every sample keeps exactly the same number of tokens, so batches stay dense.
"""

from typing import NamedTuple

import torch


class Mask(NamedTuple):
    mask: torch.Tensor  # [B, L], 1 = removed
    ids_keep: torch.Tensor  # [B, L_keep]
    ids_restore: torch.Tensor  # [B, L]


def unit_grid(grid_size: tuple[int, int], patch_size: int, mask_unit: int) -> tuple[int, int]:
    """Grid of mask units; the unit must be a multiple of the patch and tile the token grid."""
    if mask_unit % patch_size:
        raise ValueError(f"mask_unit={mask_unit} must be a multiple of patch_size={patch_size}")
    k = mask_unit // patch_size
    gh, gw = grid_size
    if gh % k or gw % k:
        raise ValueError(
            f"mask_unit={mask_unit} (= {k} patches) does not tile the {gh}x{gw} token grid; "
            f"choose an image size whose token grid is divisible by {k}"
        )
    return gh // k, gw // k


def num_kept_units(num_units: int, mask_ratio: float) -> int:
    """MAE: keep int(L * (1 - ratio)) units; at least one, so the encoder never sees nothing."""
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
    return max(1, int(num_units * (1 - mask_ratio)))


def random_masking(
    batch_size: int,
    grid_size: tuple[int, int],
    patch_size: int,
    mask_ratio: float,
    mask_unit: int | None = None,
    noise: torch.Tensor | None = None,
    shared: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> Mask:
    """Per-sample uniform random mask drawn on the mask-unit grid, then repeated over its tokens.

    noise: optional [B, Lu] (or [1, Lu]) uniform scores on the unit grid, small = keep.
    shared: draw one mask and use it for the whole batch (LC-MAE §4.1, eq 7).
    """
    unit = mask_unit or patch_size
    uh, uw = unit_grid(grid_size, patch_size, unit)
    k = unit // patch_size
    num_units = uh * uw
    if noise is None:
        rows = 1 if shared else batch_size
        noise = torch.rand(rows, num_units, generator=generator, device=generator.device if generator else device)
    noise = noise.to(device).expand(batch_size, num_units)
    keep_units = num_kept_units(num_units, mask_ratio)
    unit_rank = torch.argsort(torch.argsort(noise, dim=1), dim=1)  # ascend: small is keep
    unit_mask = (unit_rank >= keep_units).float().view(batch_size, uh, uw)
    mask = unit_mask.repeat_interleave(k, dim=1).repeat_interleave(k, dim=2).flatten(1)
    ids_shuffle = torch.argsort(mask, dim=1, stable=True)  # kept tokens first, in raster order
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    return Mask(mask, ids_shuffle[:, : keep_units * k * k], ids_restore)


def no_masking(batch_size: int, num_tokens: int, device: torch.device | str = "cpu") -> Mask:
    """mask_ratio = 0 without shuffling: feature extraction and the autoencoder experiments."""
    ids = torch.arange(num_tokens, device=device).expand(batch_size, num_tokens)
    return Mask(torch.zeros(batch_size, num_tokens, device=device), ids, ids)
