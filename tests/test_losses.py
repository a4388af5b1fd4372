import math

import pytest
import torch

from maelab.models.lcmae import LCMAE, LCMAELosses, eq2_sides, eq4_sides
from maelab.models.losses import cross_view_loss, in_view_loss, normalized_std, reconstruction_loss
from maelab.models.mae import MaskedAutoencoder


def test_reconstruction_loss_only_on_removed_tokens():
    pred = torch.zeros(1, 3, 2)
    target = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    # per-token mse: 1, 4, 9 -> mean over removed tokens (4 + 9) / 2
    assert reconstruction_loss(pred, target, mask).item() == 6.5


def test_reconstruction_loss_valid_pixels():
    pred = torch.zeros(1, 1, 4)
    target = torch.tensor([[[2.0, 2.0, 2.0, 50.0]]])
    valid = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    assert reconstruction_loss(pred, target, torch.ones(1, 1), valid).item() == 4.0


def test_cross_view_loss_zero_for_identical_views():
    v = torch.randn(2, 6, 8)
    m = (torch.rand(2, 6) > 0.3).float()
    assert cross_view_loss(v, v.clone(), m, m).abs().item() < 1e-6


def test_cross_view_loss_hand_computed():
    v1 = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    v2 = torch.tensor([[[0.0, 1.0], [-1.0, 0.0], [5.0, 5.0]]])
    m1 = torch.tensor([[1.0, 1.0, 0.0]])
    m2 = torch.tensor([[1.0, 1.0, 1.0]])
    # co-masked positions 0 and 1: (1 - 0) + (1 - (-1)) = 3, mean 1.5; position 2 ignored
    assert abs(cross_view_loss(v1, v2, m1, m2).item() - 1.5) < 1e-6


def test_cross_view_loss_gradient_by_hand():
    """Guards against a stop-gradient in eq 5: a = (1, 0), b = (1, 1), 1 - cos = 1 - 1/sqrt(2), and both views get
    the gradient of 1 - cos(a, b): d/da = -(b/|b| - cos a/|a|)/|a|, d/db = -(a/|a| - cos b/|b|)/|b|."""
    v1 = torch.tensor([[[1.0, 0.0]]], requires_grad=True)
    v2 = torch.tensor([[[1.0, 1.0]]], requires_grad=True)
    m = torch.ones(1, 1)
    loss = cross_view_loss(v1, v2, m, m)
    assert loss.item() == pytest.approx(1 - 1 / math.sqrt(2))
    loss.backward()
    c = 1 / math.sqrt(2)
    # d/da = -((c, c) - c * (1, 0)) / 1 = (0, -c); d/db = -((1, 0) - c * (c, c)) / sqrt(2) = (-1/2, 1/2) * c
    torch.testing.assert_close(v1.grad, torch.tensor([[[0.0, -c]]]))
    torch.testing.assert_close(v2.grad, torch.tensor([[[-0.5 * c, 0.5 * c]]]))


def test_in_view_loss_three_tokens_by_hand():
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])
    x = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]]])
    m = torch.tensor([[1.0, 1.0, 1.0]])
    c = 1 / math.sqrt(2)
    # cos(v): (0,1)=0 (0,2)=c (1,2)=c ; cos(x): (0,1)=1 (0,2)=0 (1,2)=0
    # |diffs| over ordered pairs i != j: 2 * (1 + c + c) / 6
    expected = 2 * (1 + 2 * c) / 6
    assert abs(in_view_loss(v, x, m).item() - expected) < 1e-6
    # only removed tokens take part: with token 2 visible only the pair (0,1) counts
    assert abs(in_view_loss(v, x, torch.tensor([[1.0, 1.0, 0.0]])).item() - 1.0) < 1e-6


def test_normalized_std_collapse_and_spread():
    assert normalized_std(torch.ones(64, 16) * 3).item() < 1e-6
    spread = normalized_std(torch.randn(4096, 16)).item()
    assert 0.9 < spread < 1.1


def test_eq2_and_eq4_are_identities():
    h_a, h_b, x = torch.randn(3, 10, 16, dtype=torch.float64).unbind(0)
    lhs, rhs = eq2_sides(h_a, h_b, x)
    assert torch.allclose(lhs, rhs, atol=1e-12)
    i, j = torch.tensor([0, 3, 5]), torch.tensor([1, 1, 9])
    lhs, rhs = eq4_sides(h_a, x, i, j)
    assert torch.allclose(lhs, rhs, atol=1e-12)


def _lcmae(cfg, losses: LCMAELosses | None = None, seed: int = 0) -> LCMAE:
    """A tiny LC-MAE on Fashion-MNIST statistics (its forward augments uint8 images)."""
    torch.manual_seed(seed)
    return LCMAE(MaskedAutoencoder(cfg), "fashion_mnist", projector_dim=8, losses=losses or LCMAELosses())


def _lcmae_objective(model: LCMAE, imgs: torch.Tensor):
    """(loss, logs) on already normalised images."""
    return model.objective(imgs)


def _run_with_views(model: LCMAE, imgs: torch.Tensor, call=None):
    """One step with forward hooks: returns (loss, logs, v [2B, L, D] projector outputs (grad retained), mask [2B, L]).
    call(model, imgs) -> (loss, logs) defaults to the objective on normalised images."""
    vs, masks = [], []

    def keep_v(_m, _i, out):
        out.retain_grad()
        vs.append(out)

    hooks = [
        model.projector.register_forward_hook(keep_v),
        model.mae.register_forward_hook(lambda _m, _i, out: masks.append(out.mask)),
    ]
    try:
        loss, logs = (call or _lcmae_objective)(model, imgs)
    finally:
        for h in hooks:
            h.remove()
    assert len(vs) == len(masks) == 1, "expected one projector / MAE call on the 2B stacked views"
    return loss, logs, vs[0], masks[0]


def test_lcmae_settings_are_configurations(tiny_mae_cfg):
    x = torch.randn(4, 1, 16, 16)
    totals = {}
    settings = {"a": LCMAELosses(), "b": LCMAELosses(True, False, False), "g": LCMAELosses(False, True, True)}
    for name, losses in settings.items():
        model = _lcmae(tiny_mae_cfg, losses)
        torch.manual_seed(1)
        loss, logs = _lcmae_objective(model, x)
        totals[name] = (loss.item(), {k: v.item() for k, v in logs.items()})
    loss_a, logs_a = totals["a"]
    assert min(logs_a["l_mae"], logs_a["l_cross"], logs_a["l_in"]) > 1e-3  # every part is a live loss
    assert abs(loss_a - (logs_a["l_mae"] + logs_a["l_cross"] + logs_a["l_in"])) < 1e-5
    assert abs(totals["b"][0] - totals["b"][1]["l_mae"]) < 1e-6
    assert abs(totals["g"][0] - (totals["g"][1]["l_cross"] + totals["g"][1]["l_in"])) < 1e-6
    # same init, same torch RNG: the settings see the same masks, so the shared parts are equal
    assert totals["a"][1]["l_cross"] == pytest.approx(totals["g"][1]["l_cross"], abs=1e-6)
    assert totals["a"][1]["l_mae"] == pytest.approx(totals["b"][1]["l_mae"], abs=1e-6)


def test_lcmae_l_cross_compares_the_two_views(tiny_mae_cfg):
    """Guards against L_cross on one view twice (always 0): eq 5 recomputed from the projector outputs of the two
    views, 1 - cos at positions removed in both, averaged over those positions."""
    model = _lcmae(tiny_mae_cfg, LCMAELosses(False, True, False))
    torch.manual_seed(1)
    loss, logs, v, mask = _run_with_views(model, torch.randn(4, 1, 16, 16))
    v1, v2 = v.detach().double().chunk(2)
    m1, m2 = mask.double().chunk(2)
    both = m1 * m2
    assert both.sum() > 0 and not torch.equal(m1, m2)  # two independent masks per image
    cos = (v1 * v2).sum(-1) / (v1.norm(dim=-1) * v2.norm(dim=-1))
    expected = ((1 - cos) * both).sum() / both.sum()
    assert logs["l_cross"].item() > 1e-3
    assert logs["l_cross"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)  # setting (c): L_cross alone


def test_lcmae_pretraining_forward_on_uint8_images(tiny_mae_cfg):
    """The training entry point (uint8 images + augmentation generator) computes the same eq 5 on its two views."""
    model = _lcmae(tiny_mae_cfg, LCMAELosses(False, True, False))
    imgs = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    loss, logs, v, mask = _run_with_views(model, imgs, lambda m, x: m(x, torch.Generator().manual_seed(2)))
    v1, v2 = v.detach().double().chunk(2)
    both = mask.double().chunk(2)[0] * mask.double().chunk(2)[1]
    cos = (v1 * v2).sum(-1) / (v1.norm(dim=-1) * v2.norm(dim=-1))
    assert logs["l_cross"].item() > 1e-3
    assert logs["l_cross"].item() == pytest.approx((((1 - cos) * both).sum() / both.sum()).item(), rel=1e-5)
    torch.manual_seed(1)
    again, _ = model(imgs, torch.Generator().manual_seed(2))
    assert again.item() == loss.item()  # reproducible from the generator and the torch RNG


def test_lcmae_l_cross_gradient_reaches_both_views(tiny_mae_cfg):
    """Guards against a stop-gradient on one view: d(1 - cos(a, b))/da = -(b/|b| - cos a/|a|) / |a|, and symmetrically
    for b, at co-removed positions (divided by their count); zero elsewhere. Checked on both halves of the 2B batch."""
    model = _lcmae(tiny_mae_cfg, LCMAELosses(False, True, False))
    torch.manual_seed(1)
    loss, _, v, mask = _run_with_views(model, torch.randn(4, 1, 16, 16))
    loss.backward()
    a, b = v.detach().double().chunk(2)
    both = (mask.double().chunk(2)[0] * mask.double().chunk(2)[1])[..., None]
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True) / (na * nb)
    grad_a = -(b / nb - cos * a / na) / na * both / both.sum()
    grad_b = -(a / na - cos * b / nb) / nb * both / both.sum()
    g1, g2 = v.grad.double().chunk(2)
    assert g1.abs().sum() > 0 and g2.abs().sum() > 0
    torch.testing.assert_close(g1, grad_a, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(g2, grad_b, rtol=1e-4, atol=1e-7)
    # and on to the encoder, which both views share
    assert model.mae.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_lcmae_freezes_parts_no_loss_reaches(tiny_mae_cfg):
    model = _lcmae(tiny_mae_cfg, LCMAELosses(False, True, False))
    loss, _ = _lcmae_objective(model, torch.randn(2, 1, 16, 16))
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.mae.decoder.pred.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.projector.parameters())
    assert model.mae.encoder.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_far_from_visible_leaves_out_removed_pixels_next_to_the_context():
    """HLVM §3.6 border loss on a 3x3 grid of 2-px patches with only the centre visible, width 1: each removed patch
    loses the row/column (corners: the one pixel) touching the centre; the centre's own pixels stay 1."""
    from maelab.models.mae import far_from_visible
    from maelab.models.vit import ViTConfig

    enc = ViTConfig(img_size=6, patch_size=2, in_chans=1, embed_dim=8, depth=1, num_heads=1)
    mask = torch.ones(1, 9)
    mask[0, 4] = 0
    keep = far_from_visible(mask, enc, 1).view(9, 2, 2)
    assert torch.equal(keep[4], torch.ones(2, 2))
    assert torch.equal(keep[1], torch.tensor([[1.0, 1.0], [0.0, 0.0]]))  # above the centre: its bottom row borders it
    assert torch.equal(keep[3], torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # left of it: its right column
    assert torch.equal(keep[0], torch.tensor([[1.0, 1.0], [1.0, 0.0]]))  # the diagonal corner touches at one pixel
    assert torch.equal(far_from_visible(mask, enc, 2).view(9, 2, 2)[1], torch.zeros(2, 2))


def test_border_loss_is_the_mae_loss_on_the_pixels_it_keeps(tiny_mae_cfg):
    """loss_ignore_border = w: the per-token mean squared error over the kept pixels, averaged over removed tokens that
    keep any; checked against a direct computation from the same prediction and target."""
    from dataclasses import replace

    from maelab.models.mae import MaskedAutoencoder, far_from_visible

    torch.manual_seed(0)
    cfg = replace(tiny_mae_cfg, loss_ignore_border=1)
    model = MaskedAutoencoder(cfg)
    imgs = torch.randn(3, cfg.encoder.in_chans, cfg.encoder.img_size, cfg.encoder.img_size)
    torch.manual_seed(1)
    out = model(imgs)
    keep = far_from_visible(out.mask, cfg.encoder, 1)
    err = ((out.pred - out.target) ** 2 * keep).sum(-1) / keep.sum(-1).clamp(min=1)
    used = out.mask * (keep.sum(-1) > 0)
    assert torch.allclose(out.loss, (err * used).sum() / used.sum(), atol=1e-6)
    assert used.sum() < out.mask.sum() or keep.mean() < 1  # some pixels were actually left out
