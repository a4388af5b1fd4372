"""The paired bootstraps behind the accuracy claims (bootstrap_ci over per-image differences, paired_accuracy_delta,
seed_bootstrap_delta), against the analytic CI of a paired difference and an independent resampling.

Two classifiers scored on the same 2000 test images agree on all but 40: a is right and b wrong on 30, the
reverse on 10. The per-image difference d (in points) is +100 on 30 images, -100 on 10 and 0 elsewhere:
mean 1.0, variance 40 * 100^2 / 2000 - 1 = 199, so the paired 95% CI is 1.0 +- 1.96 * sqrt(199 / 2000) = 1.0 +- 0.62.
Both are about 70% accurate, so treating the two accuracies as independent (an unpaired bootstrap) gives
+- 1.96 * 100 * sqrt(2 * 0.7 * 0.3 / 2000) = +- 2.84, more than four times wider.
"""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from maelab.evaluation import analysis, claims
from maelab.evaluation.claims import bootstrap_ci, seed_bootstrap_delta

N, A_ONLY, B_ONLY = 2000, 30, 10
PAIRED_HALF = 1.96 * math.sqrt((40 * 100**2 / N - 1.0) / N)  # 0.618
UNPAIRED_HALF = 1.96 * 100 * math.sqrt(2 * 0.7 * 0.3 / N)  # 2.84


def _predictions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pred_a, pred_b, label): both right on the same 1380 images, wrong on the same 580, and 40 disagreements."""
    label = np.arange(N) % 10
    b_right = np.zeros(N, dtype=bool)
    b_right[:1380] = True
    a_right = b_right.copy()
    a_right[1380 : 1380 + A_ONLY] = True  # a right, b wrong
    a_right[:B_ONLY] = False  # b right, a wrong
    order = np.random.default_rng(0).permutation(N)  # disagreements spread over the test set
    a_right, b_right = a_right[order], b_right[order]
    wrong = (label + 1) % 10
    return np.where(a_right, label, wrong), np.where(b_right, label, wrong), label


def test_the_construction():
    pred_a, pred_b, label = _predictions()
    assert (pred_a == label).sum() == 1380 - B_ONLY + A_ONLY and (pred_b == label).sum() == 1380
    assert ((pred_a == label) & (pred_b != label)).sum() == A_ONLY and ((pred_b == label) & (pred_a != label)).sum() == B_ONLY


def test_bootstrap_ci_of_a_paired_difference_matches_the_normal_ci():
    """bootstrap_ci over per-image differences: the analytic paired CI (within bootstrap and lattice noise)."""
    pred_a, pred_b, label = _predictions()
    d = 100.0 * ((pred_a == label).astype(float) - (pred_b == label))
    assert d.mean() == pytest.approx(1.0)
    lo, hi = bootstrap_ci(d)
    assert lo == pytest.approx(1.0 - PAIRED_HALF, abs=0.12)
    assert hi == pytest.approx(1.0 + PAIRED_HALF, abs=0.12)


def test_bootstrap_ci_matches_an_independent_resampling():
    """Percentile CI of the mean, recomputed with numpy from another seed (Monte Carlo error only)."""
    values = np.random.default_rng(5).exponential(2.0, size=300)  # skewed: percentile CI is asymmetric
    boot = values[np.random.default_rng(99).integers(0, 300, size=(4000, 300))].mean(1)
    lo, hi = bootstrap_ci(values)
    assert lo == pytest.approx(np.quantile(boot, 0.025), abs=0.05)
    assert hi == pytest.approx(np.quantile(boot, 0.975), abs=0.05)


def _serve(preds: dict, tmp_path, monkeypatch) -> SimpleNamespace:
    """Serve these predictions as runs `a` and `b` (through analysis.predictions); returns the profile to pass."""
    monkeypatch.setattr(analysis, "predictions", lambda results_dir, p, name: preds[name])
    return SimpleNamespace(name="smoke")


def test_paired_accuracy_delta_uses_the_paired_ci(tmp_path, monkeypatch):
    """Guards against an unpaired bootstrap in paired_accuracy_delta: its CI must be the narrow paired one
    (half-width 0.62), not the independent-accuracies one (2.84)."""
    pred_a, pred_b, label = _predictions()
    profile = _serve({"a": {"pred": pred_a, "label": label}, "b": {"pred": pred_b, "label": label}}, tmp_path, monkeypatch)
    delta, (lo, hi) = analysis.paired_accuracy_delta(tmp_path, profile, "a", "b")
    assert delta == pytest.approx(1.0)
    assert lo == pytest.approx(1.0 - PAIRED_HALF, abs=0.12) and hi == pytest.approx(1.0 + PAIRED_HALF, abs=0.12)
    assert hi - lo < 0.5 * 2 * UNPAIRED_HALF
    # and b - a is its mirror image
    delta_ba, (lo_ba, hi_ba) = analysis.paired_accuracy_delta(tmp_path, profile, "b", "a")
    assert delta_ba == pytest.approx(-1.0) and lo_ba == pytest.approx(-hi, abs=0.12) and hi_ba == pytest.approx(-lo, abs=0.12)


def test_paired_accuracy_delta_refuses_different_images(tmp_path, monkeypatch):
    pred_a, pred_b, label = _predictions()
    preds = {"a": {"pred": pred_a, "label": label}, "b": {"pred": pred_b, "label": np.roll(label, 1)}}
    profile = _serve(preds, tmp_path, monkeypatch)
    with pytest.raises(ValueError, match="different images"):
        analysis.paired_accuracy_delta(tmp_path, profile, "a", "b")


def test_seed_bootstrap_delta_with_one_seed_is_the_paired_ci():
    """One seed per arm: the paired bootstrap over images (half-width 0.62 here, not 2.84)."""
    pred_a, pred_b, label = _predictions()
    delta, (lo, hi) = seed_bootstrap_delta((pred_a == label)[None], (pred_b == label)[None])
    assert delta == pytest.approx(1.0)
    assert lo == pytest.approx(1.0 - PAIRED_HALF, abs=0.12) and hi == pytest.approx(1.0 + PAIRED_HALF, abs=0.12)


def test_seed_bootstrap_delta_pairs_the_images_across_seeds():
    """Guards the pairing in the hierarchical path: three identical seeds per arm add no seed variation, so the CI
    is still the paired one over images; resampling the images of a and b independently would give +- 2.84."""
    pred_a, pred_b, label = _predictions()
    a, b = np.tile(pred_a == label, (3, 1)), np.tile(pred_b == label, (2, 1))
    delta, (lo, hi) = seed_bootstrap_delta(a, b)
    assert delta == pytest.approx(1.0)
    assert lo == pytest.approx(1.0 - PAIRED_HALF, abs=0.12) and hi == pytest.approx(1.0 + PAIRED_HALF, abs=0.12)


def test_seed_bootstrap_delta_matches_an_independent_hierarchical_resampling():
    """Seeds of a at +0, +2 and -2 points around the same images: the CI widens by the seed spread and equals a
    hierarchical bootstrap written out here (seeds of each arm, then one image resample shared by both arms)."""
    pred_a, pred_b, label = _predictions()
    base, other = (pred_a == label).astype(float), (pred_b == label).astype(float)
    wrong, right = np.flatnonzero(base == 0), np.flatnonzero(base == 1)
    up, down = base.copy(), base.copy()
    up[wrong[:40]] = 1  # +2 points
    down[right[:40]] = 0  # -2 points
    a, b = np.stack([base, up, down]), other[None].repeat(2, 0)
    delta, (lo, hi) = seed_bootstrap_delta(a, b)
    assert delta == pytest.approx(1.0)
    rng = np.random.default_rng(7)
    boot = np.empty(3000)
    for k in range(3000):
        images = rng.integers(0, N, N)
        boot[k] = 100 * (a[rng.integers(0, 3, 3)][:, images].mean() - b[rng.integers(0, 2, 2)][:, images].mean())
    ref_lo, ref_hi = np.quantile(boot, [0.025, 0.975])
    assert hi - lo > 2 * 2 * PAIRED_HALF  # the seed spread shows
    assert lo == pytest.approx(ref_lo, abs=0.3) and hi == pytest.approx(ref_hi, abs=0.3)  # Monte Carlo: about 0.15


# --- Spearman: exact permutation p up to EXACT_SPEARMAN_MAX_N points ---------------------------------------------------
#
# Under independence each of the n! pairings of x with a reordering of y is equally likely; verdict_spearman's p is
# two-sided: the fraction of pairings with |rho| >= the observed |rho|. Hand counts (rho = 1 - 6 sum d^2 / (n^3 - n)):
# n = 3: rho = +1 in 1 of 3! = 6 pairings and -1 in 1, so a perfect ranking has p = 2/6 = 1/3 (one-sided 1/6);
# n = 4: 2/24 = 1/12 (one-sided 1/24); n = 5: 2/120 = 1/60. rho = 0.9 at n = 5 is sum d^2 = 2: the identity and its
# 4 adjacent swaps have sum d^2 <= 2, so P(rho >= 0.9) = 5/120 and p = 10/120 = 1/12 (scipy's t approximation: 0.037).
# With ties (average ranks): x = 1..4, y = (1, 1, 2, 2): the 24 pairings are 6 placements of y's two high values,
# 4 pairings each; |rho| is largest (0.894) when they go to x = {3, 4} or {1, 2}: p = 8/24 = 1/3.


@pytest.mark.parametrize(
    "x, y, p",
    [
        ([0.25, 0.5, 0.75], [3.0, 2.0, 1.0], 2 / 6),  # 3 ratios, rho = -1: LC-MAE Fig 6 at mini (scipy said p = 0)
        ([1, 2, 3], [1, 2, 3], 2 / 6),
        ([1, 2, 3, 4], [10, 20, 30, 40], 2 / 24),
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], 2 / 120),
        ([1, 2, 3, 4, 5], [1, 3, 2, 4, 5], 10 / 120),  # rho = 0.9
        ([1, 2, 3, 4, 5], [5, 4, 3, 1, 2], 10 / 120),  # rho = -0.9
        ([1, 2, 3, 4], [1, 1, 2, 2], 8 / 24),  # ties
    ],
)
def test_spearman_p_counts_the_pairings(x, y, p):
    rho, got, method = claims.spearman_test(x, y)
    assert got == pytest.approx(p, rel=1e-12)
    assert rho == pytest.approx(stats.spearmanr(x, y).statistic) and method.startswith(f"exact over all {len(x)}!")


def test_spearman_verdicts_for_few_points():
    assert claims.verdict_spearman([0.25, 0.5, 0.75], [3, 2, 1], +1)[0] == "inconclusive"  # p = 1/3: not decisive
    verdict, evidence = claims.verdict_spearman([1, 2, 3], [1, 2, 3], +1)
    assert verdict == "inconclusive" and "two-sided p=0.333" in evidence and "smallest attainable p is 0.333" in evidence
    assert claims.verdict_spearman([1, 2, 3, 4], [1, 2, 3, 4], +1)[0] == "inconclusive"  # p = 1/12
    assert claims.verdict_spearman([1, 2, 3, 4], [1, 2, 3, 4], +1, alpha=0.1)[0] == "reproduced"
    assert claims.verdict_spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], +1)[0] == "not reproduced"  # p = 1/60
    assert claims.verdict_spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], -1)[0] == "reproduced"
    assert claims.verdict_spearman([1, 2, 3, 4, 5], [1, 3, 2, 4, 5], +1)[0] == "inconclusive"  # rho 0.9: p = 1/12


def test_spearman_is_exact_up_to_7_points_and_asymptotic_beyond():
    rng = np.random.default_rng(0)
    x = rng.normal(size=6)
    y = x + rng.normal(size=6)
    reference = stats.permutation_test(  # one sample: its 6! orders against x (two would be permuted both)
        (y,), lambda b: stats.spearmanr(x, b).statistic, permutation_type="pairings", n_resamples=np.inf
    )
    assert claims.spearman_test(x, y)[1] == pytest.approx(reference.pvalue, rel=1e-12)
    assert claims.EXACT_SPEARMAN_MAX_N == 7
    assert claims.spearman_test(range(7), range(7))[1:] == (
        pytest.approx(2 / 5040),
        "exact over all 7! = 5040 pairings; the smallest attainable p is 0.000397",
    )
    x8 = [1, 2, 3, 4, 5, 6, 8, 7]
    assert claims.spearman_test(range(8), x8) == pytest.approx(
        (stats.spearmanr(range(8), x8).statistic, stats.spearmanr(range(8), x8).pvalue, "t approximation")
    )
    with pytest.raises(ValueError, match="same length"):
        claims.spearman_test([1, 2, 3], [1, 2])
