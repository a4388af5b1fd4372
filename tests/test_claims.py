import json

import numpy as np
import pytest

from maelab.evaluation import claims
from maelab.evaluation.claims import (
    Claim,
    Summary,
    accuracy_ci,
    bootstrap_ci,
    difference_of_accuracies_ci,
    summary_path,
    verdict_from_ci,
    verdict_from_point,
    verdict_spearman,
)


def test_bootstrap_ci_covers_the_mean_with_the_expected_width():
    values = np.random.default_rng(1).normal(5.0, 1.0, size=200)
    lo, hi = bootstrap_ci(values)
    assert lo < values.mean() < hi
    assert lo < 5.0 < hi
    assert hi - lo == pytest.approx(2 * 1.96 * values.std() / np.sqrt(200), rel=0.15)
    assert bootstrap_ci(values) == (lo, hi)  # seeded


def test_bootstrap_ci_needs_two_values():
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_ci([0.5])


def test_accuracy_ci_is_the_wilson_interval():
    assert accuracy_ci(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    lo, hi = accuracy_ci(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx(1.96**2 / 10 / (1 + 1.96**2 / 10), abs=1e-4)  # 0.2775
    with pytest.raises(ValueError):
        accuracy_ci(11, 10)


def test_difference_of_accuracies_ci():
    lo, hi = difference_of_accuracies_ci(900, 1000, 800, 1000)
    half = 1.959964 * np.sqrt(0.9 * 0.1 / 1000 + 0.8 * 0.2 / 1000)
    assert (lo, hi) == pytest.approx((0.1 - half, 0.1 + half), abs=1e-6)
    assert verdict_from_ci((lo, hi))[0] == "reproduced"
    assert verdict_from_ci(difference_of_accuracies_ci(805, 1000, 800, 1000))[0] == "inconclusive"


@pytest.mark.parametrize(
    "ci, threshold, direction, verdict",
    [
        ((0.1, 0.3), 0.0, "greater", "reproduced"),
        ((-0.3, -0.1), 0.0, "greater", "not reproduced"),
        ((-0.1, 0.3), 0.0, "greater", "inconclusive"),
        ((0.0, 0.3), 0.0, "greater", "inconclusive"),
        ((0.5, 0.7), 0.6, "greater", "inconclusive"),
        ((-0.3, -0.1), 0.0, "less", "reproduced"),
        ((0.1, 0.3), 0.0, "less", "not reproduced"),
    ],
)
def test_verdict_from_ci(ci, threshold, direction, verdict):
    got, evidence = verdict_from_ci(ci, threshold, direction)
    assert got == verdict
    assert "CI" in evidence


def test_verdict_from_ci_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="direction"):
        verdict_from_ci((0.1, 0.2), direction="above")


def test_verdict_from_point_is_never_decisive():
    assert verdict_from_point(0.3) == ("inconclusive", verdict_from_point(0.3)[1])
    assert "the claimed way" in verdict_from_point(0.3)[1]
    assert "against the claim" in verdict_from_point(0.3, direction="less")[1]


def test_verdict_spearman():
    x = np.arange(10.0)
    assert verdict_spearman(x, x**2, +1)[0] == "reproduced"
    assert verdict_spearman(x, -x, +1)[0] == "not reproduced"
    assert verdict_spearman(x, -x, -1)[0] == "reproduced"
    assert verdict_spearman(x, (x - 4.5) ** 2, +1)[0] == "inconclusive"  # U-shape: rho = 0
    verdict, evidence = verdict_spearman(x, np.ones(10), +1)
    assert verdict == "inconclusive" and "constant" in evidence


def test_claim_rejects_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict"):
        Claim("c", "statement", "partially", "typed by hand")


def _summary() -> Summary:
    summary = Summary("lcmae_3", "LC-MAE 3", "smoke")
    summary.headline("linear probe", ours=np.float32(71.5), paper=68.0, unit="%")
    summary.headline("note", ours="qualitative", paper=None)
    ci = (0.01, 0.05)
    summary.claim("c1", "Local contrast helps.", *verdict_from_ci(ci), ours=0.03, paper=0.02, ci=np.array(ci), seeds=3)
    return summary


def test_summary_table_and_claims():
    summary = _summary()
    table = summary.table()
    assert list(table.columns) == ["paper", "ours", "delta"]
    assert table.loc["linear probe (%)", "delta"] == pytest.approx(3.5)
    assert np.isnan(table.loc["note", "delta"])
    assert summary.claims["c1"].profile == "smoke"
    assert summary.claims["c1"].verdict == "reproduced"
    summary.headline("linear probe", ours=70.0, paper=68.0, unit="%")  # re-running a cell replaces
    assert len(summary.headlines) == 2


def test_summary_save_load_round_trip(tmp_path):
    summary = _summary()
    path = summary.save(summary_path(tmp_path, "smoke", "lcmae_3"))
    assert path == tmp_path / "smoke" / "notebooks" / "lcmae_3.summary.json"
    data = json.loads(path.read_text())
    assert set(data) == {"notebook", "title", "profile", "headlines", "claims"}
    assert data["claims"][0]["ci"] == [0.01, 0.05]
    loaded = Summary.load(path)
    assert loaded.to_dict() == summary.to_dict()
    assert loaded.claims["c1"].ci == (0.01, 0.05)


def test_summary_save_is_atomic(tmp_path, monkeypatch):
    path = _summary().save(tmp_path / "s.summary.json")
    before = path.read_text()

    def broken_dump(obj, f, **kwargs):
        f.write('{"half": ')
        raise OSError("disk full")

    monkeypatch.setattr(claims.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        Summary("other", "Other", "smoke").save(path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["s.summary.json"]


def test_verdict_equivalent_cases():
    from maelab.evaluation.claims import verdict_equivalent

    assert verdict_equivalent((-0.3, 0.4), 0.5)[0] == "reproduced"
    assert verdict_equivalent((0.6, 1.2), 0.5)[0] == "not reproduced"
    assert verdict_equivalent((-1.2, -0.5), 0.5)[0] == "not reproduced"
    assert verdict_equivalent((-0.2, 0.7), 0.5)[0] == "inconclusive"
