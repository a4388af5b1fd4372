"""Headline numbers and claim verdicts that a notebook records; verdicts are computed from numbers, never typed.

A notebook builds a `Summary`, adds `headline`s (ours beside the paper's number) and `claim`s whose
(verdict, evidence) pair comes from one of the `verdict_*` helpers, then saves it to `summary_path(...)`:

    summary.claim("lcmae-3a", "Local contrast raises linear-probe accuracy", *verdict_from_ci(ci), ours=d, ci=ci)

The verdict rules (every paper, every notebook):

* **Preconditions.** A claim whose precondition fails reads "untestable at this scale" and its evidence names the
  failed precondition; `raw_verdict` keeps what the numbers alone said. Preconditions applied by `Summary.claim`:
  at profile `smoke` every claim is untestable (smoke numbers are never findings); a claim that names a `gate`
  ("representation": the default MAE's BN + linear probe or kNN on its mean-pooled tokens beats a random encoder's;
  "finetuning": MAE-init beats scratch in label-scarce finetuning) is untestable unless the calibration notebook
  measured that gate and it passed (`load_calibration`). A gate's metric passes when both arms have >= 2 seeds, the
  hierarchical CI of the gain lies above 0 and the mean gain exceeds the metric's seed noise floor. A notebook adds
  its own preconditions with `untestable(...)` (a reference model that did not learn, a saturated metric, a missing
  run).
* **Comparisons of pretrainings** (accuracies of runs that differ in their pretraining): `seed_bootstrap_delta`
  gives the difference with a hierarchical bootstrap CI (seeds of each arm, then test images, paired on images).
  With >= 2 seeds in both arms that CI decides (`verdict_from_ci`). With one seed in an arm the CI covers test
  images only, so `verdict_seed_aware` widens it by the metric's measured seed noise floor f (the largest gap
  between two seeds of one configuration in that metric, e.g. FT or LP accuracy or mean attention distance, from
  the calibration notebook): decisive only if
  [lo - f, hi + f] clears the threshold, i.e. the effect exceeds image noise plus seed noise; with f unmeasured
  the claim is untestable.
* **Equivalence ("≈")**, one rule: two one-sided tests at the ledger's alpha per side, i.e. the 95% CI inside
  (-EQUIVALENCE_MARGIN, +EQUIVALENCE_MARGIN) accuracy points; it counts only if the same rule separates MAE
  from random init (that gain's CI entirely above +margin), else untestable: the margin cannot discriminate.
  "Not worse than" claims use its one-sided half (`verdict_noninferior`: CI above -margin) with the same check.
* **Monotone trends** (`verdict_spearman`): Spearman's rho with its two-sided p under independence, exact (all n!
  pairings) up to EXACT_SPEARMAN_MAX_N points, where scipy's t approximation is far off (it gives p ~ 0 for any
  perfect ranking; exactly, a perfect ranking of 3 points has p = 2/3! = 1/3).
* **Ledger.** `Summary.ledger()` counts the claims tested (not untestable) and the decisive verdicts chance alone
  would give: at most ALPHA per tested claim when every null holds. Stored numbers (summaries, the report's
  ledger.json) are rounded to SIGNIFICANT_DIGITS by `stored`: 67.41 - 47.45 is stored as 19.96.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

UNTESTABLE = "untestable at this scale"
VERDICTS = ("reproduced", "not reproduced", "inconclusive", UNTESTABLE)
DECISIVE = ("reproduced", "not reproduced")
DIRECTIONS = ("greater", "less")
GATES = ("representation", "finetuning")  # the calibration gates a claim may need (Claim.gate)
ALPHA = 0.05  # every CI is a 95% interval: at most ALPHA chance of a decisive verdict per claim whose null holds
EQUIVALENCE_MARGIN = 1.0  # accuracy points: the one margin of every "about equal" claim
SMOKE_PROFILES = ("smoke",)  # profiles whose numbers are never findings
EXACT_SPEARMAN_MAX_N = 7  # up to this many points verdict_spearman's p is exact (7! = 5040 pairings); beyond, asymptotic
SIGNIFICANT_DIGITS = 12  # stored floats (summaries, ledger.json): float noise such as 19.959999999999994 -> 19.96

Value = float | str | None
Decision = tuple[str, str]  # (verdict, evidence)


@dataclass
class Claim:
    """One claim of a paper and our verdict; `evidence` says how the verdict was computed."""

    id: str
    statement: str  # the paper's claim in one sentence
    verdict: str  # one of VERDICTS
    evidence: str
    ours: Value = None
    paper: Value = None
    ci: tuple[float, float] | None = None
    seeds: int = 1
    profile: str = ""
    scale_note: str = ""  # how our setting differs from the paper's (data, model size, epochs)
    gate: str = ""  # the calibration gate the claim needs: "representation", "finetuning" or "" (none)
    unit: str = ""  # unit of ours / ci (e.g. "points", "px"): the forest plot's axis
    null: float | None = None  # the value the CI is judged against (0, -margin, a threshold): the forest plot's line
    rule: str = ""  # how the CI was judged: "greater" / "less" (than null), "equivalent" (inside ±null), "noninferior"
    raw_verdict: str = ""  # what the numbers alone said, before preconditions (== verdict when none failed)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.gate not in ("", *GATES):
            raise ValueError(f"gate must be one of {GATES} or '', got {self.gate!r}")
        self.raw_verdict = self.raw_verdict or self.verdict
        self.null = None if self.null is None else float(self.null)
        self.ours, self.paper = _plain(self.ours), _plain(self.paper)
        self.ci = None if self.ci is None else (float(self.ci[0]), float(self.ci[1]))
        self.seeds = int(self.seeds)

    def _repr_markdown_(self) -> str:
        """How a notebook shows the claim: verdict, statement, numbers."""
        ci = "" if self.ci is None else f", 95% CI [{format_value(self.ci[0])}, {format_value(self.ci[1])}]"
        unit = f" {self.unit}" if self.unit and isinstance(self.ours, float) else ""
        gate = f" Needs the {self.gate} gate." if self.gate else ""
        raw = f" (numbers alone: {self.raw_verdict})" if self.raw_verdict != self.verdict else ""
        return (
            f"**{self.verdict}**{raw} (`{self.id}`): {self.statement}  \n"
            f"ours {format_value(self.ours)}{unit}, paper {format_value(self.paper)}{ci}; {self.evidence}.{gate}"
        )


def format_value(value: object) -> str:
    """A number to 4 significant digits, None as a dash, anything else as text."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def ci_decimals(ci: tuple[float, float] | None, default: int = 2) -> int:
    """Decimals a number with this CI supports: the CI half-width to 2 significant digits (0-4 decimals)."""
    if ci is None or not all(map(math.isfinite, ci)):
        return default
    half = abs(ci[1] - ci[0]) / 2
    return default if half == 0 else int(min(4, max(0, 1 - math.floor(math.log10(half)))))


def format_estimate(value: float, ci: tuple[float, float] | None, signed: bool = True) -> str:
    """'+1.2 [+0.6, +1.8]': an estimate and its CI at the precision the CI supports."""
    d = ci_decimals(ci)
    f = f"{{:{'+' if signed else ''}.{d}f}}"
    return f.format(value) + ("" if ci is None else f" [{f.format(ci[0])}, {f.format(ci[1])}]")


@dataclass
class Headline:
    """One headline number: ours beside the paper's."""

    quantity: str
    ours: Value
    paper: Value
    unit: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        self.ours, self.paper = _plain(self.ours), _plain(self.paper)


def stored(obj: object, digits: int = SIGNIFICANT_DIGITS) -> object:
    """`obj` as it is written to a summary or the ledger: every float (nested in dicts, lists, tuples) rounded to
    `digits` significant digits, so that 67.41 - 47.45 reads 19.96, not 19.959999999999994; idempotent."""
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else float(obj)
    if isinstance(obj, dict):
        return {k: stored(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        rounded = [stored(v, digits) for v in obj]
        return rounded if isinstance(obj, list) else tuple(rounded)
    return obj


def _plain(value: object) -> Value:
    """numpy scalars -> Python floats, so that a summary is plain JSON."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"a headline or claim value must be a number, a string or None, got {type(value).__name__}")


# --- uncertainty -------------------------------------------------------------------------------------------------


def bootstrap_ci(
    values: Sequence[float], stat: Callable = np.mean, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of `stat(values)`, e.g. over per-seed results; needs >= 2 values.

    With few values (3-5 seeds) the percentile bootstrap is too narrow; report `seeds` beside the CI.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        raise ValueError("bootstrap_ci needs at least 2 values; with 1 seed use accuracy_ci or verdict_from_point")
    rng = np.random.default_rng(seed)
    resamples = values[rng.integers(0, values.size, size=(n_boot, values.size))]  # [n_boot, n]
    boot = np.array([stat(r) for r in resamples])
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def accuracy_ci(correct: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of an accuracy `correct / total`.

    It covers only test-set sampling (which `total` images were drawn), not seed-to-seed training noise,
    so it gives a single-seed accuracy an honest but partial uncertainty.
    """
    if total <= 0 or not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total and total > 0, got {correct}/{total}")
    z = stats.norm.ppf((1 + level) / 2)
    p = correct / total
    denom = 1 + z**2 / total
    center = (p + z**2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denom
    return center - half, center + half


def difference_of_accuracies_ci(
    correct1: int, total1: int, correct2: int, total2: int, level: float = 0.95
) -> tuple[float, float]:
    """Normal-approximation CI of acc1 - acc2 (two proportions), from test-set sampling only.

    This lets a single-seed comparison of two models get a CI; it does not include training noise across seeds.
    Both models scored on the same test images are positively correlated, so there this interval is conservative.
    """
    for correct, total in ((correct1, total1), (correct2, total2)):
        if total <= 0 or not 0 <= correct <= total:
            raise ValueError(f"need 0 <= correct <= total and total > 0, got {correct}/{total}")
    p1, p2 = correct1 / total1, correct2 / total2
    z = stats.norm.ppf((1 + level) / 2)
    se = math.sqrt(p1 * (1 - p1) / total1 + p2 * (1 - p2) / total2)
    return p1 - p2 - z * se, p1 - p2 + z * se


def seed_bootstrap_delta(
    correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0, scale: float = 100.0
) -> tuple[float, tuple[float, float]]:
    """Accuracy(a) - accuracy(b) with a hierarchical bootstrap CI: seeds, then test images, paired on images.

    correct_a [S_a, N] and correct_b [S_b, N]: per seed (row) and test image (column), 1 if correct. Each bootstrap
    replicate draws S_a seeds of a and S_b seeds of b with replacement, and one resample of the N images shared by
    both arms (the pairing); its statistic is mean(a) - mean(b) over the drawn seeds and images. Returns
    (scale * delta, percentile CI), in accuracy points with the default scale. With one seed per arm it is the
    paired bootstrap over images, which covers no seed-to-seed variation (see `verdict_seed_aware`).
    """
    a, b = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (correct_a, correct_b))
    if a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise ValueError(f"both arms need the same test images, got {a.shape[1]} and {b.shape[1]}")
    (s_a, n), s_b = a.shape, b.shape[0]
    if s_a == s_b == 1:  # no seeds to resample: the paired bootstrap over images (bootstrap_ci's resampling stream)
        diff = scale * (a[0] - b[0])
        return float(diff.mean()), bootstrap_ci(diff, n_boot=n_boot, level=level, seed=seed)
    rng = np.random.default_rng(seed)
    boot = []
    for chunk in np.array_split(np.arange(n_boot), max(1, n_boot * n // 2_000_000)):
        k = len(chunk)
        images = rng.multinomial(n, np.full(n, 1.0 / n), size=k) / n  # [k, N] weight of each image in the resample
        seeds_a = rng.multinomial(s_a, np.full(s_a, 1.0 / s_a), size=k) / s_a  # [k, S_a]
        seeds_b = rng.multinomial(s_b, np.full(s_b, 1.0 / s_b), size=k) / s_b
        boot.append(((seeds_a @ a) * images).sum(1) - ((seeds_b @ b) * images).sum(1))
    lo, hi = np.quantile(np.concatenate(boot), [(1 - level) / 2, (1 + level) / 2])
    return scale * float(a.mean() - b.mean()), (scale * float(lo), scale * float(hi))


def noise_floor(per_seed: Sequence[float]) -> float | None:
    """Seed noise floor of one metric of one configuration: the largest gap between two of its seeds (None: < 2 seeds)."""
    values = np.asarray(per_seed, dtype=float)
    return float(values.max() - values.min()) if values.size >= 2 else None


# --- verdicts ----------------------------------------------------------------------------------------------------


def untestable(reason: str, raw: Decision | None = None) -> Decision:
    """'untestable at this scale' with the failed precondition as evidence (and what the numbers alone said)."""
    return UNTESTABLE, reason + ("" if raw is None else f" (the numbers alone: {raw[0]}, {raw[1]})")


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")


def verdict_from_ci(
    ci: tuple[float, float], threshold: float = 0.0, direction: str = "greater", label: str = "95% CI"
) -> Decision:
    """Reproduced if the CI lies entirely on the claimed side of `threshold`, not reproduced if entirely on the
    other side, inconclusive if it includes the threshold. `label` names the CI in the evidence."""
    _check_direction(direction)
    lo, hi = ci
    claimed, opposite = (lo > threshold, hi < threshold) if direction == "greater" else (hi < threshold, lo > threshold)
    side = "above" if direction == "greater" else "below"
    span = f"{label} [{lo:.4g}, {hi:.4g}]"
    if claimed:
        return "reproduced", f"{span} entirely {side} {threshold:g}"
    if opposite:
        return "not reproduced", f"{span} entirely on the wrong side of {threshold:g} (claimed: {side})"
    return "inconclusive", f"{span} includes {threshold:g}"


def verdict_equivalent(ci: tuple[float, float], margin: float, label: str = "95% CI") -> Decision:
    """Equivalence (two one-sided tests, each at level 2.5%): reproduced if the CI lies strictly inside
    (-margin, margin), not reproduced if it lies entirely outside that band (an edge counts as outside),
    inconclusive if it straddles a band edge. Use `verdict_equivalence`, which adds the discrimination check."""
    lo, hi = ci
    span = f"{label} [{lo:.4g}, {hi:.4g}]"
    if -margin < lo and hi < margin:
        return "reproduced", f"{span} inside the equivalence band ±{margin:g}"
    if hi <= -margin or lo >= margin:
        return "not reproduced", f"{span} entirely outside the equivalence band ±{margin:g}"
    return "inconclusive", f"{span} crosses an edge of the equivalence band ±{margin:g}"


def verdict_seed_aware(
    ci: tuple[float, float],
    seeds_a: int,
    seeds_b: int,
    floor: float | None,
    threshold: float = 0.0,
    direction: str = "greater",
    unit: str = "points",
) -> Decision:
    """The verdict of a comparison of pretrainings, from `seed_bootstrap_delta`'s CI.

    Both arms with >= 2 seeds: the hierarchical CI decides (`verdict_from_ci`). An arm with one seed: the CI covers
    test images only, so it is widened by the metric's seed noise floor `floor` (the largest gap between two seeds
    of one configuration): decisive only if [lo - floor, hi + floor] lies entirely on one side of `threshold`.
    With the floor unmeasured (None) the claim is untestable.
    """
    if min(seeds_a, seeds_b) >= 2:
        return verdict_from_ci(
            ci, threshold, direction, label=f"hierarchical bootstrap 95% CI (seeds {seeds_a} vs {seeds_b}, then images)"
        )
    raw = verdict_from_ci(ci, threshold, direction, label="paired bootstrap 95% CI over test images, one seed")
    if floor is None:
        return untestable("one seed per arm and the seed noise floor of this metric is unmeasured", raw)
    lo, hi = ci
    return verdict_from_ci(
        (lo - floor, hi + floor),
        threshold,
        direction,
        label=f"one seed: 95% CI over test images [{lo:.3g}, {hi:.3g}] widened by the seed noise floor {floor:.3g} {unit} to",
    )


def verdict_equivalence(
    ci: tuple[float, float],
    discrimination: tuple[float, float] | None,
    margin: float = EQUIVALENCE_MARGIN,
    what: str = "MAE - random init",
) -> Decision:
    """The one "about equal" rule: `verdict_equivalent(ci, margin)` (two one-sided tests: 95% CI inside ±margin),
    counted only if the same margin separates MAE from random init: `discrimination`, that gain's CI on the same
    metric, must lie entirely above +margin; otherwise (or unmeasured) the claim is untestable."""
    return _if_margin_discriminates(verdict_equivalent(ci, margin), discrimination, margin, what)


def verdict_noninferior(
    ci: tuple[float, float],
    discrimination: tuple[float, float] | None,
    margin: float = EQUIVALENCE_MARGIN,
    what: str = "MAE - random init",
) -> Decision:
    """ "Not worse than" (one one-sided test with the equivalence margin): reproduced if the CI lies above -margin;
    counted only if the margin separates MAE from random init, as in `verdict_equivalence`."""
    return _if_margin_discriminates(verdict_from_ci(ci, -margin, "greater"), discrimination, margin, what)


def _if_margin_discriminates(raw: Decision, discrimination: tuple[float, float] | None, margin: float, what: str) -> Decision:
    """`raw` if the margin separates MAE from random init (`discrimination`, that gain's CI, entirely above +margin);
    else untestable, saying why."""
    if discrimination is None:
        return untestable(f"the margin ±{margin:g}'s power is unmeasured (no {what} CI: run the calibration notebook)", raw)
    if not discrimination[0] > margin:
        return untestable(
            f"the margin ±{margin:g} cannot discriminate: {what} CI [{discrimination[0]:.3g}, {discrimination[1]:.3g}] "
            f"is not entirely above +{margin:g}",
            raw,
        )
    return raw


def verdict_from_point(value: float, threshold: float = 0.0, direction: str = "greater") -> Decision:
    """A single estimate with no uncertainty (one seed): always inconclusive; the evidence says which way it points.

    To decide with one seed, get an independent uncertainty (e.g. `difference_of_accuracies_ci`) and use
    `verdict_from_ci`; otherwise run more seeds and use `bootstrap_ci`.
    """
    _check_direction(direction)
    effect = value - threshold if direction == "greater" else threshold - value
    way = "the claimed way" if effect > 0 else "against the claim" if effect < 0 else "neither way"
    return "inconclusive", f"single estimate {value:.4g} vs {threshold:g} points {way}; no uncertainty estimate"


def spearman_test(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, str]:
    """Spearman rho of (x, y), its two-sided p-value under independence and how that p was computed.

    Up to EXACT_SPEARMAN_MAX_N points p is exact: the fraction of the n! pairings of x with a reordering of y whose
    |rho| is at least the observed |rho| (ties: average ranks, reordered with their values). Beyond, scipy's t
    approximation. rho is nan (p nan) for a constant input.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-d and of the same length, got shapes {x.shape} and {y.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        result = stats.spearmanr(x, y)
    rho, n = float(result.statistic), x.size
    if math.isnan(rho) or n > EXACT_SPEARMAN_MAX_N:
        return rho, float(result.pvalue), "t approximation"
    # 2 * rank - (n + 1): centred ranks times 2, integers also with ties (average ranks are multiples of 1/2), so that
    # rho of a pairing is proportional to an exact integer dot product and equal |rho|s compare equal
    a, b = (np.rint(2 * stats.rankdata(v) - (n + 1)).astype(np.int64) for v in (x, y))
    dots = np.abs(b[np.array(list(itertools.permutations(range(n))))] @ a)  # [n!]
    p = np.count_nonzero(dots >= abs(int(a @ b))) / dots.size
    smallest = np.count_nonzero(dots == dots.max()) / dots.size
    return rho, float(p), f"exact over all {n}! = {dots.size} pairings; the smallest attainable p is {smallest:.3g}"


def verdict_spearman(x: Sequence[float], y: Sequence[float], expected_sign: int, alpha: float = 0.05) -> Decision:
    """Monotone trend: reproduced if Spearman rho has `expected_sign` (+1/-1) with two-sided p < alpha, not reproduced
    if significant the other way, else inconclusive. p is exact up to EXACT_SPEARMAN_MAX_N points (`spearman_test`):
    with 3 or 4 points no ranking is decisive at alpha 0.05 (a perfect one has p = 2/3! = 1/3, 2/4! = 1/12)."""
    if expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be +1 or -1, got {expected_sign!r}")
    rho, p, method = spearman_test(x, y)
    if math.isnan(rho):
        return "inconclusive", f"Spearman rho undefined (constant input), n={len(x)}"
    evidence = (
        f"Spearman rho={rho:+.3f}, two-sided p={p:.3g} ({method}), n={len(x)} "
        f"(expected sign {expected_sign:+d}, alpha {alpha:g})"
    )
    if p >= alpha:
        return "inconclusive", evidence
    return ("reproduced" if np.sign(rho) == expected_sign else "not reproduced"), evidence


# --- summary -----------------------------------------------------------------------------------------------------


def summary_path(results_dir: str | os.PathLike, profile: str, notebook_name: str) -> Path:
    """Where a notebook saves its summary: <results_dir>/<profile>/notebooks/<notebook_name>.summary.json."""
    return Path(results_dir) / profile / "notebooks" / f"{notebook_name}.summary.json"


def save_json(path: str | os.PathLike, obj: object) -> Path:
    """Write JSON atomically: a temporary file beside `path`, then os.replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@dataclass
class Calibration:
    """What the calibration notebook measured at a profile, as the other notebooks read it (`load_calibration`).

    gates: name ("representation", "finetuning") -> {"passed": bool, "metric", "gain", "ci", "noise_floor",
    "seeds", "evidence"} (the metric shown: the one that passed, else the first measured), plus "rule", "metrics"
    (every metric that can pass the gate: gain, ci, level, verdict, evidence) and "beside" (metrics reported, not
    deciding); noise_floor: metric ("ft", "ft_scarce", "lp", "knn_cls", "knn_mean", "logreg_cls", "logreg_mean",
    "attention_distance") -> largest gap between two seeds of one configuration (points; px for attention), None
    where fewer than 2 seeds finished; gains: metric -> [lo, hi], the 95% CI of MAE - random init on that metric
    (the equivalence rule's discrimination check).
    """

    profile: str
    gates: dict[str, dict]
    noise_floor: dict[str, float | None]
    gains: dict[str, list[float]]

    def gain_ci(self, metric: str) -> tuple[float, float] | None:
        ci = self.gains.get(metric)
        return None if ci is None else (float(ci[0]), float(ci[1]))


CALIBRATION_NOTEBOOK = "calibration_gate"


def load_calibration(results_dir: str | os.PathLike, profile: str) -> Calibration | None:
    """The gates and noise floors of a profile from the calibration notebook's summary; None if it has not run."""
    path = summary_path(results_dir, profile, CALIBRATION_NOTEBOOK)
    if not path.exists():
        return None
    data = json.loads(path.read_text()).get("extra", {}).get("calibration")
    return None if data is None else Calibration(**data)


def describe_gates(calibration: Calibration | None, profile: str) -> str:
    """One Markdown paragraph: the gates this notebook's claims are judged under."""
    if profile in SMOKE_PROFILES:
        return f"**Gates.** Profile `{profile}`: every claim is *{UNTESTABLE}* (smoke numbers are never findings)."
    if calibration is None:
        return (
            f"**Gates.** The calibration notebook (`{CALIBRATION_NOTEBOOK}`) has not run at `{profile}`: every claim that "
            f"needs a gate reads *{UNTESTABLE}*."
        )
    return (
        "**Gates** (from `calibration_gate`): "
        + "; ".join(
            f"{name} gate **{'passed' if g['passed'] else 'not passed'}** ({g['evidence']})"
            for name, g in calibration.gates.items()
        )
        + ". Seed noise floors (points): "
        + ", ".join(f"{m} {'unmeasured' if f is None else f'{f:.2f}'}" for m, f in calibration.noise_floor.items())
        + "."
    )


def ledger_stats(claims: Sequence[Claim | dict], alpha: float = ALPHA) -> dict:
    """Claims tested (not untestable), decisive verdicts, and how many decisive verdicts chance alone would give:
    at most `alpha` per tested claim (each is a 95% CI or a test at alpha) when no claimed effect exists."""
    verdicts = [c.verdict if isinstance(c, Claim) else c["verdict"] for c in claims]
    tested = [v for v in verdicts if v != UNTESTABLE]
    return {
        "claims": len(verdicts),
        "tested": len(tested),
        "decisive": sum(v in DECISIVE for v in tested),
        "counts": {v: verdicts.count(v) for v in VERDICTS},
        "alpha": alpha,
        "expected_false_positives": stored(alpha * len(tested)),  # 0.15, not 0.15000000000000002, as it is saved
        "equivalence_margin": EQUIVALENCE_MARGIN,
    }


class Summary:
    """A notebook's headline numbers and claims; re-recording a quantity or claim id replaces it.

    `calibration` (from `load_calibration`) supplies the gates; every claim recorded through `.claim` passes the
    preconditions of the verdict rules (module docstring): smoke profile, then the claim's gate.
    `extra` holds notebook-specific JSON (the calibration notebook's gates and noise floors).
    """

    def __init__(
        self,
        notebook: str,
        title: str,
        profile: str,
        seeds: int = 1,
        scale_note: str = "",
        calibration: Calibration | None = None,
    ) -> None:
        self.notebook, self.title, self.profile = notebook, title, profile
        self.seeds, self.scale_note = seeds, scale_note  # defaults of every claim built by .claim(...)
        self.calibration = calibration
        self.headlines: dict[str, Headline] = {}
        self.claims: dict[str, Claim] = {}
        self.extra: dict = {}

    def headline(self, quantity: str, ours: Value, paper: Value, unit: str = "", note: str = "") -> Headline:
        """Record one headline number, ours beside the paper's."""
        self.headlines[quantity] = Headline(quantity, ours, paper, unit, note)
        return self.headlines[quantity]

    def precondition_failure(self, gate: str) -> str | None:
        """Why a claim needing `gate` ('' = none) cannot be tested here, or None."""
        if self.profile in SMOKE_PROFILES:
            return f"profile {self.profile}: its numbers are never findings"
        if not gate:
            return None
        if self.calibration is None:
            return (
                f"the {gate} gate is unmeasured: the calibration notebook ({CALIBRATION_NOTEBOOK}) has not run at "
                f"profile {self.profile}"
            )
        g = self.calibration.gates.get(gate)
        if g is None or not g.get("passed"):
            return f"the {gate} gate did not pass ({g['evidence'] if g else 'not measured'})"
        return None

    def claim(self, claim: Claim | str, *args, **fields) -> Claim:
        """Record a Claim, or build one from Claim's arguments (profile, seeds, scale_note default to the summary's),
        after the preconditions: a failed one makes it 'untestable at this scale', keeping raw_verdict."""
        if not isinstance(claim, Claim):
            claim = Claim(
                claim, *args, **{"profile": self.profile, "seeds": self.seeds, "scale_note": self.scale_note, **fields}
            )
        reason = self.precondition_failure(claim.gate)
        if reason and claim.verdict != UNTESTABLE:
            claim.evidence = f"{reason} (the numbers alone: {claim.verdict}, {claim.evidence})"
            claim.verdict = UNTESTABLE
        elif reason and not claim.evidence.startswith(reason):  # already untestable for another reason: name both
            claim.evidence = f"{reason}; also: {claim.evidence}"
        self.claims[claim.id] = claim
        return claim

    def ledger(self) -> dict:
        """`ledger_stats` of this notebook's claims."""
        return ledger_stats(list(self.claims.values()))

    def table(self) -> pd.DataFrame:
        """Headlines as a DataFrame indexed by quantity, with columns paper / ours / note. No difference column: our
        scale (data, model, schedule) differs from the paper's, so the two numbers are shown side by side, not subtracted.
        """
        rows = [
            {
                "quantity": f"{h.quantity} ({h.unit})" if h.unit else h.quantity,
                "paper": h.paper,
                "ours": h.ours,
                "note": h.note,
            }
            for h in self.headlines.values()
        ]
        return pd.DataFrame(rows, columns=["quantity", "paper", "ours", "note"]).set_index("quantity")

    def claims_table(self) -> pd.DataFrame:
        """Claims as a DataFrame indexed by id: verdict, gate, ours (with its CI, at the precision the CI supports),
        paper, evidence."""

        def ours(c: Claim) -> str:
            if isinstance(c.ours, float):
                return format_estimate(c.ours, c.ci) + (f" {c.unit}" if c.unit else "")
            return format_value(c.ours)

        rows = [
            {
                "id": c.id,
                "verdict": c.verdict,
                "gate": c.gate or "—",
                "ours [95% CI]": ours(c),
                "paper": format_value(c.paper),
                "evidence": c.evidence,
            }
            for c in self.claims.values()
        ]
        return pd.DataFrame(rows, columns=["id", "verdict", "gate", "ours [95% CI]", "paper", "evidence"]).set_index("id")

    def to_dict(self) -> dict:
        """The summary JSON object, its floats at SIGNIFICANT_DIGITS (`stored`)."""
        return stored(
            {
                "notebook": self.notebook,
                "title": self.title,
                "profile": self.profile,
                "headlines": [asdict(h) for h in self.headlines.values()],
                "claims": [asdict(c) for c in self.claims.values()],
                "ledger": self.ledger(),
                "extra": self.extra,
            }
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the summary JSON atomically."""
        return save_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Summary:
        """Read a summary written by `save` (claims as saved: the preconditions are not applied twice)."""
        data = json.loads(Path(path).read_text())
        summary = cls(data["notebook"], data["title"], data["profile"])
        for h in data["headlines"]:
            summary.headline(**h)
        for c in data["claims"]:
            claim = Claim(**c)
            summary.claims[claim.id] = claim
        summary.extra = data.get("extra", {})
        return summary
