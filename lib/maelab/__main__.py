"""python -m maelab {runs,notebooks,report,status,check,notebook}: the stages reproduce.sh calls.

runs       pretrain / finetune / probe every run the selected papers need (skips finished ones)
notebooks  execute the selected papers' notebooks with papermill into results/<profile>/notebooks/
report     render executed notebooks to HTML + index.html with the claims ledger
status     list the runs and whether each is done
check      validate --profile, --set and --paper, then print the profile's dataset name
notebook   rerun ONE notebook with new parameters, e.g.
           python -m maelab notebook notebooks/lcmae_4_1_decoder.py --profile mini -p mask_seed 3
           (python -m maelab notebook --help for its options)
"""

import argparse
import os
import sys
from pathlib import Path

from .pipeline.config import ConfigError, Profile, available_profiles, load_profile, parse_override
from .pipeline.registry import PAPERS, all_runs
from .pipeline.runs import RunConflict, run_dir, run_state

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


ALWAYS = ("calibration", "data")  # notebooks every selection executes first: the calibration gate, the datasheet


def notebooks_of(papers: tuple[str, ...], notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    """The papers' notebooks (by name prefix), in report order."""
    order = [*ALWAYS, *papers]
    chosen = [p for p in notebooks_dir.glob("*.py") if p.stem.split("_", 1)[0] in order]
    return sorted(chosen, key=lambda p: (order.index(p.stem.split("_", 1)[0]), p.stem))


def paper_notebooks(papers: tuple[str, ...], notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    """The papers' own notebooks (not the ones every selection executes)."""
    return [p for p in notebooks_of(papers, notebooks_dir) if p.stem.split("_", 1)[0] in papers]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m maelab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("stage", choices=["runs", "notebooks", "report", "status", "check"])
    ap.add_argument("--profile", default="mini", help=f"one of {available_profiles()} or a path to a .toml (default: mini)")
    ap.add_argument("--paper", action="append", choices=PAPERS, help="restrict to a paper (repeatable; default: all)")
    ap.add_argument("--results-dir", default=str(REPO / "results"), type=Path)
    ap.add_argument("--cluster", default="auto", help="auto | slurm | local | debug (auto = slurm when sbatch is on PATH)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be submitted, run nothing")
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a profile value, e.g. --set slurm.partition=gpu --set pretrain.epochs=10",
    )
    ap.add_argument("--data-root", help="directory holding the dataset (sets data.root; not part of any run's identity)")
    ap.add_argument(
        "--rebuild",
        action="append",
        default=[],
        metavar="RUN",
        help="runs: retrain a finished run whose weights are not in this checkout (repeatable)",
    )
    ap.add_argument("--keep-code", action="store_true", help="report: show code cells")
    return ap.parse_args(argv)


def checked_profile(name: str, overrides: list[str], data_root: str | None) -> Profile:
    """load_profile, where an error caused by a --set override names that override."""
    load_profile(name)  # an unknown profile is reported as such, not as a bad override
    for text in overrides:
        parse_override(text)  # its errors (malformed, unknown section) name the override
        try:
            load_profile(name, [text])
        except ConfigError as e:
            raise ConfigError(f"--set {text}: {e}") from e
    roots = (
        [f"{s}.root={str(Path(data_root).resolve())!r}" for s in ("data", "finetune_data", "probe_data")] if data_root else []
    )
    return load_profile(name, overrides + roots)


def unimplemented_papers(profile: Profile) -> list[str]:
    """Papers with no notebook under notebooks/ and no runs of their own (beyond those every selection gets)."""
    common = {r.name for r in all_runs(profile, ())}
    return [p for p in PAPERS if not paper_notebooks((p,)) and {r.name for r in all_runs(profile, (p,))} <= common]


def selected_papers(requested: list[str] | None, profile: Profile) -> tuple[str, ...]:
    """The requested papers (default: all) that have notebooks or runs; an error when none of the requested has."""
    empty = unimplemented_papers(profile)
    papers = tuple(dict.fromkeys(requested or PAPERS))
    ready = tuple(p for p in papers if p not in empty)
    skipped = [p for p in papers if p in empty]
    if requested and skipped:
        message = f"{', '.join(skipped)}: no notebooks under notebooks/ and no runs yet"
        if not ready:
            raise ConfigError(
                f"{message}, nothing to do; papers with notebooks or runs: {[p for p in PAPERS if p not in empty]}"
            )
        print(f"note: {message}; doing {', '.join(ready)}", file=sys.stderr)
    return ready


def run_stage(args: argparse.Namespace) -> int:
    """One stage; exit code 0 ok, 1 a run or notebook failed, 2 bad input (one line on stderr names the fix)."""
    try:
        profile = checked_profile(args.profile, args.overrides, args.data_root)
        papers = selected_papers(args.paper, profile)
        if args.stage == "check":
            print(profile.data.name)
            return 0
        runs = all_runs(profile, papers)
        if args.stage == "status":
            for r in runs:
                print(f"{run_state(run_dir(args.results_dir, profile.name, r.name), r):7s} {r.kind:9s} {r.name}")
            return 0
        if args.stage == "runs":
            from .pipeline.launch import launch, summarize

            outcomes = launch(runs, profile, args.results_dir, args.cluster, args.dry_run, rebuild=tuple(args.rebuild))
            print(summarize(outcomes) if not args.dry_run else f"{len(outcomes)} runs to do")
            return int(any(o.status in ("failed", "blocked") for o in outcomes))
    except (ConfigError, RunConflict, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.stage == "notebooks":
        from .pipeline.notebooks import execute

        failed = 0
        for nb in notebooks_of(papers):
            res = execute(nb, profile.name, args.results_dir, {"overrides": list(profile.overrides)})
            print(
                f"[{res.status}] {nb.name} ({res.duration_s:.0f} s) -> {res.output}"
                + (f"\n  {res.error}" if res.error else ""),
                flush=True,
            )
            failed += res.status != "ok"
        return int(failed > 0)
    from .pipeline.report import build_report

    sections = [{"name": nb.stem, "paper": nb.stem.split("_", 1)[0], "title": nb.stem} for nb in notebooks_of(PAPERS)]
    index = build_report(args.results_dir, profile.name, args.keep_code, sections, profile.description)
    print(f"report: {index}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`notebook ...` goes to the notebook runner's CLI, anything else is a stage."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["notebook"]:
            from .pipeline import notebooks

            return notebooks.main(argv[1:], prog="python -m maelab notebook")
        return run_stage(parse_args(argv))
    except BrokenPipeError:  # the reader went away, e.g. `python -m maelab status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # and Python's final flush must not fail again
        return 0


if __name__ == "__main__":
    sys.exit(main())
