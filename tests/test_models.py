import pytest
import torch

from maelab.models.decoders import DecoderConfig, gaussian_kernel
from maelab.models.mae import MAEConfig, MaskedAutoencoder
from maelab.models.vit import ViTConfig, ViTEncoder, attention_modules, capture_attention


@pytest.mark.parametrize("kind", ["transformer", "weighted_average", "conv"])
@pytest.mark.parametrize("target_block", [None, 12])
def test_decoder_output_shapes(tiny_mae_cfg, kind, target_block):
    cfg = MAEConfig(tiny_mae_cfg.encoder, DecoderConfig(kind=kind, dim=16, depth=1, num_heads=2), target_block=target_block)
    model = MaskedAutoencoder(cfg)
    out = model(torch.randn(3, 1, 16, 16), mask_ratio=0.75)
    side = target_block or 4
    assert out.pred.shape == (3, 16, side * side) and out.target.shape == out.pred.shape
    assert out.hidden.shape == (3, 16, 16)
    assert torch.isfinite(out.loss)
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
    model = MaskedAutoencoder(MAEConfig(tiny_mae_cfg.encoder, tiny_mae_cfg.decoder, mask_ratio=0.0, target_block=12))
    out = model(torch.randn(2, 1, 16, 16))
    assert out.mask.sum() == 0 and out.pred.shape == (2, 16, 144)
    assert out.loss > 0


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
