"""Analysis metrics: attention distance, LC-MAE S^attn / S^sim, HLVM image quality, TLCL SVD component distance."""

import piq
import torch
import torch.nn.functional as F

from maelab.models.losses import cosine_matrix

# piq.ssim uses an 11x11 Gaussian window without padding, so smaller images raise inside piq.
_SSIM_MIN_SIZE = 11


@torch.no_grad()
def patch_center_distances(grid_size: tuple[int, int], patch_size: int) -> torch.Tensor:
    """Pixel distance between patch centres of a row-major (gh, gw) grid -> [L, L], L = gh * gw."""
    gh, gw = grid_size
    rows, cols = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    centres = torch.stack([rows.flatten(), cols.flatten()], dim=-1).float() * patch_size  # [L, 2]
    return (centres[:, None] - centres[None]).norm(dim=-1)


@torch.no_grad()
def attention_distance(
    attn: torch.Tensor, grid_size: tuple[int, int], patch_size: int, num_prefix_tokens: int = 1
) -> torch.Tensor:
    """Mean attention distance per head in pixels (Dosovitskiy et al. 2021; LC-MAE Fig. 5/6/A.1) -> [H].

    attn: [B, H, N, N] softmax probabilities, N = num_prefix_tokens + gh * gw. Prefix (cls) rows and columns are
    dropped and each query row renormalised to sum 1; per query sum_k a_qk d(q, k), averaged over queries and images.
    """
    num_patches = grid_size[0] * grid_size[1]
    if attn.shape[-1] != num_prefix_tokens + num_patches or attn.shape[-2] != attn.shape[-1]:
        raise ValueError(f"attn {tuple(attn.shape)} does not match {num_prefix_tokens} prefix tokens + {grid_size} grid")
    a = attn[..., num_prefix_tokens:, num_prefix_tokens:]
    a = a / a.sum(dim=-1, keepdim=True)  # [B, H, L, L]
    dist = patch_center_distances(grid_size, patch_size).to(a)  # [L, L]
    return (a * dist).sum(dim=-1).mean(dim=(0, 2))


@torch.no_grad()
def s_attn_per_image(attn_maps: torch.Tensor) -> torch.Tensor:
    """Per image i: mean over j != i of cos(A_i, A_j); attn_maps [I, ...] (e.g. [I, k, h, n]) -> [I]. Eq. 7 is their mean."""
    num_images = attn_maps.shape[0]
    if num_images < 2:
        raise ValueError(f"S^attn needs at least 2 images, got {num_images}")
    x = F.normalize(attn_maps.flatten(1), dim=1)  # [I, F]
    gram = x @ x.T  # [I, I]
    return (gram.sum(1) - gram.diagonal()) / (num_images - 1)


@torch.no_grad()
def s_attn(attn_maps: torch.Tensor) -> float:
    """LC-MAE eq. 7: mean cos(A_i, A_j) over ordered image pairs i != j; attn_maps: [I, ...] e.g. [I, k, h, n]."""
    return s_attn_per_image(attn_maps).mean().item()


@torch.no_grad()
def similarity_weights(features: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
    """CutLER/TokenCut patch affinity W used in LC-MAE eq. 8: features [I, n, D] -> cosine similarities [I, n, n].

    Binarisation is optional and off by default (LC-MAE uses the "normalized cosine similarity matrix"); with a
    threshold tau, W becomes 1 where W > tau and 1e-5 elsewhere, as in TokenCut/CutLER (which use tau 0.2 / 0.15).
    """
    w = cosine_matrix(features)
    if threshold is None:
        return w
    return torch.where(w > threshold, 1.0, 1e-5).to(w)


@torch.no_grad()
def s_sim_per_image(w_ref: torch.Tensor, w_layer: torch.Tensor) -> torch.Tensor:
    """cos(vec(W_ref_i), vec(W_layer_i)) per image; w_ref, w_layer: [I, n, n] -> [I]. Eq. 8 is their mean."""
    return F.cosine_similarity(w_ref.flatten(1), w_layer.flatten(1), dim=1)


@torch.no_grad()
def s_sim(w_ref: torch.Tensor, w_layer: torch.Tensor) -> float:
    """LC-MAE eq. 8: mean over images of cos(vec(W_ref_i), vec(W_layer_i)); w_ref, w_layer: [I, n, n]."""
    return s_sim_per_image(w_ref, w_layer).mean().item()


@torch.no_grad()
def image_quality(reference: torch.Tensor, reconstruction: torch.Tensor, data_range: float = 1.0) -> dict[str, torch.Tensor]:
    """HLVM §3.1 per-image SSIM, PSNR (dB), FSIM and MSE for images [B, C, H, W], C in {1, 3} -> each [B].

    Both inputs are clamped to [0, data_range] first (piq rejects values outside it) and all four metrics use the
    clamped images, so PSNR = 10 log10(data_range^2 / MSE). piq defaults: SSIM with an 11x11 Gaussian window
    (sigma 1.5, no padding, so H, W >= 11); PSNR capped near 80 dB for identical images (piq adds 1e-8 to the
    normalised MSE); FSIM_c for RGB, plain FSIM (luminance only) for greyscale. MSE is in units of data_range^2.
    """
    channels, height, width = reference.shape[-3:]
    if channels not in (1, 3):
        raise ValueError(f"image_quality expects 1 or 3 channels, got {channels}")
    if min(height, width) < _SSIM_MIN_SIZE:
        raise ValueError(f"image_quality needs H, W >= {_SSIM_MIN_SIZE} (piq SSIM window), got {height}x{width}")
    x = reconstruction.clamp(0, data_range)
    y = reference.clamp(0, data_range)
    return {
        "ssim": piq.ssim(x, y, data_range=data_range, reduction="none"),
        "psnr": piq.psnr(x, y, data_range=data_range, reduction="none"),
        "fsim": piq.fsim(x, y, data_range=data_range, reduction="none", chromatic=channels == 3),
        "mse": (x - y).pow(2).mean(dim=(1, 2, 3)),
    }


@torch.no_grad()
def svd_component_distance(x0: torch.Tensor, x0_hat: torch.Tensor, k: int = 5) -> torch.Tensor:
    """TLCL §6.1: ||s_i u_i v_i^T - ŝ_i û_i v̂_i^T||_F^2 / ||s_i u_i v_i^T||_F^2, i = 1..k; [..., N, F] -> [..., k].

    Components are matched by index (i-th largest singular value of each matrix). Uses the closed form
    s^2 + ŝ^2 - 2 s ŝ (u.û)(v.v̂) for unit vectors; flipping the sign of a singular pair (u_i, v_i) leaves the
    product (u.û)(v.v̂) unchanged, so the SVD sign ambiguity cancels. Components with repeated singular values are
    not unique and their distances are not meaningful.
    """
    if k > min(x0.shape[-2:]):
        raise ValueError(f"k={k} exceeds the rank bound min(N, F) of a {tuple(x0.shape[-2:])} matrix")
    u, s, vh = torch.linalg.svd(x0, full_matrices=False)
    u_hat, s_hat, vh_hat = torch.linalg.svd(x0_hat, full_matrices=False)
    u_dot = (u[..., :, :k] * u_hat[..., :, :k]).sum(dim=-2)  # [..., k]
    v_dot = (vh[..., :k, :] * vh_hat[..., :k, :]).sum(dim=-1)  # [..., k]
    s, s_hat = s[..., :k], s_hat[..., :k]
    squared_diff = s**2 + s_hat**2 - 2 * s * s_hat * u_dot * v_dot
    return squared_diff.clamp(min=0) / s**2
