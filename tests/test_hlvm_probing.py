"""HLVM probing (lib/maelab/papers/hlvm/probing.py): metrics by hand, decoders on planted signals, the segmentation head."""

import numpy as np
import pytest
import torch

from maelab.data import hierarchical
from maelab.models.targets import patchify
from maelab.papers.hlvm import probing


def test_weighted_scores_by_hand():
    ones = np.ones((1, 4))
    acc = {"kind": "accuracy", "correct": np.array([1, 0, 1, 1])}
    assert probing.weighted_score(acc, ones)[0] == 0.75
    assert probing.weighted_score(acc, np.array([[2.0, 2, 0, 0]]))[0] == 0.5  # image 0 twice, image 1 twice
    r2 = {"kind": "r2", "res2": np.array([1.0, 0, 1, 2]), "tot2": np.array([2.0, 2, 2, 2])}
    assert probing.weighted_score(r2, ones)[0] == pytest.approx(1 - 4 / 8)
    bias = {"kind": "shape_bias", "shape": np.array([1, 0, 0, 1]), "texture": np.array([0, 1, 0, 0])}
    assert probing.weighted_score(bias, ones)[0] == pytest.approx(2 / 3)  # image 2 followed neither cue: not counted
    # two classes: class 0 inter 3 + 1 over union 4 + 4, class 1 inter 0 over union 2
    iou = {"kind": "miou", "inter": np.array([[3, 0], [1, 0]]), "union": np.array([[4, 1], [4, 1]])}
    assert probing.weighted_score(iou, np.ones((1, 2)))[0] == pytest.approx((4 / 8 + 0) / 2)


def test_iou_counts_by_hand():
    pred = torch.tensor([[[0, 1], [1, 1]]])
    truth = torch.tensor([[[0, 0], [1, 1]]])
    m = probing.iou_counts(pred, truth, 2)
    np.testing.assert_array_equal(m["inter"], [[1, 2]])
    np.testing.assert_array_equal(m["union"], [[2, 3]])


def test_bootstrap_pairs_resamples():
    rng = np.random.default_rng(0)
    a = {"kind": "accuracy", "correct": rng.integers(0, 2, 500)}
    est, draws = probing.bootstrap({"a": a, "b": dict(a)}, n_boot=200)
    assert est["a"] == pytest.approx(a["correct"].mean())
    np.testing.assert_array_equal(draws["a"], draws["b"])  # same images resampled for both: the paired difference is 0
    lo, hi = probing.ci(draws["a"])
    assert lo < est["a"] < hi
    with pytest.raises(ValueError):
        probing.bootstrap({"a": a, "c": {"kind": "accuracy", "correct": np.ones(3)}})


def planted(n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Features that hold class and pose_x linearly, and nothing about rotation."""
    data = {
        "labels": rng.integers(0, 3, n),
        "latents": {"pose_x": rng.uniform(-4, 4, n), "rotation": rng.uniform(-0.6, 0.6, n)},
        "object_mask": np.zeros((n, 32, 32), bool),
    }
    data["latents"]["class"] = data["labels"]
    x = np.concatenate([np.eye(3)[data["labels"]] * 3, data["latents"]["pose_x"][:, None], rng.normal(size=(n, 4))], 1)
    return x, data


def test_decode_finds_planted_latents_only():
    rng = np.random.default_rng(0)
    (xtr, train), (xte, test) = planted(2000, rng), planted(1000, rng)
    m = probing.decode(xtr, train, xte, test, latents=("class", "pose_x", "rotation"))
    est, _ = probing.bootstrap(m, n_boot=10)
    assert est["class"] == 1.0
    assert est["pose_x"] > 0.99
    assert abs(est["rotation"]) < 0.02  # out-of-sample R^2 of an absent latent is about 0


def test_block_latents_scored_on_covered_blocks_only():
    mask = np.zeros((2, 32, 32), bool)
    mask[0, :4, :4] = True  # image 0 covers block (0, 0) only
    mask[1, :2, :4] = True  # half of block (0, 0): counts as covered
    valid = probing.block_on_object(mask)
    assert valid.shape == (2, hierarchical.GRID**2)
    assert valid[:, 0].all() and valid[:, 1:].sum() == 0


def test_seg_head_pixel_order_matches_patch_pixels():
    """Identity weights from a patch's pixels (patchify) to one class's p x p logits must give the image back."""
    imgs = torch.randn(2, 1, 8, 8)
    tok = patchify(imgs, 4)  # [2, 4, 16]
    head = probing.TokenSegHead(16, 1, 4, torch.zeros(16), torch.ones(16))
    with torch.no_grad():
        head.proj.weight.copy_(torch.eye(16))
        head.proj.bias.zero_()
    torch.testing.assert_close(head(tok), imgs)


def test_seg_head_learns_a_pixel_rule():
    imgs = torch.randn(300, 1, 8, 8)
    labels = (imgs[:, 0] > 0).long()
    tok = patchify(imgs, 4)
    head = probing.fit_seg_head(tok[:200], labels[:200], 2, 4, epochs=200, lr=0.05)
    m = probing.iou_counts(probing.predict_seg(head, tok[200:]), labels[200:], 2)
    assert probing.weighted_score(m, np.ones((1, 100)))[0] > 0.9


def test_c_membership_on_the_true_dag():
    """On the generator's DAG the class node is never in C (pruned behind the texture family, see the notebook) and
    the pixel-noise level, which reaches every block, is in C for every mask."""
    latents = hierarchical.generate("test", n=2, seed=0)["latents"]
    df = probing.c_membership(latents, [(0.5, 1), (0.75, 2)], n_masks=3, seed=0)
    assert len(df) == 4
    assert (df["class"] == 0).all() and (df["noise_std"] == 1).all()
    assert ((df[list(probing.LATENTS)] >= 0) & (df[list(probing.LATENTS)] <= 1)).all().all()


def test_decode_blocks_reads_each_block_from_its_own_token():
    """Tokens that carry their own block's tex_level (and noise) give R^2 near 1 for it, about 0 for tex_phase."""
    rng = np.random.default_rng(0)

    def split(n):
        lat = {z: rng.normal(size=(n, hierarchical.GRID, hierarchical.GRID)) for z in probing.BLOCK_LATENTS}
        mask = np.zeros((n, 32, 32), bool)
        mask[:, 8:24, 8:24] = True  # the central 4x4 blocks are covered
        tok = np.concatenate([lat["tex_level"].reshape(n, -1, 1), rng.normal(size=(n, 64, 3))], 2)
        return torch.tensor(tok, dtype=torch.float32), {"latents": lat, "object_mask": mask}

    (ttr, train), (tte, test) = split(300), split(200)
    est, _ = probing.bootstrap(probing.decode_blocks(ttr, train, tte, test), n_boot=10)
    assert est["tex_level"] > 0.99
    assert abs(est["tex_phase"]) < 0.05
    with pytest.raises(ValueError, match="one per texture block"):
        probing.decode_blocks(ttr[:, :16], train, tte[:, :16], test)


def test_seed_floor_is_the_largest_gap_between_seeds():
    def rep(acc_a, acc_b):
        n = 10
        return {
            name: {"kind": "accuracy", "correct": (np.arange(n) < round(acc * n)).astype(np.int8)}
            for name, acc in (("a", acc_a), ("b", acc_b))
        }

    reps = [rep(0.5, 0.1), rep(0.7, 0.1), rep(0.6, 0.3)]
    assert probing.seed_floor(reps, ["a"]) == pytest.approx(20.0)  # 70 - 50 points
    assert probing.seed_floor(reps, ["a", "b"]) == pytest.approx(15.0)  # means 30, 40, 45
    assert probing.seed_floor(reps[:1], ["a"]) is None
