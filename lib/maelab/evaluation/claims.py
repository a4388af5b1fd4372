"""Headline numbers and claim verdicts that a notebook records; verdicts are computed from numbers, never typed.

A notebook builds a `Summary`, adds `headline`s (ours beside the paper's number) and `claim`s whose
(verdict, evidence) pair comes from one of the `verdict_*` helpers, then saves it to `summary_path(...)`:

    summary.claim("lcmae-3a", "Local contrast raises linear-probe accuracy", *verdict_from_ci(ci), ours=d, ci=ci)
"""
from __future__ import annotations

import json
import math
import numbers
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats

VERDICTS = ("reproduced", "not reproduced", "inconclusive")
DIRECTIONS = ("greater", "less")

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

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        self.ours, self.paper = _plain(self.ours), _plain(self.paper)
        self.ci = None if self.ci is None else (float(self.ci[0]), float(self.ci[1]))
        self.seeds = int(self.seeds)

    def _repr_markdown_(self) -> str:
        """How a notebook shows the claim: verdict, statement, numbers."""
        ci = "" if self.ci is None else f", 95% CI [{format_value(self.ci[0])}, {format_value(self.ci[1])}]"
        return (f"**{self.verdict}** (`{self.id}`): {self.statement}  \n"
                f"ours {format_value(self.ours)}, paper {format_value(self.paper)}{ci}; {self.evidence}")


def format_value(value: object) -> str:
    """A number to 4 significant digits, None as a dash, anything else as text."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


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


def _plain(value: object) -> Value:
    """numpy scalars -> Python floats, so that a summary is plain JSON."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"a headline or claim value must be a number, a string or None, got {type(value).__name__}")


def _delta(ours: Value, paper: Value) -> float | None:
    """ours - paper when both are numbers."""
    return ours - paper if isinstance(ours, float) and isinstance(paper, float) else None


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


# --- verdicts ----------------------------------------------------------------------------------------------------


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
    """Equivalence (two one-sided tests): reproduced if the CI lies inside (-margin, margin), not reproduced if
    it lies entirely outside that band, inconclusive if it straddles a band edge."""
    lo, hi = ci
    span = f"{label} [{lo:.4g}, {hi:.4g}]"
    if -margin < lo and hi < margin:
        return "reproduced", f"{span} inside the equivalence band ±{margin:g}"
    if hi <= -margin or lo >= margin:
        return "not reproduced", f"{span} entirely outside the equivalence band ±{margin:g}"
    return "inconclusive", f"{span} crosses an edge of the equivalence band ±{margin:g}"


def verdict_from_point(value: float, threshold: float = 0.0, direction: str = "greater") -> Decision:
    """A single estimate with no uncertainty (one seed): always inconclusive; the evidence says which way it points.

    To decide with one seed, get an independent uncertainty (e.g. `difference_of_accuracies_ci`) and use
    `verdict_from_ci`; otherwise run more seeds and use `bootstrap_ci`.
    """
    _check_direction(direction)
    effect = value - threshold if direction == "greater" else threshold - value
    way = "the claimed way" if effect > 0 else "against the claim" if effect < 0 else "neither way"
    return "inconclusive", f"single estimate {value:.4g} vs {threshold:g} points {way}; no uncertainty estimate"


def verdict_spearman(x: Sequence[float], y: Sequence[float], expected_sign: int, alpha: float = 0.05) -> Decision:
    """Monotone trend: reproduced if Spearman rho has `expected_sign` (+1/-1) with p < alpha, not reproduced if
    significant the other way, else inconclusive."""
    if expected_sign not in (1, -1):
        raise ValueError(f"expected_sign must be +1 or -1, got {expected_sign!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        result = stats.spearmanr(x, y)
    rho, p = float(result.statistic), float(result.pvalue)
    if math.isnan(rho):
        return "inconclusive", f"Spearman rho undefined (constant input), n={len(x)}"
    evidence = f"Spearman rho={rho:+.3f}, p={p:.3g}, n={len(x)} (expected sign {expected_sign:+d}, alpha {alpha:g})"
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


class Summary:
    """A notebook's headline numbers and claims; re-recording a quantity or claim id replaces it."""

    def __init__(self, notebook: str, title: str, profile: str, seeds: int = 1, scale_note: str = "") -> None:
        self.notebook, self.title, self.profile = notebook, title, profile
        self.seeds, self.scale_note = seeds, scale_note  # defaults of every claim built by .claim(...)
        self.headlines: dict[str, Headline] = {}
        self.claims: dict[str, Claim] = {}

    def headline(self, quantity: str, ours: Value, paper: Value, unit: str = "", note: str = "") -> Headline:
        """Record one headline number, ours beside the paper's."""
        self.headlines[quantity] = Headline(quantity, ours, paper, unit, note)
        return self.headlines[quantity]

    def claim(self, claim: Claim | str, *args, **fields) -> Claim:
        """Record a Claim, or build one from Claim's arguments (profile, seeds, scale_note default to the summary's)."""
        if not isinstance(claim, Claim):
            claim = Claim(claim, *args, **{"profile": self.profile, "seeds": self.seeds, "scale_note": self.scale_note, **fields})
        self.claims[claim.id] = claim
        return claim

    def table(self) -> pd.DataFrame:
        """Headlines as a DataFrame indexed by quantity, with columns paper / ours / delta."""
        rows = [
            {
                "quantity": f"{h.quantity} ({h.unit})" if h.unit else h.quantity,
                "paper": h.paper,
                "ours": h.ours,
                "delta": _delta(h.ours, h.paper),
            }
            for h in self.headlines.values()
        ]
        return pd.DataFrame(rows, columns=["quantity", "paper", "ours", "delta"]).set_index("quantity")

    def claims_table(self) -> pd.DataFrame:
        """Claims as a DataFrame indexed by id: verdict, ours, paper, CI, evidence."""
        rows = [{"id": c.id, "verdict": c.verdict, "ours": c.ours, "paper": c.paper, "ci": c.ci, "evidence": c.evidence}
                for c in self.claims.values()]
        return pd.DataFrame(rows, columns=["id", "verdict", "ours", "paper", "ci", "evidence"]).set_index("id")

    def to_dict(self) -> dict:
        """The summary JSON object."""
        return {
            "notebook": self.notebook,
            "title": self.title,
            "profile": self.profile,
            "headlines": [asdict(h) for h in self.headlines.values()],
            "claims": [asdict(c) for c in self.claims.values()],
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the summary JSON atomically."""
        return save_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Summary:
        """Read a summary written by `save`."""
        data = json.loads(Path(path).read_text())
        summary = cls(data["notebook"], data["title"], data["profile"])
        for h in data["headlines"]:
            summary.headline(**h)
        for c in data["claims"]:
            summary.claim(Claim(**c))
        return summary
