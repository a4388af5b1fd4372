"""TLCL wing: the §4/§6 measurements against hand-computed or independent values."""

import numpy as np
import pytest
import torch
from scipy import stats

from maelab.data import hierarchical
from maelab.data.datasets import DataConfig
from maelab.models.decoders import DecoderConfig
from maelab.models.mae import MAEConfig, MaskedAutoencoder
from maelab.models.vit import ViTConfig
from maelab.papers import tlcl


def test_effective_and_numerical_rank():
    s = torch.tensor([[1.0, 1.0, 0.0, 0.0], [4.0, 1.0, 1.0, 0.001]])
    assert torch.allclose(effective := tlcl.effective_rank(s)[0], torch.tensor(2.0)), effective
    q = np.array([4, 1, 1, 0.001]) / 6.001
    assert tlcl.effective_rank(s)[1].item() == pytest.approx(np.exp(-(q * np.log(q)).sum()), rel=1e-5)
    assert tlcl.numerical_rank(s, 1e-2).tolist() == [2, 3]


def test_component_distances_zero_for_exact_and_one_for_missing_component():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 12, 6, generator=g)
    assert torch.allclose(tlcl.component_distances(x, x, 5), torch.zeros(3, 5), atol=1e-8)
    u, s, vh = torch.linalg.svd(x, full_matrices=False)
    s2 = s.clone()
    s2[:, 2] = 0  # the reconstruction misses the third component; the others stay leading in order
    m = u @ torch.diag_embed(s2) @ vh
    d = tlcl.component_distances(x, m, 2)  # components 1-2 are unchanged
    assert torch.allclose(d, torch.zeros(3, 2), atol=1e-8)
    # a sign flip of a singular pair is the same component
    assert torch.allclose(tlcl.component_distances(x, -x, 5), torch.full((3, 5), 4.0), atol=1e-6)


def test_normalized_adjacency_by_hand():
    x0 = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]])
    adj, n, deg = tlcl.normalized_adjacency(x0, r=2)  # full rank: w = x0 x0^T
    w = np.array([[1, 1, 0], [1, 2, 2], [0, 2, 4]], float)
    d = w.sum(1) ** -0.5
    assert np.allclose(deg[0].numpy(), w.sum(1))
    assert np.allclose(adj[0].numpy(), d[:, None] * w * d[None])
    assert torch.allclose(n @ n.mT, adj)  # the proof's N with N N^T = 𝒜


def test_normalized_adjacency_nonpositive_degree_is_zeroed():
    x0 = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]]])  # degrees 0, 0, 0
    adj, _, deg = tlcl.normalized_adjacency(x0, r=1)
    assert (deg <= 0).all() and torch.equal(adj, torch.zeros_like(adj))


def test_gram_bound_holds_and_spectral_terms_match_definitions():
    g = torch.Generator().manual_seed(1)
    m, n = torch.randn(50, 9, 4, generator=g), torch.randn(50, 9, 4, generator=g)
    lhs, rhs = tlcl.gram_bound(m, n)
    assert (lhs <= rhs + 1e-9).all()
    terms = tlcl.spectral_terms(n, m, r=4)
    assert np.allclose(terms["l_mae"], ((m - n).double() ** 2).sum((1, 2)).numpy())
    assert np.allclose(terms["nn_minus_adj"], 0, atol=1e-9)
    adj = tlcl.normalized_adjacency(n, 4)[0]
    assert np.allclose(terms["l_spec"], ((m.double() @ m.double().mT - adj) ** 2).sum((1, 2)).numpy())


def test_row_spearman_matches_scipy():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(4, 11, generator=g), torch.randn(4, 11, generator=g)
    ours = tlcl.row_spearman(a, b).numpy()
    ref = [stats.spearmanr(a[i], b[i]).statistic for i in range(4)]
    assert np.allclose(ours, ref)


def test_masked_patches_and_attention_similarity_shapes():
    torch.manual_seed(0)
    enc = ViTConfig(img_size=16, patch_size=4, in_chans=1, embed_dim=16, depth=1, num_heads=2)
    mae = MaskedAutoencoder(MAEConfig(encoder=enc, decoder=DecoderConfig(dim=8, depth=2, num_heads=2))).eval()
    mats = tlcl.masked_patches(mae, torch.randn(3, 1, 16, 16))
    assert mats["x0"].shape == mats["m"].shape == (3, 12, 16) and mats["xv"].shape == (3, 4, 16)
    assert mats["attn"].shape == (3, 2, 12, 4) and torch.allclose(mats["attn"].sum(-1), torch.ones(3, 2, 12))
    sim = tlcl.attention_similarity(mats)
    assert set(sim) == {"u", "u_shuffled", "pixel", "pixel_shuffled"} and sim["u"].shape == (3, 2)
    assert np.all(np.abs(sim["pixel"]) <= 1 + 1e-9)


def test_kmeans_miou_perfect_and_hungarian_matching():
    truth = np.zeros((1, 8, 8), dtype=np.int64)
    truth[0, :, 4:] = 1  # right half is the object
    feats = np.zeros((1, 4, 2))  # 2x2 patch grid, 4x4 px each
    feats[0, [1, 3]] = [5.0, 5.0]  # right column of patches
    miou, clusters = tlcl.kmeans_miou(feats, truth, k=2)
    assert miou[0] == pytest.approx(1.0) and clusters[0, 1] == clusters[0, 3] != clusters[0, 0]
    feats[0, 2] = [5.0, 5.0]  # now 3 patches in one cluster: background IoU 1/2, object IoU 2/3
    miou, _ = tlcl.kmeans_miou(feats, truth, k=2)
    assert miou[0] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_segmentation_images_ground_truth(tmp_path):
    seg = tlcl.segmentation_images(5, 20, seed=3, data=DataConfig(name="hierarchical", root=str(tmp_path)))
    assert seg["images"].shape == (5, 1, 32, 32) and seg["parts"].max() <= 4
    assert np.array_equal(seg["object"] > 0, seg["parts"] > 0)
    # read from the cached test split (the HLVM notebooks' loader), whose first `pool` images are generate(pool)'s
    assert hierarchical.cache_path(tmp_path, "test").exists()
    first = hierarchical.generate("test", 20)
    pick = np.sort(np.random.default_rng(3).choice(20, 5, replace=False))
    assert np.array_equal(seg["images"], first["images"][pick])
    assert np.array_equal(seg["parts"], first["part_map"][pick])
    assert np.array_equal(seg["object"], first["object_mask"][pick].astype(np.int64))


def test_kernel_adjacency_by_hand():
    x0 = torch.tensor([[[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]]])
    adj, n, deg = tlcl.normalized_adjacency(x0, r=2, kernel=True)
    w = np.array([[1, -1, 0], [-1, 1, 0], [0, 0, 4]], float)
    k = np.exp(w / 2.0)  # 2 sigma^2 = mean of w_ii = 2
    d = k.sum(1) ** -0.5
    assert n is None and (deg > 0).all()
    assert np.allclose(adj[0].numpy(), d[:, None] * k * d[None])


def test_component_distance_is_the_spectral_norm():
    x = torch.tensor([[[3.0, 0.0], [0.0, 1.0]]])  # components 3 e1 e1^T and 1 e2 e2^T
    d = tlcl.component_distances(x, torch.tensor([[[3.0, 0.0], [0.0, 0.5]]]), 2)
    assert torch.allclose(d, torch.tensor([[0.0, 0.25]]), atol=1e-6)  # (1 - 0.5)^2 / 1^2
    swapped = torch.tensor([[[1.0, 0.0], [0.0, 3.0]]])  # first component 3 e2 e2^T: difference diag(3, -3)
    assert tlcl.component_distances(x, swapped, 1).item() == pytest.approx(1.0, rel=1e-5)  # spectral 9 / 9 (Frobenius: 2)
