import math

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


def test_lcmae_settings_are_configurations(tiny_mae_cfg):
    x = torch.randn(4, 1, 16, 16)
    totals = {}
    for name, losses in {"a": LCMAELosses(), "b": LCMAELosses(True, False, False), "g": LCMAELosses(False, True, True)}.items():
        torch.manual_seed(0)
        model = LCMAE(MaskedAutoencoder(tiny_mae_cfg), projector_dim=8, losses=losses)
        torch.manual_seed(1)
        loss, logs = model(x)
        totals[name] = (loss.item(), {k: v.item() for k, v in logs.items()})
    loss_a, logs_a = totals["a"]
    assert abs(loss_a - (logs_a["l_mae"] + logs_a["l_cross"] + logs_a["l_in"])) < 1e-5
    assert abs(totals["b"][0] - totals["b"][1]["l_mae"]) < 1e-6
    assert abs(totals["g"][0] - (totals["g"][1]["l_cross"] + totals["g"][1]["l_in"])) < 1e-6


def test_lcmae_freezes_parts_no_loss_reaches(tiny_mae_cfg):
    model = LCMAE(MaskedAutoencoder(tiny_mae_cfg), projector_dim=8, losses=LCMAELosses(False, True, False))
    loss, _ = model(torch.randn(2, 1, 16, 16))
    loss.backward()
    assert all(p.grad is None for p in model.mae.decoder.pred.parameters())
    assert all(p.grad is not None for p in model.projector.parameters())
    assert model.mae.encoder.blocks[0].attn.qkv.weight.grad is not None
