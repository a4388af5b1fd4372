"""LC-MAE (Yue et al., §3.3, Fig 1): MAE plus explicit local contrastive losses on two masked views.

Where the projector sits. The paper writes v = p(h(x, m)) with h = g o f the whole encoder-decoder
and p "an extra fully connected layer". We apply p to the decoder's last token features (`hidden`:
the LayerNorm output that MAE's pixel head reads), at every token position:
  * h(x, m)_j in eq 2/4 is the decoder output at position j, and the pixel head is itself one linear
    layer, so p is a second linear head parallel to it on the same features;
  * in settings without L_MAE, (c), (d), (g), the pixel head gets no gradient; a projector on its
    random, frozen output would only see a fixed random projection of the features;
  * pixel space is tiny at our scale (p*p*C = 16 for 4x4 grey patches); a 1024-d projection of it
    would have rank 16.
Both views always go through the model, so every Table 1 setting sees exactly the same inputs and
masks and the settings differ only in which losses are summed. In setting (b), L_MAE averaged over
two views is MAE on a batch with two independent masks per image.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..data.augment import mae_augment
from .losses import cross_view_loss, in_view_loss, normalized_std
from .mae import MaskedAutoencoder
from .targets import patchify
from .vit import ViTEncoder


@dataclass(frozen=True)
class LCMAELosses:
    """Which of L_MAE, L_cross (eq 5), L_in (eq 6) are summed into the objective."""

    mae: bool = True
    cross: bool = True
    in_view: bool = True


class LCMAE(nn.Module):
    """Pretraining interface: forward(uint8 images, generator) -> (loss, logs), MAE's augmentation first."""

    def __init__(self, mae: MaskedAutoencoder, dataset: str, projector_dim: int = 1024, losses: LCMAELosses = LCMAELosses()):
        super().__init__()
        self.dataset = dataset
        if not (losses.mae or losses.cross or losses.in_view):
            raise ValueError("LC-MAE needs at least one of the losses mae, cross, in_view")
        self.mae = mae
        self.losses = losses
        self.projector = nn.Linear(mae.cfg.decoder.dim, projector_dim)
        nn.init.xavier_uniform_(self.projector.weight)
        nn.init.zeros_(self.projector.bias)
        # parts no enabled loss reaches are frozen: no weight decay on them, and DDP needs no unused-parameter search
        self.mae.decoder.pred.requires_grad_(losses.mae)
        self.projector.requires_grad_(losses.cross or losses.in_view)

    @property
    def encoder(self) -> ViTEncoder:
        return self.mae.encoder

    def forward(
        self, images: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.objective(mae_augment(images, self.dataset, generator))

    def objective(self, imgs: torch.Tensor, mask_ratio: float | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Normalised imgs [B, C, H, W] -> (loss, logs). Two independent random masks per image, one forward of 2B."""
        out = self.mae(torch.cat([imgs, imgs]), mask_ratio)
        v = self.projector(out.hidden)  # [2B, L, projector_dim]
        v1, v2 = v.chunk(2)
        m1, m2 = out.mask.chunk(2)
        x = patchify(imgs, self.mae.cfg.encoder.patch_size)  # the (dataset-normalised) input patches
        logs = {
            "l_mae": out.loss,
            "l_cross": cross_view_loss(v1, v2, m1, m2),
            "l_in": in_view_loss(v, torch.cat([x, x]), out.mask),
        }
        enabled = {"l_mae": self.losses.mae, "l_cross": self.losses.cross, "l_in": self.losses.in_view}
        loss = sum(value for name, value in logs.items() if enabled[name])
        with torch.no_grad():  # collapse statistic on one removed token per image
            first_removed = out.mask.argmax(dim=1)
            logs["v_std"] = normalized_std(v[torch.arange(v.shape[0], device=v.device), first_removed])
        return loss, logs


def eq2_sides(h_a: torch.Tensor, h_b: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq 2 per token: ||h(x,m_a)_j - x_j||^2 and ||(h(x,m_a)_j - h(x,m_b)_j) + e_pred(j|m_b)||^2. [..., L, P] -> [..., L]."""
    e_pred = h_b - x  # eq 3
    return ((h_a - x) ** 2).sum(-1), (((h_a - h_b) + e_pred) ** 2).sum(-1)


def eq4_sides(h: torch.Tensor, x: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq 4 for token pairs (i, j): ||h_i - x_i||^2 and ||(h_i - h_j) - (x_i - x_j) + e_pred(j|m)||^2. h, x: [L, P]."""
    e_pred = h[j] - x[j]
    return ((h[i] - x[i]) ** 2).sum(-1), (((h[i] - h[j]) - (x[i] - x[j]) + e_pred) ** 2).sum(-1)
