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


@pytest.mark.parametrize(
    "value, direction, way",
    [
        (0.3, "greater", "the claimed way"),
        (0.3, "less", "against the claim"),
        (-0.2, "greater", "against the claim"),
        (0.0, "greater", "neither way"),
    ],
)
def test_verdict_from_point_is_never_decisive(value, direction, way):
    verdict, evidence = verdict_from_point(value, 0.0, direction)
    assert verdict == "inconclusive"
    assert evidence == f"single estimate {value:.4g} vs 0 points {way}; no uncertainty estimate"


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


def _summary(profile: str = "mini") -> Summary:
    summary = Summary("lcmae_3", "LC-MAE 3", profile)
    summary.headline("linear probe", ours=np.float32(71.5), paper=68.0, unit="%")
    summary.headline("note", ours="qualitative", paper=None)
    ci = (0.01, 0.05)
    summary.claim("c1", "Local contrast helps.", *verdict_from_ci(ci), ours=0.03, paper=0.02, ci=np.array(ci), seeds=3)
    return summary


def test_summary_table_and_claims():
    summary = _summary()
    table = summary.table()
    assert list(table.columns) == [
        "paper",
        "ours",
        "note",
    ]  # side by side: a Fashion-MNIST number minus an ImageNet one means nothing
    assert (table.loc["linear probe (%)", "paper"], table.loc["linear probe (%)", "ours"]) == (68.0, 71.5)
    assert table.loc["note", "ours"] == "qualitative"
    assert summary.claims["c1"].profile == "mini"
    assert summary.claims["c1"].verdict == "reproduced"
    assert _summary("smoke").claims["c1"].verdict == claims.UNTESTABLE
    summary.headline("linear probe", ours=70.0, paper=68.0, unit="%")  # re-running a cell replaces
    assert len(summary.headlines) == 2


def test_summary_save_load_round_trip(tmp_path):
    summary = _summary()
    path = summary.save(summary_path(tmp_path, "mini", "lcmae_3"))
    assert path == tmp_path / "mini" / "notebooks" / "lcmae_3.summary.json"
    data = json.loads(path.read_text())
    assert set(data) == {"notebook", "title", "profile", "headlines", "claims", "ledger", "extra"}
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


# --- seed-aware uncertainty -----------------------------------------------------------------------------------------


def test_seed_bootstrap_resamples_seeds_exactly_as_counted_by_hand():
    # images identical within a seed: only the seed draw matters. Arm a: seed 0 all correct, seed 1 all wrong;
    # arm b all wrong. A replicate draws 2 seeds of a: both seed 0 (p 1/4) -> 100, one each (1/2) -> 50, none (1/4) -> 0.
    a = np.array([[1.0] * 8, [0.0] * 8])
    b = np.zeros((1, 8))
    delta, ci = claims.seed_bootstrap_delta(a, b, n_boot=4000)
    assert delta == 50.0
    assert ci == (0.0, 100.0)  # the 2.5% and 97.5% quantiles of {0: 1/4, 50: 1/2, 100: 1/4}
    _, ci90 = claims.seed_bootstrap_delta(a, b, n_boot=4000, level=0.4)  # 30% / 70% quantiles both fall on 50
    assert ci90 == (50.0, 50.0)


def test_seed_bootstrap_with_one_seed_is_the_paired_image_bootstrap():
    rng = np.random.default_rng(3)
    a = (rng.random(2000) < 0.8).astype(float)
    b = np.where(rng.random(2000) < 0.9, a, 1 - a)  # b agrees with a on 90% of images: strongly paired
    delta, (lo, hi) = claims.seed_bootstrap_delta(a[None], b[None])
    d = 100 * (a - b)
    assert delta == pytest.approx(d.mean())
    half = 1.96 * d.std() / np.sqrt(d.size)  # independent normal approximation of the paired bootstrap
    assert (lo, hi) == pytest.approx((d.mean() - half, d.mean() + half), abs=0.1 * half)
    unpaired = 1.96 * 100 * np.sqrt(a.var() / a.size + b.var() / b.size)
    assert hi - lo < unpaired  # pairing on images narrows it
    assert claims.seed_bootstrap_delta(a[None], a[None]) == (0.0, (0.0, 0.0))


def test_seed_bootstrap_rejects_different_images():
    with pytest.raises(ValueError, match="same test images"):
        claims.seed_bootstrap_delta(np.ones((2, 5)), np.ones((1, 4)))


def test_noise_floor_is_the_largest_gap_between_seeds():
    assert claims.noise_floor([80.1, 81.3, 80.5]) == pytest.approx(1.2)
    assert claims.noise_floor([80.1]) is None


@pytest.mark.parametrize(
    "ci, seeds, floor, verdict",
    [
        ((0.2, 0.8), (1, 1), None, claims.UNTESTABLE),  # one seed, floor unmeasured
        ((0.2, 0.8), (1, 1), 0.1, "reproduced"),  # widened to [0.1, 0.9]: still above 0
        ((0.2, 0.8), (1, 1), 0.2, "inconclusive"),  # widened to [0.0, 1.0]: touches 0
        ((-0.9, -0.5), (1, 3), 0.4, "not reproduced"),  # widened to [-1.3, -0.1]: entirely below 0
        ((-0.9, -0.5), (1, 3), 0.5, "inconclusive"),  # widened to [-1.4, 0.0]: touches 0
        ((0.2, 0.8), (3, 3), None, "reproduced"),  # >= 2 seeds per arm: the hierarchical CI decides alone
    ],
)
def test_verdict_seed_aware(ci, seeds, floor, verdict):
    got, evidence = claims.verdict_seed_aware(ci, *seeds, floor)
    assert got == verdict
    if floor is not None and min(seeds) == 1:
        assert f"widened by the seed noise floor {floor:.3g}" in evidence


# --- the equivalence rule -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ci, verdict",
    [
        ((-0.99, 0.99), "reproduced"),  # just inside ±1
        ((-1.0, 0.5), "inconclusive"),  # touches the lower edge: not strictly inside, not outside
        ((0.5, 1.0), "inconclusive"),
        ((1.0, 1.5), "not reproduced"),  # entirely at or beyond the upper edge
        ((-2.0, -1.0), "not reproduced"),
    ],
)
def test_equivalence_rule_at_the_band_edges(ci, verdict):
    assert claims.verdict_equivalence(ci, discrimination=(1.5, 3.0), margin=1.0)[0] == verdict


def test_equivalence_counts_only_if_the_margin_separates_mae_from_random_init():
    verdict, evidence = claims.verdict_equivalence((-0.2, 0.3), discrimination=(-0.96, 0.19), margin=1.0)
    assert verdict == claims.UNTESTABLE and "cannot discriminate" in evidence and "reproduced" in evidence
    assert claims.verdict_equivalence((-0.2, 0.3), discrimination=(1.0, 3.0))[0] == claims.UNTESTABLE  # edge: not above
    assert claims.verdict_equivalence((-0.2, 0.3), discrimination=(1.01, 3.0))[0] == "reproduced"
    verdict, evidence = claims.verdict_equivalence((-0.2, 0.3), discrimination=None)
    assert verdict == claims.UNTESTABLE and "unmeasured" in evidence


# --- gates, smoke and the ledger -------------------------------------------------------------------------------------


def _calibration(representation: bool, finetuning: bool) -> claims.Calibration:
    gate = lambda passed: {"passed": passed, "evidence": "LP gain +2.4 [1.9, 2.9]" if passed else "FT gain -0.4 [-1.0, 0.2]"}
    return claims.Calibration(
        "mini",
        {"representation": gate(representation), "finetuning": gate(finetuning)},
        {"ft": 1.0, "lp": 0.5},
        {"lp": [1.9, 2.9], "ft": [-1.0, 0.2]},
    )


def test_a_claim_whose_gate_failed_is_untestable_and_keeps_its_raw_verdict():
    summary = Summary("nb", "NB", "mini", calibration=_calibration(representation=True, finetuning=False))
    ok = summary.claim("r", "MAE learns", "reproduced", "CI above 0", gate="representation")
    assert ok.verdict == "reproduced"
    bad = summary.claim("f", "MAE helps finetuning", "reproduced", "CI above 0", gate="finetuning")
    assert bad.verdict == claims.UNTESTABLE and bad.raw_verdict == "reproduced"
    assert bad.evidence.startswith("the finetuning gate did not pass (FT gain -0.4")
    free = summary.claim("i", "an identity", "reproduced", "algebra")  # no gate needed
    assert free.verdict == "reproduced"


def test_without_calibration_a_gated_claim_says_the_gate_is_unmeasured():
    claim = Summary("nb", "NB", "mini").claim("r", "MAE learns", "not reproduced", "CI below 0", gate="representation")
    assert claim.verdict == claims.UNTESTABLE and "calibration notebook (calibration_gate) has not run" in claim.evidence


def test_at_smoke_every_claim_is_untestable():
    summary = Summary("nb", "NB", "smoke", calibration=_calibration(True, True))
    for gate in ("", "representation", "finetuning"):
        claim = summary.claim(f"c{gate}", "s", "reproduced", "CI above 0", gate=gate)
        assert claim.verdict == claims.UNTESTABLE and "profile smoke" in claim.evidence


def test_claim_rejects_an_unknown_gate():
    with pytest.raises(ValueError, match="gate"):
        Claim("c", "s", "reproduced", "e", gate="semantic")


def test_ledger_counts_tested_claims_and_expected_false_positives(tmp_path):
    summary = Summary("nb", "NB", "mini", calibration=_calibration(True, False))
    for i, (verdict, gate) in enumerate(
        [
            ("reproduced", ""),
            ("not reproduced", "representation"),
            ("inconclusive", ""),
            ("reproduced", "finetuning"),
            (claims.UNTESTABLE, ""),
        ]
    ):
        summary.claim(f"c{i}", "s", verdict, "e", gate=gate)
    ledger = summary.ledger()
    assert ledger["claims"] == 5 and ledger["tested"] == 3 and ledger["decisive"] == 2
    assert ledger["expected_false_positives"] == pytest.approx(0.05 * 3)
    assert ledger["counts"][claims.UNTESTABLE] == 2
    data = json.loads(summary.save(tmp_path / "s.json").read_text())
    assert data["ledger"] == ledger
    assert Summary.load(tmp_path / "s.json").claims["c3"].verdict == claims.UNTESTABLE  # loading applies nothing twice


def test_load_calibration_reads_the_calibration_summary(tmp_path):
    assert claims.load_calibration(tmp_path, "mini") is None
    summary = Summary("calibration_gate", "Calibration", "mini")
    cal = _calibration(True, False)
    summary.extra["calibration"] = {
        "profile": cal.profile,
        "gates": cal.gates,
        "noise_floor": cal.noise_floor,
        "gains": cal.gains,
    }
    summary.save(claims.summary_path(tmp_path, "mini", "calibration_gate"))
    loaded = claims.load_calibration(tmp_path, "mini")
    assert loaded == cal and loaded.gain_ci("lp") == (1.9, 2.9) and loaded.gain_ci("knn") is None


@pytest.mark.parametrize(
    "ci, decimals, text",
    [
        ((0.88, 1.99), 2, "+1.44 [+0.88, +1.99]"),
        ((10.0, 30.0), 0, "+20 [+10, +30]"),
        ((0.0936, 0.0964), 4, "+0.0950 [+0.0936, +0.0964]"),
    ],
)
def test_numbers_print_at_the_precision_their_ci_supports(ci, decimals, text):
    value = (ci[0] + ci[1]) / 2 if decimals != 2 else 1.44
    assert claims.ci_decimals(ci) == decimals
    assert claims.format_estimate(value, ci) == text


# --- stored numbers ----------------------------------------------------------------------------------------------------


def test_stored_rounds_floats_to_12_significant_digits():
    assert 67.41 - 47.45 == 19.959999999999994 and claims.stored(67.41 - 47.45) == 19.96
    assert claims.stored(np.float64(0.1) + 0.2) == 0.3 and type(claims.stored(np.float64(0.3))) is float
    assert claims.stored(1 / 3) == 0.333333333333 and claims.stored(123456.7890123456) == 123456.789012
    assert claims.stored(2.5e-17 + 1e-30) == 2.5e-17  # significant digits, not decimals: small numbers keep their value
    nested = {"ci": (0.1 + 0.2, 1.1 * 3), "xs": [0.7 + 0.1, None, "s", 3, True], "nan": float("nan")}
    out = claims.stored(nested)
    assert out["ci"] == (0.3, 3.3) and isinstance(out["ci"], tuple) and out["xs"] == [0.8, None, "s", 3, True]
    assert np.isnan(out["nan"]) and out["xs"][4] is True
    assert claims.stored(out) == out  # idempotent


def test_a_saved_summary_stores_paper_differences_at_12_digits(tmp_path):
    summary = Summary("hlvm_3_x", "HLVM", "mini")
    summary.headline("gap", ours=np.float64(0.1) + 0.2, paper=67.41 - 47.45, unit="points")
    summary.claim(
        "d", "A difference.", "reproduced", "CI above 0", ours=0.7 + 0.1, paper=67.41 - 47.45, ci=(0.1 + 0.2, 1.1 * 3)
    )
    summary.extra["calibration"] = {"noise_floor": {"lp": 81.3 - 80.12}}  # 1.1799999999999926
    for i in range(2):
        summary.claim(f"t{i}", "tested", "inconclusive", "CI includes 0")  # 3 tested: 0.05 * 3 = 0.15000000000000002
    path = summary.save(tmp_path / "s.summary.json")
    text = path.read_text()
    assert '"paper": 19.96,' in text and "19.959999" not in text and '"ours": 0.8,' in text
    data = json.loads(text)
    assert data["claims"][0]["ci"] == [0.3, 3.3] and data["headlines"][0]["ours"] == 0.3
    assert data["extra"]["calibration"]["noise_floor"]["lp"] == 1.18
    assert data["ledger"]["expected_false_positives"] == 0.15 == summary.ledger()["expected_false_positives"]
    assert Summary.load(path).to_dict() == summary.to_dict()  # what is saved is what a notebook holds
