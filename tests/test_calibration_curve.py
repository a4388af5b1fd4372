"""The calibration notebook's learning curve and gate: checkpoints, frozen-feature classifiers, the gate rule."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from maelab.evaluation import analysis
from maelab.evaluation.claims import UNTESTABLE
from maelab.models.vit import ViTConfig, ViTEncoder
from maelab.pipeline.config import load_profile


def test_curve_epochs_are_the_snapshots_inside_the_schedule_then_its_end():
    assert analysis.curve_epochs((2.0, 0.5, 1.0), 4.0) == [0.5, 1.0, 2.0, 4.0]
    assert analysis.curve_epochs((), 1.0) == [1.0]  # smoke keeps no snapshots: the finished run only
    assert analysis.curve_epochs((0.0, 1.0, 4.0, 6.0), 4.0) == [1.0, 4.0]  # train.py keeps none at 0 or at/after the end
    mini = load_profile("mini")
    assert analysis.curve_epochs(mini.runtime.snapshot_epochs, mini.pretrain.epochs) == [0.5, 1.0, 2.0, 4.0]


def test_checkpoint_file_is_a_snapshot_inside_the_schedule_and_encoder_pt_at_its_end(tmp_path):
    p = load_profile("smoke")
    d = tmp_path / "smoke" / "runs" / "mae_r0.75"
    assert analysis.checkpoint_file(tmp_path, p, "mae_r0.75", 0.5, 4.0) == d / "snapshots" / "encoder_e0.5.pt"
    assert analysis.checkpoint_file(tmp_path, p, "mae_r0.75", 4.0, 4.0) == d / "encoder.pt"


def test_knn_correct_matches_sklearn_cosine_knn():
    rng = np.random.default_rng(0)
    train_x, test_x = rng.normal(size=(300, 8)) + 0.3, rng.normal(size=(200, 8)) + 0.3
    train_y = (train_x[:, 0] > train_x[:, 1]).astype(int) + 2 * (train_x[:, 2] > 0.3)  # 4 classes
    test_y = (test_x[:, 0] > test_x[:, 1]).astype(int) + 2 * (test_x[:, 2] > 0.3)
    ours = analysis.knn_correct(train_x, train_y, test_x, test_y, k=7)
    ref = KNeighborsClassifier(n_neighbors=7, metric="cosine", algorithm="brute").fit(train_x, train_y).predict(test_x)
    np.testing.assert_array_equal(ours, (ref == test_y).astype(np.int8))


def _tiny_scale_problem(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class = sign of feature 0, which lives at scale 1e-4 beside a pure-noise feature at scale 100."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.stack([(2 * y - 1) * 1e-4 + rng.normal(0, 2e-5, n), rng.normal(0, 100, n)], 1)
    return x, y


def test_logreg_correct_standardises_like_the_probe_batchnorm():
    (xtr, ytr), (xte, yte) = _tiny_scale_problem(1000, 0), _tiny_scale_problem(500, 1)
    # without standardisation the L2 penalty (C=1) keeps the weight of the 1e-4-scale feature near 0: chance level
    raw = (LogisticRegression().fit(xtr, ytr).predict(xte) == yte).mean()
    assert raw < 0.7
    ours = analysis.logreg_correct(xtr, ytr, xte, yte)
    assert ours.dtype == np.int8 and ours.shape == (500,)
    assert ours.mean() > 0.99
    scale = np.array([1e6, 1e-3])  # standardisation makes the probe blind to a per-feature rescaling
    np.testing.assert_array_equal(analysis.logreg_correct(xtr * scale, ytr, xte * scale, yte), ours)


def test_frozen_feature_correct_scores_cls_and_mean_pooled_tokens():
    torch.manual_seed(0)
    enc = ViTEncoder(ViTConfig(img_size=8, patch_size=4, in_chans=1, embed_dim=16, depth=1, num_heads=2)).eval()
    imgs, labels = torch.randn(120, 1, 8, 8), torch.arange(120) % 3
    imgs[:, :, :4] += labels.view(-1, 1, 1, 1)  # a class signal in the top half
    out = analysis.frozen_feature_correct(enc, (imgs[:80], labels[:80]), (imgs[80:], labels[80:]), k=5)
    assert set(out) == set(analysis.FROZEN_METRICS)
    with torch.no_grad():
        tokens = enc(imgs)[0]  # independent of encoder_features: the normed tokens straight from the encoder
    feats = {"cls": tokens[:, 0].numpy(), "mean": tokens[:, 1:].mean(1).numpy()}
    y = labels.numpy()
    for pool, x in feats.items():
        knn = KNeighborsClassifier(n_neighbors=5, metric="cosine", algorithm="brute").fit(x[:80], y[:80]).predict(x[80:])
        np.testing.assert_array_equal(out[f"knn_{pool}"], (knn == y[80:]).astype(np.int8))
        np.testing.assert_array_equal(out[f"logreg_{pool}"], analysis.logreg_correct(x[:80], y[:80], x[80:], y[80:]))
    assert not np.array_equal(feats["cls"], feats["mean"])


def _arms(acc_a: list[float], acc_b: list[float], n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Correctness [S, n] of seeds with exactly these accuracies (first images correct)."""
    make = lambda accs: np.stack([(np.arange(n) < round(a * n)).astype(float) for a in accs])
    return make(acc_a), make(acc_b)


def test_gate_decision_passes_a_gain_above_zero_and_above_the_noise_floor():
    a, b = _arms([0.80, 0.81, 0.80], [0.70, 0.70, 0.71])
    gain, ci, (verdict, evidence) = analysis.gate_decision(a, b, floor=1.0)
    assert gain == pytest.approx(100 * (0.8033333 - 0.7033333), abs=1e-3)
    assert ci[0] > 0 and verdict == "reproduced", evidence


def test_gate_decision_needs_the_gain_to_exceed_the_noise_floor():
    a, b = _arms([0.80, 0.81, 0.80], [0.70, 0.70, 0.71])
    gain, ci, (verdict, evidence) = analysis.gate_decision(a, b, floor=12.0)
    assert ci[0] > 0 and verdict == "inconclusive" and "noise floor 12.00" in evidence
    assert analysis.gate_decision(a, b, floor=None)[2][0] == "inconclusive"  # unmeasured floor: never passes


def test_gate_decision_with_one_seed_is_untestable_and_a_wider_level_widens_the_ci():
    a, b = _arms([0.80, 0.81, 0.80], [0.70, 0.70, 0.71])
    verdict, evidence = analysis.gate_decision(a[:1], b, floor=1.0)[2]
    assert verdict == UNTESTABLE and "1 vs 3" in evidence and "reproduced" in evidence
    ci95, ci975 = analysis.gate_decision(a, b, 1.0)[1], analysis.gate_decision(a, b, 1.0, level=0.975)[1]
    assert ci975[0] <= ci95[0] and ci975[1] >= ci95[1]
