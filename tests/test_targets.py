import math

import pytest
import torch

from maelab.models.decoders import DecoderConfig
from maelab.models.mae import MAEConfig, MaskedAutoencoder
from maelab.models.targets import block_targets, normalize_targets, patchify, unpatchify
from maelab.models.vit import ViTConfig


def test_unpatchify_inverts_patchify():
    x = torch.randn(2, 3, 8, 12)
    p = patchify(x, 4)
    assert p.shape == (2, 6, 48)
    assert torch.equal(unpatchify(p, 4, (2, 3), 3), x)


def test_patch_pixel_order_is_row_col_channel():
    x = torch.arange(2 * 4 * 4.0).view(1, 2, 4, 4)  # 2 channels
    first = patchify(x, 2)[0, 0]
    # pixel (0,0) c0, (0,0) c1, (0,1) c0, (0,1) c1, (1,0) c0 ...
    assert first.tolist() == [0, 16, 1, 17, 4, 20, 5, 21]


def test_block_target_equals_patch_when_b_equals_p():
    x = torch.randn(2, 1, 12, 12)
    t, valid = block_targets(x, 4, 4)
    assert torch.equal(t, patchify(x, 4)) and valid.all()


def test_block_target_centre_and_border():
    x = torch.arange(1, 37.0).view(1, 1, 6, 6)  # 3x3 tokens of 2x2 patches
    t, valid = block_targets(x, 2, 6)  # each token predicts the 6x6 block centred on it
    assert t.shape == (1, 9, 36) and valid.shape == (1, 9, 36)
    # the centre token's block is the whole image
    assert torch.equal(t[0, 4], x.flatten())
    assert valid[0, 4].all()
    # the top-left token's block covers rows/cols -2..3: only the 4x4 top-left pixels are inside
    v = valid[0, 0].view(6, 6)
    assert v[2:, 2:].all() and v[:2].sum() == 0 and v[:, :2].sum() == 0
    assert torch.equal(t[0, 0].view(6, 6)[2:, 2:], x[0, 0, :4, :4])


def test_block_size_must_be_centred():
    with pytest.raises(ValueError, match="even difference"):
        block_targets(torch.zeros(1, 1, 8, 8), 4, 7)


def test_normalize_targets_matches_mae_formula():
    t = torch.randn(2, 5, 16)
    n = normalize_targets(t)
    ref = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True, unbiased=True) + 1e-6) ** 0.5
    assert torch.allclose(n, ref)


def test_normalize_targets_by_hand():
    """MAE norm_pix_loss: (t - mean) / sqrt(unbiased var + 1e-6); [1, 3, 5, 7]: mean 4, var 20/3 (not 1)."""
    n = normalize_targets(torch.tensor([[[1.0, 3.0, 5.0, 7.0]]]))
    expected = torch.tensor([-3.0, -1.0, 1.0, 3.0]) / math.sqrt(20 / 3 + 1e-6)
    torch.testing.assert_close(n[0, 0], expected)


def test_normalize_targets_ignores_invalid_pixels():
    """Guards the variance division of the valid-pixel (block target) branch: data of variance 4, not 1."""
    t = torch.tensor([[[1.0, 3.0, 5.0, 100.0]]])
    valid = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    n = normalize_targets(t, valid)
    # mean 3, unbiased var (4 + 0 + 4) / 2 = 4 over the 3 valid pixels; the invalid pixel is zeroed
    torch.testing.assert_close(n, torch.tensor([[[-2.0, 0.0, 2.0, 0.0]]]) / math.sqrt(4 + 1e-6))


def test_normalized_block_targets_by_hand():
    """AE(b) with norm_pix_loss end to end: 4x4 image, patch 2, block 4; the top-left token's block is
    rows/cols -1..2, so its valid pixels are the image's top-left 3x3 (values 3 * [0 1 2; 4 5 6; 8 9 10])."""
    x = 3 * torch.arange(16.0).view(1, 1, 4, 4)
    t, valid = block_targets(x, 2, 4)
    n = normalize_targets(t, valid)[0, 0].view(4, 4)
    # mean 15; deviations 3 * [-5 -4 -3; -1 0 1; 3 4 5], unbiased var = 9 * 102 / 8 = 114.75
    dev = 3 * torch.tensor([[-5.0, -4, -3], [-1, 0, 1], [3, 4, 5]])
    torch.testing.assert_close(n[1:, 1:], dev / math.sqrt(114.75 + 1e-6))
    assert n[0].abs().sum() == 0 and n[:, 0].abs().sum() == 0  # outside the image: zero
    # the model wires it the same way (forward_target with target_block and norm_pix_loss)
    enc = ViTConfig(img_size=4, patch_size=2, in_chans=1, embed_dim=8, depth=1, num_heads=2)
    mae = MaskedAutoencoder(MAEConfig(enc, DecoderConfig(dim=8, depth=1, num_heads=2), target_block=4, norm_pix_loss=True))
    target, model_valid = mae.forward_target(x)
    torch.testing.assert_close(target[0, 0].view(4, 4)[1:, 1:], dev / math.sqrt(114.75 + 1e-6))
    assert torch.equal(model_valid, valid)
