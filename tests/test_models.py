import pytest
import torch

from maelab.models.decoders import DecoderConfig, gaussian_kernel
from maelab.models.mae import MAEConfig, MaskedAutoencoder
from maelab.models.vit import ViTConfig, ViTEncoder, attention_modules, capture_attention


def _block_valid(grid: tuple[int, int], p: int, b: int) -> torch.Tensor:
    """[1, L, b*b] 1 where pixel (u, v) of token (i, j)'s centred b x b block lies inside the image, written as loops."""
    (gh, gw), pad = grid, (b - p) // 2
    valid = torch.zeros(1, gh * gw, b * b)
    for i in range(gh):
        for j in range(gw):
            for u in range(b):
                for v in range(b):
                    r, c = i * p - pad + u, j * p - pad + v
                    valid[0, i * gw + j, u * b + v] = float(0 <= r < gh * p and 0 <= c < gw * p)
    return valid


@pytest.mark.parametrize("kind", ["transformer", "weighted_average", "conv"])
@pytest.mark.parametrize("target_block", [None, 12])
def test_decoder_output_shapes(tiny_mae_cfg, kind, target_block):
    cfg = MAEConfig(tiny_mae_cfg.encoder, DecoderConfig(kind=kind, dim=16, depth=1, num_heads=2), target_block=target_block)
    model = MaskedAutoencoder(cfg)
    out = model(torch.randn(3, 1, 16, 16), mask_ratio=0.75)
    side = target_block or 4
    assert out.pred.shape == (3, 16, side * side) and out.target.shape == out.pred.shape
    assert out.hidden.shape == (3, 16, 16)
    assert (out.mask.sum(1) == 12).all()
    # the loss is the mean over the removed tokens of each token's mse over its in-image pixels
    valid = _block_valid((4, 4), 4, target_block or 4)
    per_token = ((out.pred - out.target) ** 2 * valid).sum(-1) / valid.sum(-1)
    torch.testing.assert_close(out.loss, per_token[out.mask.bool()].mean())
    out.loss.backward()


def test_any_channel_count_and_patch():
    enc = ViTEncoder(ViTConfig(img_size=32, patch_size=8, in_chans=3, embed_dim=32, depth=1, num_heads=2))
    latent, m = enc(torch.randn(2, 3, 32, 32), mask_ratio=0.5)
    assert latent.shape == (2, 1 + 8, 32) and m.mask.shape == (2, 16)


def test_gaussian_window_is_normalised():
    k = gaussian_kernel(5, 1.0)
    assert abs(k.sum().item() - 1) < 1e-6 and k.argmax().item() == 12
    assert torch.allclose(k, k.T) and torch.allclose(k, k.flip(0))


def test_weighted_average_of_constant_tokens_is_constant_even_at_border(tiny_mae_cfg):
    cfg = MAEConfig(tiny_mae_cfg.encoder, DecoderConfig(kind="weighted_average", dim=16))
    dec = MaskedAutoencoder(cfg).decoder
    x = torch.ones(1, 16, 16) * 3
    assert torch.allclose(dec.average(x), x, atol=1e-6)


def test_autoencoder_mode_uses_every_token(tiny_mae_cfg):
    """AE(b): nothing removed, so the loss averages every token (each over its in-image block pixels)."""
    model = MaskedAutoencoder(MAEConfig(tiny_mae_cfg.encoder, tiny_mae_cfg.decoder, mask_ratio=0.0, target_block=12))
    out = model(torch.randn(2, 1, 16, 16))
    assert out.mask.sum() == 0 and out.pred.shape == (2, 16, 144)
    valid = _block_valid((4, 4), 4, 12)
    assert valid.sum().item() == 4 * 64 + 8 * 96 + 4 * 144  # corner, edge and inner tokens see 8x8, 8x12, 12x12 pixels
    per_token = ((out.pred - out.target) ** 2 * valid).sum(-1) / valid.sum(-1)
    torch.testing.assert_close(out.loss, per_token.mean())


def test_mae_loss_averages_removed_tokens_only_by_hand():
    """Guards against averaging the MAE loss over all tokens: 4 constant patches of value 1..4 against pred 0,
    per-token mse 1, 4, 9, 16; tokens 1 and 2 removed -> (4 + 9) / 2 = 6.5 (all tokens would give 7.5)."""
    enc = ViTConfig(img_size=4, patch_size=2, in_chans=1, embed_dim=8, depth=1, num_heads=2)
    model = MaskedAutoencoder(MAEConfig(enc, DecoderConfig(dim=8, depth=1, num_heads=2), norm_pix_loss=False))
    imgs = torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]).view(1, 1, 4, 4)
    loss, target = model.forward_loss(imgs, torch.zeros(1, 4, 4), torch.tensor([[0.0, 1.0, 1.0, 0.0]]))
    assert target[0, :, 0].tolist() == [1, 2, 3, 4]
    assert loss.item() == pytest.approx(6.5)
    # a batch: mean over all removed tokens of the batch (MAE), (1 + 4 + 16) / 3, not per-image means (9.25)
    loss, _ = model.forward_loss(imgs.repeat(2, 1, 1, 1), torch.zeros(2, 4, 4), torch.tensor([[1.0, 1, 0, 0], [0, 0, 0, 1]]))
    assert loss.item() == pytest.approx(7.0)
    # through forward: the removed tokens come from the noise (small = keep)
    out = model(imgs, mask_ratio=0.5, noise=torch.tensor([[0.1, 0.9, 0.8, 0.2]]))
    assert out.mask.tolist() == [[0.0, 1.0, 1.0, 0.0]]
    per_token = ((out.pred - out.target) ** 2).mean(-1)[0]
    torch.testing.assert_close(out.loss, (per_token[1] + per_token[2]) / 2)


def test_fused_and_explicit_attention_agree(tiny_mae_cfg):
    model = MaskedAutoencoder(tiny_mae_cfg).eval()
    x = torch.randn(2, 1, 16, 16)
    noise = torch.rand(2, 16)
    fused = model(x, noise=noise).pred
    modules = attention_modules(model)
    assert modules and all(m.fused_attn for m in modules)
    with capture_attention(modules) as maps:
        explicit = model(x, noise=noise).pred
    assert torch.allclose(fused, explicit, rtol=1e-4, atol=1e-5)
    assert all(m.fused_attn for m in modules)  # restored
    enc_depth, dec_depth = 2, 1
    assert len(maps) == enc_depth + dec_depth
    enc_map, dec_map = maps[0], maps[-1]
    assert enc_map.shape == (2, 2, 1 + 4, 1 + 4)  # 4 visible tokens + cls
    assert dec_map.shape == (2, 2, 17, 17)
    assert torch.allclose(dec_map.sum(-1), torch.ones(2, 2, 17), atol=1e-5)


def test_local_crop_gets_scaled_positions():
    enc = ViTEncoder(ViTConfig(img_size=28, patch_size=4, in_chans=1, embed_dim=32, depth=1, num_heads=2))
    latent, _ = enc(torch.randn(2, 1, 12, 12))
    assert latent.shape == (2, 1 + 9, 32)
