"""HLVM §3.1-§3.3 measurements (papers/hlvm/experiments.py) against hand-computed or independent values."""

import numpy as np
import pytest
import torch

from maelab.data.augment import normalize
from maelab.models.mae import MaskedAutoencoder
from maelab.models.vit import ViTConfig, ViTEncoder, attention_modules, capture_attention
from maelab.papers.hlvm import experiments as hx


def test_paper_tables_are_consistent_where_they_share_a_model():
    # unit 8 is the same model in both designs (ViT patch 8); Table 1's ratio rows are the coupled patch-16 model
    assert hx.TABLE1_UNIT[8] == hx.TABLE4_COUPLED[8]
    assert hx.TABLE1_RATIO[0.75] == hx.TABLE4_COUPLED[16]
    assert all(len(v) == len(hx.EVAL_SETS) for t in (hx.TABLE1_RATIO, hx.TABLE1_UNIT, hx.TABLE4_COUPLED) for v in t.values())


def test_reconstruct_with_a_zero_decoder_is_the_patch_mean_image(tiny_mae_cfg):
    torch.manual_seed(0)
    mae = MaskedAutoencoder(tiny_mae_cfg).eval()
    head = [m for m in mae.decoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    imgs = torch.randn(3, 1, 16, 16)
    rec = hx.reconstruct(mae, imgs)
    # by hand: every 4x4 patch at its own mean
    expected = imgs.unfold(2, 4, 4).unfold(3, 4, 4).mean(dim=(-1, -2)).repeat_interleave(4, 2).repeat_interleave(4, 3)
    torch.testing.assert_close(rec, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(hx.patch_mean_image(imgs, 4), expected)


def test_reconstruction_quality_of_a_perfect_reconstruction():
    imgs = normalize(torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8), "fashion_mnist")
    q = hx.reconstruction_quality(1, imgs, "fashion_mnist")  # patch 1: each pixel its own mean, i.e. the input
    np.testing.assert_allclose(q["ssim"], 1.0, atol=1e-4)
    np.testing.assert_allclose(q["fsim"], 1.0, atol=1e-4)
    np.testing.assert_allclose(q["neg_mse"], 0.0, atol=1e-10)
    assert (q["psnr"] > 60).all()


def test_to_unit_range_inverts_normalize():
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    torch.testing.assert_close(hx.to_unit_range(normalize(x, "hierarchical"), "hierarchical"), x.float() / 255)


def test_token_coverage_and_object_token_by_hand():
    mask = np.zeros((1, 4, 4), bool)
    mask[0, :2, :2] = True  # top-left patch full
    mask[0, 2, 2] = True  # one pixel of the bottom-right patch
    cov = hx.token_coverage(mask, 2)
    np.testing.assert_allclose(cov, [[1.0, 0.0, 0.0, 0.25]])
    assert hx.object_token(cov, (2, 2)).tolist() == [0]
    # a tie in coverage goes to the token nearer the centroid
    cov = np.array([[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]])  # 3x3 grid: tokens 0, 1, 6
    assert hx.object_token(cov, (3, 3)).tolist() == [0]  # centroid (2/3, 1/3): distances 0.75, 0.94, 1.37


def test_mass_inside_of_uniform_attention_is_the_area_fraction():
    cov = np.array([[1.0, 0.0, 0.0, 0.25]])
    np.testing.assert_allclose(hx.mass_inside(np.full((1, 4), 0.25), cov), [1.25 / 4])
    np.testing.assert_allclose(hx.mass_inside(np.array([[1.0, 0, 0, 0]]), cov), [1.0])


def test_patch_attention_drops_cls_and_the_query_token():
    rows = torch.tensor([[[0.2, 0.4, 0.2, 0.2]]])  # [B=1, H=1, 1 + L]
    torch.testing.assert_close(hx.patch_attention(rows), torch.tensor([[[0.5, 0.25, 0.25]]]))
    torch.testing.assert_close(hx.patch_attention(rows, torch.tensor([0])), torch.tensor([[[0.0, 0.5, 0.5]]]))


def test_dino_keep_holds_the_smallest_set_with_60_percent_of_the_mass():
    keep = hx.dino_keep(np.array([[0.1, 0.5, 0.1, 0.3], [0.25, 0.25, 0.25, 0.25]]))
    assert keep[0].tolist() == [False, True, False, True]  # 0.5 + 0.3 >= 0.6, 0.5 alone is not
    assert keep[1].sum() == 3  # 3 x 0.25 >= 0.6


def test_attention_on_object_matches_the_captured_last_layer():
    torch.manual_seed(0)

    enc = ViTEncoder(ViTConfig(img_size=8, patch_size=4, in_chans=1, embed_dim=16, depth=2, num_heads=2)).eval()
    imgs = torch.randn(3, 1, 8, 8)
    mask = np.zeros((3, 8, 8), bool)
    mask[:, :4, :4] = True  # the object fills patch 0: mass inside = attention to patch 0
    out = hx.attention_on_object(enc, imgs, mask, batch_size=2)
    with capture_attention(attention_modules(enc)) as maps:
        enc(imgs)
    last = maps[-1]  # [B, H, 5, 5]
    cls = last[:, :, 0, 1:] / last[:, :, 0, 1:].sum(-1, keepdim=True)
    np.testing.assert_allclose(out["cls"], cls.mean(1)[:, 0].numpy(), rtol=1e-5)
    assert out["token_index"].tolist() == [0, 0, 0]
    np.testing.assert_allclose(out["token"], 0.0, atol=1e-7)  # its own patch is excluded; no other patch is object
    np.testing.assert_allclose(out["uniform"], 0.25)
    np.testing.assert_allclose(out["uniform_token"], 0.0)
    np.testing.assert_allclose(out["cls_map"].sum(1), 1.0, rtol=1e-5)


def test_corruptions():
    x = torch.randint(0, 256, (5, 1, 12, 12), dtype=torch.uint8)
    assert torch.equal(hx.corrupt(x, "inversion"), 255 - x)
    c = hx.corrupt(x, "contrast").float()
    assert torch.allclose(c.mean(dim=(1, 2, 3)), x.float().mean(dim=(1, 2, 3)), atol=0.6)
    assert c.std() < 0.35 * x.float().std()
    assert torch.equal(hx.corrupt(x, "noise"), hx.corrupt(x, "noise"))
    assert not torch.equal(hx.corrupt(x, "noise"), x)
    flat = torch.full((1, 1, 9, 9), 100, dtype=torch.uint8)
    assert torch.equal(hx.corrupt(flat, "blur"), flat)  # a constant image is unchanged by a normalised blur
    with pytest.raises(ValueError, match="unknown corruption"):
        hx.corrupt(x, "rotation")


def test_linear_probe_and_knn_separability_on_separable_and_random_labels():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 60)
    x = rng.normal(size=(600, 20)) + 10 * np.eye(10, 20)[y]
    correct = hx.linear_probe(x[::2], y[::2], {"a": x[1::2], "b": rng.normal(size=(300, 20))}, y[1::2])
    assert correct["a"].mean() == 1.0 and correct["b"].mean() < 0.3
    assert hx.knn_separability(x, y).mean() > 0.99
    assert hx.knn_separability(x, rng.permutation(y)).mean() < 0.25
    assert hx.tsne(x[:100]).shape == (100, 2)


def test_compare_and_all_of():
    a, b = np.ones(200), np.zeros(200)
    delta, ci, decision, raw = hx.compare(a, b, None, "points")
    assert delta == 1.0 and raw == "reproduced" and decision[0] == "untestable at this scale"
    assert hx.compare(a, b, 0.5, "points")[2][0] == "reproduced"
    assert "test-image CI alone" not in hx.compare(a, b, 0.5, "points")[2][1]  # the floor changed nothing
    _, _, decision, raw = hx.compare(a, b, 2.0, "points")
    assert decision[0] == "inconclusive" and raw == "reproduced"
    assert "seed noise floor 2 points" in decision[1] and "(the test-image CI alone: reproduced)" in decision[1]
    assert hx.all_of([("reproduced", "x"), ("inconclusive", "y")])[0] == "inconclusive"
    assert hx.all_of([("reproduced", "x"), ("not reproduced", "y"), ("untestable at this scale", "z")])[0] == "not reproduced"
    assert hx.missing(["a", "b"], ["a"])[0] == "untestable at this scale"


def test_base_seed_runs_and_their_floors():
    from maelab.pipeline.config import load_profile

    p = load_profile("mini")
    assert hx.base_seed_runs(p) == ["hlvm_r0.75_u8", "hlvm_r0.75_u8_s1", "hlvm_r0.75_u8_s2"]
    measured = {"s0": {"m": np.array([0.5, 0.7])}, "s1": {"m": np.array([0.2, 0.2])}, "s2": {"m": np.array([0.4, 0.4])}}
    # largest gap between two seeds' means, x scale; a seed not measured is left out; < 2 seeds: unmeasured
    assert hx.seed_floors(measured, ["s0", "s1", "s2", "s3"], ["m"], scale=100) == {"m": pytest.approx(40.0)}
    assert hx.seed_floors(measured, ["s0", "s3"], ["m"]) == {"m": None}
