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


def test_without_ablation_finetunes_their_claims_are_untestable_with_the_floor_and_the_cost(monkeypatch):
    """At mini (lcmae.ablation_finetune = false) a claim on an ablation's finetune is untestable; the reason quotes the
    finetuning seed noise floor of the gates it is given, the finetunes' count and cost, and the override."""
    p = load_profile("mini")
    monkeypatch.setattr(lcmae, "ablation_finetune_cost", lambda _p: (14, 54.6, 3, 5.6))
    cal = bank_calibration("mini", floor=0.56)
    cal.gates["finetuning"] |= {"gain": 1.3, "ci": [0.74, 1.93]}
    reason = lcmae.ablation_finetune_reason(p, cal)
    assert "0.56 points" in reason and "14 finetunes" in reason and "~55 job-minutes" in reason
    assert "+1.3" in reason and "--set lcmae.ablation_finetune=true" in reason
    assert lcmae.ablation_ft_accuracy("unused", p, "lcmae_t1_a") is None and lcmae.not_run(p) == "not run at mini"
    summary = Summary("lcmae_x", "x", "mini", scale_note="mini", calibration=cal)
    claim = lcmae.ablation_ft_claim(summary, "unused", p, reason, "lcmae-t1-a-vs-b", "s", "lcmae_t1_a_ft", "lcmae_t1_b_ft")
    assert claim.verdict == "untestable at this scale" and claim.evidence.startswith("not run at profile mini")
    assert claim.gate == "finetuning" and summary.claims["lcmae-t1-a-vs-b"] is claim
    assert "not run at mini" in lcmae.describe_ablation_finetune(p, reason)
    assert lcmae.ablation_finetune_reason(load_profile("small"), cal) is None
    assert lcmae.describe_ablation_finetune(load_profile("small"), None) == ""


def test_the_cost_of_the_ablation_finetunes_is_what_the_override_adds():
    n_ft, ft_minutes, n_pre, pre_minutes = lcmae.ablation_finetune_cost(load_profile("mini"))
    assert (n_ft, n_pre) == (14, 3) and 40 < ft_minutes < 70 and 0 < pre_minutes < ft_minutes
