import pytest
import torch

from maelab.models.targets import block_targets, normalize_targets, patchify, unpatchify


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


def test_normalize_targets_ignores_invalid_pixels():
    t = torch.tensor([[[1.0, 2.0, 3.0, 100.0]]])
    valid = torch.tensor([[[1.0, 1.0, 1.0, 0.0]]])
    n = normalize_targets(t, valid)
    # mean 2, unbiased var 1 over the 3 valid pixels; the invalid pixel is zeroed
    assert torch.allclose(n, torch.tensor([[[-1.0, 0.0, 1.0, 0.0]]]) / (1 + 1e-6) ** 0.5)
