"""The LC-MAE wing's gates for its ablations, its DINO-reference precondition and its collapse table."""

import numpy as np
import pandas as pd

from maelab.evaluation.claims import Calibration, Summary
from maelab.papers import lcmae
from maelab.pipeline.config import load_profile

N = 400  # test images of the synthetic correctness arrays


def bank_calibration(profile: str, floor: float = 2.0) -> Calibration:
    gate = {"passed": True, "seeds": [0, 1, 2], "evidence": "bank"}
    return Calibration(profile, {"finetuning": dict(gate), "representation": dict(gate)}, {"ft": floor, "lp": floor}, {})


def fake_correctness(accuracy: dict[str, float], asked: list[str]):
    """correctness(...) that returns, per run name, the first round(acc * N) test images right."""

    def correctness(_results_dir, _p, names):
        asked.extend(names)
        return np.stack([(np.arange(N) < round(accuracy[n] * N)).astype(float) for n in names])

    return correctness


def test_ablation_gates_compare_the_short_baseline_with_every_random_init_seed(monkeypatch):
    p = load_profile("mini")
    assert lcmae.short_mae_name(p) == "mae_short"
    accuracy = {"mae_short_ft": 0.9, "mae_short_lp": 0.5}
    accuracy |= {n: 0.5 for n in ("scratch_ft", "scratch_ft_s1", "scratch_ft_s2")}
    accuracy |= {n: 0.5 for n in ("random_init_lp", "random_init_lp_s1", "random_init_lp_s2")}
    asked: list[str] = []
    monkeypatch.setattr(lcmae, "correctness", fake_correctness(accuracy, asked))
    cal = lcmae.ablation_calibration("unused", p, bank_calibration("mini"))
    # finetuning: +40 points, far beyond the floor of 2 -> passed; probe: exactly 0 -> not passed
    assert cal.gates["finetuning"]["passed"] and abs(cal.gates["finetuning"]["gain"] - 40.0) < 1e-9
    assert not cal.gates["representation"]["passed"] and cal.gates["representation"]["gain"] == 0.0
    assert {"scratch_ft", "scratch_ft_s1", "scratch_ft_s2", "random_init_lp_s2"} <= set(asked)
    assert "1.25 epochs" in cal.gates["finetuning"]["evidence"]
    assert cal.gain_ci("ft")[0] > 30 and cal.noise_floor == {"ft": 2.0, "lp": 2.0}


def test_a_gain_inside_the_seed_floor_does_not_pass_the_ablation_gate(monkeypatch):
    p = load_profile("mini")
    accuracy = {"mae_short_ft": 0.53, "mae_short_lp": 0.53, **{n: 0.5 for n in ("scratch_ft", "random_init_lp")}}
    monkeypatch.setattr(lcmae, "correctness", fake_correctness(accuracy, []))
    one_seed = bank_calibration("mini", floor=10.0)
    for gate in one_seed.gates.values():
        gate["seeds"] = [0]
    cal = lcmae.ablation_calibration("unused", p, one_seed)  # +3 points, floor 10: widened CI includes 0
    assert not cal.gates["finetuning"]["passed"] and not cal.gates["representation"]["passed"]


def test_judge_ablations_switches_the_summary_to_the_ablation_gates(monkeypatch):
    p = load_profile("mini")
    accuracy = {"mae_short_ft": 0.5, "mae_short_lp": 0.5}
    accuracy |= {f"{b}{s}": 0.5 for b in ("scratch_ft", "random_init_lp") for s in ("", "_s1", "_s2")}
    monkeypatch.setattr(lcmae, "correctness", fake_correctness(accuracy, []))
    summary = Summary("lcmae_x", "x", "mini", scale_note="mini", calibration=bank_calibration("mini"))
    claim = summary.claim("before", "a claim on the bank", "reproduced", "e", gate="finetuning")
    assert claim.verdict == "reproduced"  # the bank's gate passed
    lcmae.judge_ablations(summary, "unused", p)
    claim = summary.claim("after", "an ablation claim", "reproduced", "e", gate="finetuning")
    assert claim.verdict == "untestable at this scale" and "ablation schedule" in claim.evidence
    assert "mae_short" in claim.scale_note


def test_without_separate_ablation_schedule_the_bank_gates_apply():
    p = load_profile("smoke")
    assert lcmae.short_mae_name(p) == "mae_r0.75"
    cal = bank_calibration("smoke")
    assert lcmae.ablation_calibration("unused", p, cal) is cal
    assert lcmae.ablation_calibration("unused", p, None) is None


def test_no_dino_reference_is_a_failed_precondition_with_its_reason():
    p = load_profile("mini")
    assert lcmae.reference(p, "dino") == "" and lcmae.reference(p, "supervised") == "supervised_ref"
    problem, text = lcmae.reference_learned("unused", p, "", None)
    assert problem == text and "no DINO reference" in problem and "6.12" in problem
    assert lcmae.reference_learned("unused", p, "timm:vit_base_patch16_224.dino", None)[0] is None


def test_collapse_table_calibrates_on_the_reference_setting():
    spreads = pd.DataFrame(
        {"spread of v": [0.5, 0.05, 0.01], "spread of h": [0.2, 0.15, 0.01], "spread of encoder cls": [0.6, 0.5, 0.7]},
        index=["b", "e", "c"],
    )
    table = lcmae.collapse_table(spreads, "b")  # h threshold 0.1 x 0.2 = 0.02: only (c)'s h collapsed
    assert list(table["collapse"]) == ["none", "projector only", "representation"]
