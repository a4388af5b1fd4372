"""Tests for maelab.evaluation.metrics against hand-computed values and independent implementations (numpy, scikit-image)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from maelab.evaluation.metrics import (
    attention_distance,
    image_quality,
    patch_center_distances,
    s_attn,
    s_sim,
    similarity_weights,
    svd_component_distance,
)


def _one_hot_attention(targets: list[int], num_prefix: int = 1) -> torch.Tensor:
    """[N, N] attention where patch query q attends only to patch targets[q] (the prefix rows attend to token 0)."""
    n = num_prefix + len(targets)
    attn = torch.zeros(n, n)
    attn[:num_prefix, 0] = 1
    for q, k in enumerate(targets):
        attn[num_prefix + q, num_prefix + k] = 1
    return attn


def _grid_targets(dr: int, dc: int, gh: int = 3, gw: int = 3) -> list[int]:
    """Row-major target of each patch: the (dr, dc) neighbour if it exists, else the patch itself."""
    out = []
    for r in range(gh):
        for c in range(gw):
            inside = 0 <= r + dr < gh and 0 <= c + dc < gw
            out.append((r + dr) * gw + c + dc if inside else r * gw + c)
    return out


def test_patch_center_distances_row_major() -> None:
    d = patch_center_distances((2, 3), 16)
    assert d.shape == (6, 6)
    assert torch.equal(d, d.T) and torch.all(d.diagonal() == 0)
    assert d[0, 1] == 16  # (0,0) -> (0,1)
    assert d[0, 3] == 16  # (0,0) -> (1,0)
    assert d[0, 5] == pytest.approx(math.hypot(16, 32))  # (0,0) -> (1,2)


def test_attention_distance_one_hot_heads() -> None:
    heads = [_grid_targets(0, 1), _grid_targets(0, 0), _grid_targets(1, 1)]  # right, self, down-right
    attn = torch.stack([_one_hot_attention(t) for t in heads])[None]  # [1, 3, 10, 10]
    dist = attention_distance(attn, (3, 3), 4)
    # 6 of 9 queries have a right neighbour at 4 px; 4 of 9 have a diagonal one at 4*sqrt(2) px.
    expected = torch.tensor([6 * 4 / 9, 0.0, 4 * 4 * math.sqrt(2) / 9])
    torch.testing.assert_close(dist, expected)


def test_attention_distance_ignores_prefix_and_renormalises() -> None:
    right = _one_hot_attention(_grid_targets(0, 1))
    diluted = right.clone()
    diluted[1:] *= 0.3  # 70 % of every patch query's mass goes to cls, which must be dropped
    diluted[1:, 0] = 0.7
    diluted[0] = 0
    diluted[0, -1] = 1  # the cls query looks at the far corner; it must not count
    attn = torch.stack([right, diluted])[None]
    dist = attention_distance(attn, (3, 3), 4)
    torch.testing.assert_close(dist, torch.full((2,), 6 * 4 / 9))


def test_attention_distance_averages_images_and_prefix_count() -> None:
    right = _one_hot_attention(_grid_targets(0, 1), num_prefix=2)
    down = _one_hot_attention(_grid_targets(1, 0), num_prefix=2)
    self_attn = _one_hot_attention(_grid_targets(0, 0), num_prefix=2)
    attn = torch.stack([torch.stack([right, down]), torch.stack([self_attn, right])])  # [2, 2, 11, 11]
    dist = attention_distance(attn, (3, 3), 4, num_prefix_tokens=2)
    torch.testing.assert_close(dist, torch.tensor([(24 / 9 + 0) / 2, (24 / 9 + 24 / 9) / 2]))
    with pytest.raises(ValueError, match="prefix"):
        attention_distance(attn, (3, 3), 4, num_prefix_tokens=1)


def test_attention_distance_random_matches_loop() -> None:
    torch.manual_seed(0)
    gh, gw, p = 3, 4, 8
    attn = torch.randn(2, 3, 1 + gh * gw, 1 + gh * gw).softmax(-1)
    expected = torch.zeros(3)
    for b in range(2):
        for h in range(3):
            for q in range(gh * gw):
                row = attn[b, h, 1 + q, 1:]
                for k in range(gh * gw):
                    dy, dx = (q // gw - k // gw) * p, (q % gw - k % gw) * p
                    expected[h] += row[k] / row.sum() * math.hypot(dy, dx) / (2 * gh * gw)
    torch.testing.assert_close(attention_distance(attn, (gh, gw), p), expected)


def _brute_s_attn(maps: torch.Tensor) -> float:
    n = maps.shape[0]
    total = sum(
        F.cosine_similarity(maps[i].flatten(), maps[j].flatten(), dim=0).item() for i in range(n) for j in range(n) if i != j
    )
    return total / (n * (n - 1))


def test_s_attn_identical_and_hand_example() -> None:
    maps = torch.rand(1, 3, 2, 5).repeat(4, 1, 1, 1)
    assert s_attn(maps) == pytest.approx(1.0, abs=1e-6)
    # cos(a,b) = 0, cos(a,c) = cos(b,c) = 1/sqrt(2); scaling c must not matter.
    hand = torch.tensor([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    assert s_attn(hand) == pytest.approx(2 * (2 / math.sqrt(2)) / 6)


def test_s_attn_matches_double_loop() -> None:
    torch.manual_seed(1)
    maps = torch.rand(5, 6, 2, 7)
    assert s_attn(maps) == pytest.approx(_brute_s_attn(maps), abs=1e-6)
    with pytest.raises(ValueError):
        s_attn(maps[:1])


def test_similarity_weights_cosine_and_binarised() -> None:
    torch.manual_seed(2)
    feats = torch.randn(3, 6, 4)
    w = similarity_weights(feats)
    assert w.shape == (3, 6, 6)
    torch.testing.assert_close(w, w.transpose(-1, -2))
    torch.testing.assert_close(w.diagonal(dim1=-2, dim2=-1), torch.ones(3, 6))
    expected = F.cosine_similarity(feats[:, :, None], feats[:, None], dim=-1)
    torch.testing.assert_close(w, expected)

    hand = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]])  # cosines 1/sqrt(2) between neighbours, 0 for 0-2
    eps = 1e-5
    binary = torch.tensor([[[1.0, 1.0, eps], [1.0, 1.0, 1.0], [eps, 1.0, 1.0]]])
    torch.testing.assert_close(similarity_weights(hand, threshold=0.5), binary)


def test_s_sim_identical_negated_and_loop() -> None:
    torch.manual_seed(3)
    w_ref = similarity_weights(torch.randn(4, 5, 3))
    w_dec = similarity_weights(torch.randn(4, 5, 3))
    assert s_sim(w_ref, w_ref) == pytest.approx(1.0, abs=1e-6)
    assert s_sim(w_ref, -2 * w_ref) == pytest.approx(-1.0, abs=1e-6)
    pairs = zip(w_ref.numpy(), w_dec.numpy())
    loop = np.mean([np.dot(a.ravel(), b.ravel()) / np.linalg.norm(a) / np.linalg.norm(b) for a, b in pairs])
    assert s_sim(w_ref, w_dec) == pytest.approx(float(loop), abs=1e-6)


def _smooth_pair(channels: int, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random smooth images in [0, 1] and a noisy, slightly blurred reconstruction of them."""
    g = torch.Generator().manual_seed(seed)
    ref = F.interpolate(torch.rand(3, channels, size // 4, size // 4, generator=g), size=size, mode="bilinear")
    noise = 0.1 * torch.randn(3, channels, size, size, generator=g)
    rec = (F.avg_pool2d(ref, 3, stride=1, padding=1, count_include_pad=False) + noise).clamp(0, 1)
    return ref, rec


def test_image_quality_identical() -> None:
    for channels, size in [(1, 28), (3, 32)]:
        ref, _ = _smooth_pair(channels, size)
        q = image_quality(ref, ref)
        torch.testing.assert_close(q["ssim"], torch.ones(3))
        torch.testing.assert_close(q["fsim"], torch.ones(3))
        torch.testing.assert_close(q["mse"], torch.zeros(3))
        assert torch.all(torch.isfinite(q["psnr"])) and torch.all(q["psnr"] >= 79)


@pytest.mark.parametrize("channels", [1, 3])
def test_image_quality_matches_skimage_and_numpy(channels: int) -> None:
    ref, rec = _smooth_pair(channels, seed=channels)
    q = image_quality(ref, rec)
    for i in range(3):
        r, x = ref[i].double().numpy(), rec[i].double().numpy()
        ssim = structural_similarity(
            r, x, channel_axis=0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
        )
        assert q["ssim"][i].item() == pytest.approx(ssim, abs=1e-4)
        assert q["psnr"][i].item() == pytest.approx(peak_signal_noise_ratio(r, x, data_range=1.0), abs=1e-3)
        assert q["mse"][i].item() == pytest.approx(np.mean((r - x) ** 2), rel=1e-5)
    assert torch.all((q["fsim"] > 0.5) & (q["fsim"] < 1))
    assert torch.all(q["ssim"] < 1)


def test_image_quality_clamps_and_data_range() -> None:
    ref, rec = _smooth_pair(3)
    overshoot = rec.clone()
    overshoot[:, :, :4] = 1.5  # out of range: clamped, not an error
    q = image_quality(ref, overshoot)
    q_clamped = image_quality(ref, overshoot.clamp(0, 1))
    for name in q:
        torch.testing.assert_close(q[name], q_clamped[name])
    q255 = image_quality(255 * ref, 255 * rec, data_range=255.0)
    q1 = image_quality(ref, rec)
    for name in ("ssim", "psnr", "fsim"):
        torch.testing.assert_close(q255[name], q1[name], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(q255["mse"], 255**2 * q1["mse"], rtol=1e-4, atol=0)


def test_image_quality_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="11"):
        image_quality(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="channels"):
        image_quality(torch.rand(1, 2, 32, 32), torch.rand(1, 2, 32, 32))


def _matrix_with_spectrum(
    s: list[float], n: int = 8, f: int = 7, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """x = U diag(s) V^T with random orthonormal U [n, r], V [f, r]; returns (x, U, s, V) in float64."""
    g = torch.Generator().manual_seed(seed)
    u = torch.linalg.qr(torch.randn(n, len(s), generator=g, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(f, len(s), generator=g, dtype=torch.float64))[0]
    sv = torch.tensor(s, dtype=torch.float64)
    return u @ torch.diag(sv) @ v.T, u, sv, v


def test_svd_component_distance_hand_cases() -> None:
    x0, u, s, v = _matrix_with_spectrum([10.0, 8.0, 6.0, 4.0, 2.0, 1.0])
    torch.testing.assert_close(svd_component_distance(x0, x0), torch.zeros(5, dtype=torch.float64))
    torch.testing.assert_close(svd_component_distance(x0, torch.zeros_like(x0)), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(svd_component_distance(x0, 0.5 * x0), torch.full((5,), 0.25, dtype=torch.float64))

    # Shrinking s_3 from 6 to 5 keeps the ordering: only component 3 changes, by (6 - 5)^2 / 6^2.
    shrunk = x0 - 1.0 * torch.outer(u[:, 2], v[:, 2])
    expected = torch.tensor([0, 0, 1 / 36, 0, 0], dtype=torch.float64)
    torch.testing.assert_close(svd_component_distance(x0, shrunk), expected)

    # Removing component 3 shifts later ones up: index 3 of x0_hat is x0's 4th component (orthogonal to x0's 3rd),
    # so d_3 = (6^2 + 4^2) / 6^2 and d_4 = (4^2 + 2^2) / 4^2, matching components by index as TLCL §6.1 does.
    removed = x0 - 6.0 * torch.outer(u[:, 2], v[:, 2])
    expected = torch.tensor([0, 0, 52 / 36, 20 / 16, 5 / 4], dtype=torch.float64)
    torch.testing.assert_close(svd_component_distance(x0, removed), expected)


def test_svd_component_distance_matches_materialised_numpy() -> None:
    torch.manual_seed(4)
    x0 = torch.randn(2, 3, 10, 6, dtype=torch.float64)
    x0_hat = x0 + 0.3 * torch.randn_like(x0)
    got = svd_component_distance(x0, x0_hat, k=4)
    assert got.shape == (2, 3, 4)
    for idx in np.ndindex(2, 3):
        u, s, vh = np.linalg.svd(x0[idx].numpy(), full_matrices=False)  # independent SVD: its own sign choices
        uh, sh, vhh = np.linalg.svd(x0_hat[idx].numpy(), full_matrices=False)
        for i in range(4):
            a = s[i] * np.outer(u[:, i], vh[i])
            b = sh[i] * np.outer(uh[:, i], vhh[i])
            assert got[idx][i].item() == pytest.approx(np.sum((a - b) ** 2) / np.sum(a**2), rel=1e-8, abs=1e-10)
    with pytest.raises(ValueError):
        svd_component_distance(x0, x0_hat, k=7)


def test_per_image_values_average_to_eq7_and_eq8():
    from maelab.evaluation.metrics import s_attn_per_image, s_sim_per_image

    torch.manual_seed(0)
    maps = torch.rand(5, 3, 2, 7)
    per = s_attn_per_image(maps)
    flat = torch.nn.functional.normalize(maps.flatten(1), dim=1)
    brute = torch.tensor([sum(float(flat[i] @ flat[j]) for j in range(5) if j != i) / 4 for i in range(5)])
    assert torch.allclose(per, brute, atol=1e-6) and abs(per.mean().item() - s_attn(maps)) < 1e-6
    w1, w2 = torch.rand(4, 6, 6), torch.rand(4, 6, 6)
    assert abs(s_sim_per_image(w1, w2).mean().item() - s_sim(w1, w2)) < 1e-6
