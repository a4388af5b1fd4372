"""DINO (Caron et al. 2021): self-distillation with no labels, a multi-crop student and an EMA teacher.

Our stand-in for the pretrained DINO of LC-MAE §4.1 (S_sim, eq 8) and §4.2 (Fig 5 attention distances).
Recipe of the paper (§3.1, §3.2 "Implementation details", §5, appendix) and facebookresearch/dino main_dino.py:
  loss     H(P_t(x'), P_s(x)) over pairs of different views; teacher sees the 2 global views only;
  teacher  P_t = softmax((g_t - c) / tau_t), centre c an EMA (m = 0.9) of the teacher's batch mean;
           weights an EMA of the student, momentum cosine from 0.996 to 1; DINO evaluates the teacher.
Schedules take progress = step / total_steps in [0, 1]; epoch-based settings are given as fractions of
DINO's 100-epoch schedule (set e.g. warmup_teacher_temp_frac = 30 / epochs for another length).
Per step: forward, backward, cancel_last_layer_grad, optimizer step, update_teacher; train.py's
before/after_optimizer_step hooks call those two and track progress, so forward may omit it.
Augmentation runs batched on tensors with per-image random parameters; crops are bilinear (DINO: bicubic).
"""

import math
from dataclasses import dataclass
from itertools import groupby

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import weight_norm

from ..data.augment import normalize, random_hflip, random_resized_crop
from .vit import ViTConfig, ViTEncoder


@dataclass(frozen=True)
class DINOConfig:
    """Defaults: DINO ViT-B/16 (§3.1-3.2; main_dino.py defaults, with §3.2's tau_t 0.04 -> 0.07 over 30 epochs)."""

    out_dim: int = 65536
    head_hidden_dim: int = 2048
    head_bottleneck_dim: int = 256
    head_layers: int = 3
    norm_last_layer: bool = True  # README: an un-normalised last layer is "only safe with vit_small"
    student_temp: float = 0.1
    teacher_temp: float = 0.07
    warmup_teacher_temp: float = 0.04
    warmup_teacher_temp_frac: float = 0.3  # linear warm-up over 30 of 100 epochs
    center_momentum: float = 0.9
    momentum_teacher: float = 0.996  # cosine schedule to 1 at the end of training
    freeze_last_layer_frac: float = 0.01  # 1 of 100 epochs
    global_crops_scale: tuple[float, float] = (0.4, 1.0)  # main_dino.py; the appendix's multi-crop ablation picks s = 0.4
    local_crops_number: int = 8
    local_crops_scale: tuple[float, float] = (0.05, 0.4)
    local_crop_size: int = 96  # at 224; a multiple of the patch size
    jitter_p: float = 0.8
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)  # brightness, contrast, saturation, hue
    grayscale_p: float = 0.2
    blur_p: tuple[float, float, float] = (1.0, 0.1, 0.5)  # global view 1, global view 2, local views
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # pixels at a 224 image (PIL radius), scaled by img_size / 224
    solarize_p: float = 0.2  # second global view only


def teacher_temp_at(progress: float, start: float, end: float, warmup: float) -> float:
    """tau_t: linear from start to end over the first `warmup` of training, then constant (§3.2)."""
    return end if progress >= warmup else start + (end - start) * progress / warmup


def teacher_momentum_at(progress: float, base: float) -> float:
    """EMA momentum lambda: cosine from base at progress 0 to 1 at progress 1 (§3.1)."""
    return 1.0 - (1.0 - base) * (1.0 + math.cos(math.pi * min(progress, 1.0))) / 2


# ---- photometric augmentation on float [N, C, H, W] in [0, 1], one factor per image: f [N] ----


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma [N, 1, H, W] (torchvision's rgb_to_grayscale); 1-channel images are their own."""
    return x if x.shape[1] == 1 else (x * x.new_tensor([0.2989, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)


def adjust_brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return (x * f.view(-1, 1, 1, 1)).clamp(0, 1)


def adjust_contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean grey level."""
    f = f.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * _gray(x).mean((1, 2, 3), keepdim=True)).clamp(0, 1)


def adjust_saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Blend with the image's grey version (RGB)."""
    f = f.view(-1, 1, 1, 1)
    return (f * x + (1 - f) * _gray(x)).clamp(0, 1)


def adjust_hue(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue by f (in turns, |f| <= 0.5) of RGB images."""
    v, imax = x.max(1)
    c = v - x.min(1).values  # chroma = v * s
    r, g, b = x.unbind(1)
    cs = c.clamp(min=1e-12)
    h = torch.stack([(g - b) / cs, 2 + (b - r) / cs, 4 + (r - g) / cs], 1).gather(1, imax[:, None])  # sextants
    h = (h / 6 + f.view(-1, 1, 1, 1)) % 1.0
    k = (x.new_tensor([5.0, 3.0, 1.0]).view(1, 3, 1, 1) + 6 * h) % 6
    return v[:, None] - c[:, None] * torch.minimum(k, 4 - k).clamp(0, 1)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable Gaussian blur with per-image sigma [N], kernel 2 * radius + 1, reflect padding (torchvision)."""
    N, C, H, W = x.shape
    radius = min(radius, H - 1, W - 1)
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma.view(-1, 1)) ** 2)
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(C, 0)  # [N * C, 2r + 1]
    y = F.pad(x.reshape(1, N * C, H, W), (radius, radius, 0, 0), mode="reflect")
    y = F.conv2d(y, k[:, None, None, :], groups=N * C)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k[:, None, :, None], groups=N * C)
    return y.view(N, C, H, W)


def solarize(x: torch.Tensor) -> torch.Tensor:
    """PIL ImageOps.solarize: invert pixels >= 128 / 255."""
    return torch.where(x >= 128 / 255, 1 - x, x)


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    dev = generator.device if generator is not None else device
    return torch.empty(n, device=dev).uniform_(lo, hi, generator=generator).to(device)


def _coin(p: float | torch.Tensor, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """[n] bool, True with probability p (a float or per-image [n])."""
    return _uniform(n, 0, 1, generator, device) < p


def _where(apply: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.where(apply.view(-1, 1, 1, 1), y, x)


def color_jitter(
    x: torch.Tensor, strength: tuple[float, float, float, float], generator: torch.Generator | None
) -> torch.Tensor:
    """torchvision ColorJitter per image: factors U(1 -+ s) (hue U(-+ s)), the ops in a random order.

    1-channel images get brightness and contrast only: saturation and hue are no-ops on grey (as in torchvision).
    """
    ops = [adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue][: 4 if x.shape[1] == 3 else 2]
    N = x.shape[0]
    lo = [max(0.0, 1 - s) for s in strength[:3]] + [-strength[3]]
    hi = [1 + s for s in strength[:3]] + [strength[3]]
    factors = [_uniform(N, lo[i], hi[i], generator, x.device) for i in range(len(ops))]
    order = _uniform(N * len(ops), 0, 1, generator, x.device).view(N, -1).argsort(1)  # per-image permutation
    for step in range(len(ops)):
        y = x
        for i, (op, f) in enumerate(zip(ops, factors)):
            y = _where(order[:, step] == i, op(x, f), y)
        x = y
    return x


def augment_views(
    x: torch.Tensor,
    size: int,
    scale: tuple[float, float],
    blur_p: torch.Tensor,
    solarize_p: torch.Tensor,
    cfg: DINOConfig,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """DINO view: crop, flip, jitter (p .8), grayscale (p .2, RGB), blur (blur_p [N]), solarize (solarize_p [N]).

    x: float [N, C, H, W] in [0, 1] -> [N, C, size, size] in [0, 1].
    """
    N, C, H, _ = x.shape
    dev = x.device
    x = random_hflip(random_resized_crop(x, size, scale, generator=generator), generator)
    x = _where(_coin(cfg.jitter_p, N, generator, dev), color_jitter(x, cfg.jitter, generator), x)
    if C == 3:
        x = _where(_coin(cfg.grayscale_p, N, generator, dev), _gray(x).expand_as(x), x)
    lo, hi = (s * H / 224 for s in cfg.blur_sigma)  # DINO's pixel radii are for 224-px images
    sigma = _uniform(N, lo, hi, generator, dev)
    x = _where(_coin(blur_p, N, generator, dev), gaussian_blur(x, sigma, math.ceil(3 * hi)), x)
    return _where(_coin(solarize_p, N, generator, dev), solarize(x), x)


def multicrop(x: torch.Tensor, cfg: DINOConfig, dataset: str, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Multi-crop (§3.1): uint8 [B, C, H, W] -> 2 global [B, C, H, W] + n local [B, C, s, s] normalised views.

    1-channel images get only what is defined on grey: brightness and contrast jitter, blur, solarize.
    """
    B, n = x.shape[0], cfg.local_crops_number
    x = x.float() / 255 if x.dtype == torch.uint8 else x
    blur = torch.tensor(cfg.blur_p[:2], device=x.device).repeat_interleave(B)  # [2B]: per-view probabilities
    solar = torch.tensor([0.0, cfg.solarize_p], device=x.device).repeat_interleave(B)
    views = augment_views(x.repeat(2, 1, 1, 1), x.shape[-1], cfg.global_crops_scale, blur, solar, cfg, generator).chunk(2)
    if n:
        blur, solar = torch.full((n * B,), cfg.blur_p[2], device=x.device), torch.zeros(n * B, device=x.device)
        views += augment_views(
            x.repeat(n, 1, 1, 1), cfg.local_crop_size, cfg.local_crops_scale, blur, solar, cfg, generator
        ).chunk(n)
    return [normalize(v, dataset) for v in views]


class DINOHead(nn.Module):
    """Projection head (§3.1 "Network architecture"): MLP with GELU, l2-normalised bottleneck, weight-normalised
    bias-free last layer."""

    def __init__(
        self, in_dim: int, out_dim: int, hidden_dim: int, bottleneck_dim: int, num_layers: int, norm_last_layer: bool
    ):
        super().__init__()
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
        layers: list[nn.Module] = []
        for d_in, d_out in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(d_in, d_out), nn.GELU()]
        self.mlp = nn.Sequential(*layers[:-1])
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        g = self.last_layer.parametrizations.weight.original0
        g.data.fill_(1.0)
        g.requires_grad_(not norm_last_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, in_dim] -> logits [N, out_dim]."""
        return self.last_layer(F.normalize(self.mlp(x), dim=-1))


class MultiCropNet(nn.Module):
    """Backbone cls output of each group of equal-size crops (one forward per group), then the head on all."""

    def __init__(self, backbone: ViTEncoder, head: DINOHead):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, crops: list[torch.Tensor]) -> torch.Tensor:
        """crops: list of [B, C, s, s] -> logits [len(crops) * B, out_dim], in crop order."""
        groups = [torch.cat(list(g)) for _, g in groupby(crops, key=lambda c: c.shape[-2:])]
        return self.head(torch.cat([self.backbone(g)[0][:, 0] for g in groups]))


def teacher_probs(t: torch.Tensor, center: torch.Tensor, temp: float) -> torch.Tensor:
    """P_t = softmax((g_t - c) / tau_t) (eq 1 with centring, §3.1). t: [..., K]."""
    return F.softmax((t.float() - center) / temp, dim=-1)


def dino_loss(
    s: torch.Tensor, t: torch.Tensor, center: torch.Tensor, student_temp: float, teacher_temp: float
) -> torch.Tensor:
    """Eq 3: mean over pairs (teacher view i, student view v != i) of the batch mean of H(P_t, P_s).

    s: [V_s, B, K] student logits (views in multicrop order), t: [V_t, B, K] teacher logits (global views).
    """
    q = teacher_probs(t, center, teacher_temp)
    log_p = F.log_softmax(s.float() / student_temp, dim=-1)
    ce = -torch.einsum("ibk,vbk->iv", q, log_p) / s.shape[1]  # [V_t, V_s]
    return ce[~torch.eye(*ce.shape, dtype=torch.bool, device=ce.device)].mean()


class DINO(nn.Module):
    """Student (ViT + head, drop-path) trained on all crops against an EMA teacher on the 2 global crops (§3.1, Alg. 1)."""

    crops_itself = True  # multi-crop happens in forward: image folders are loaded uncropped

    def __init__(self, encoder_cfg: ViTConfig, cfg: DINOConfig, dataset: str, drop_path_rate: float = 0.1):
        super().__init__()
        if cfg.local_crop_size % encoder_cfg.patch_size:
            raise ValueError(
                f"local_crop_size={cfg.local_crop_size} must be a multiple of patch_size={encoder_cfg.patch_size}"
            )
        self.cfg, self.dataset = cfg, dataset
        head = (
            encoder_cfg.embed_dim,
            cfg.out_dim,
            cfg.head_hidden_dim,
            cfg.head_bottleneck_dim,
            cfg.head_layers,
            cfg.norm_last_layer,
        )
        self.student = MultiCropNet(ViTEncoder(encoder_cfg, drop_path_rate), DINOHead(*head))
        self.teacher = MultiCropNet(ViTEncoder(encoder_cfg), DINOHead(*head))  # no drop-path in the teacher (main_dino.py)
        self.teacher.load_state_dict(self.student.state_dict())
        self.teacher.requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, cfg.out_dim))
        self.register_buffer("progress", torch.zeros(()))  # step / total of the next step, set by after_optimizer_step

    @property
    def encoder(self) -> ViTEncoder:
        """The teacher's backbone: the network DINO evaluates."""
        return self.teacher.backbone

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None, progress: float | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """x: uint8 [B, C, H, W] -> (loss, logs); also moves the centre. progress = step / total (None: self.progress)."""
        cfg, B = self.cfg, x.shape[0]
        progress = float(self.progress) if progress is None else progress
        temp = teacher_temp_at(progress, cfg.warmup_teacher_temp, cfg.teacher_temp, cfg.warmup_teacher_temp_frac)
        crops = multicrop(x, cfg, self.dataset, generator)
        with torch.no_grad():
            t = self.teacher(crops[:2]).view(2, B, -1)
        s = self.student(crops).view(len(crops), B, -1)
        loss = dino_loss(s, t, self.center, cfg.student_temp, temp)
        logs = {"loss": loss.detach(), "teacher_temp": loss.new_tensor(temp), **self.collapse_stats(t, loss.detach(), temp)}
        self.update_center(t.flatten(0, 1))
        return loss, logs

    @torch.no_grad()
    def collapse_stats(self, t: torch.Tensor, loss: torch.Tensor, temp: float) -> dict[str, torch.Tensor]:
        """§5.3, Fig 7: teacher entropy (log K: uniform collapse), KL(P_t || P_s) = loss - entropy (0: collapse),
        and KL of the batch-mean P_t to uniform (log K: every image on one dimension)."""
        q = teacher_probs(t, self.center, temp)
        entropy = -(q * q.clamp(min=1e-12).log()).sum(-1).mean()
        mean_q = q.mean((0, 1))
        marginal_kl = math.log(q.shape[-1]) + (mean_q * mean_q.clamp(min=1e-12).log()).sum()
        return {"teacher_entropy": entropy, "kl_teacher_student": loss - entropy, "marginal_kl_uniform": marginal_kl}

    @torch.no_grad()
    def update_center(self, t: torch.Tensor) -> None:
        """Eq 4: c <- m c + (1 - m) mean of the teacher logits t [N, K] over the global batch."""
        total, n = t.float().sum(0, keepdim=True), t.shape[0]
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(total)
            n *= dist.get_world_size()
        self.center.mul_(self.cfg.center_momentum).add_(total / n, alpha=1 - self.cfg.center_momentum)

    @torch.no_grad()
    def update_teacher(self, progress: float) -> None:
        """§3.1: theta_t <- lambda theta_t + (1 - lambda) theta_s, lambda on the cosine schedule; call after the step."""
        m = teacher_momentum_at(progress, self.cfg.momentum_teacher)
        for p_t, p_s in zip(self.teacher.parameters(), self.student.parameters()):
            p_t.mul_(m).add_(p_s.detach(), alpha=1 - m)

    def cancel_last_layer_grad(self, progress: float) -> None:
        """main_dino.py freeze_last_layer: drop the head's last-layer grads early on; call between backward and step."""
        if progress < self.cfg.freeze_last_layer_frac:
            for p in self.student.head.last_layer.parameters():
                p.grad = None

    def before_optimizer_step(self, step: int, total: int) -> None:
        """train.py hook; step = index of the update about to be made."""
        self.cancel_last_layer_grad(step / total)

    def after_optimizer_step(self, step: int, total: int) -> None:
        """train.py hook; step = updates made so far, so the one just made is step - 1."""
        self.update_teacher((step - 1) / total)
        self.progress.fill_(step / total)
