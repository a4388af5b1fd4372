"""python -m maelab {runs,notebooks,report,status}: the stages reproduce.sh calls.

  runs       pretrain / finetune / probe every run the selected papers need (skips finished ones)
  notebooks  execute the selected papers' notebooks with papermill into results/<profile>/notebooks/
  report     render executed notebooks to HTML + index.html with the claims ledger
  status     list the runs and whether each is done
"""

import argparse
import sys
from pathlib import Path

from .pipeline.config import ConfigError, available_profiles, load_profile
from .pipeline.runs import RunConflict, run_dir, run_state
from .pipeline.registry import PAPERS, all_runs

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def paper_notebooks(papers: tuple[str, ...], notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    return sorted(p for p in notebooks_dir.glob("*.py") if p.stem.split("_", 1)[0] in papers)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m maelab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["runs", "notebooks", "report", "status"])
    ap.add_argument("--profile", default="mini", help=f"one of {available_profiles()} or a path to a .toml (default: mini)")
    ap.add_argument("--paper", action="append", choices=PAPERS, help="restrict to a paper (repeatable; default: all)")
    ap.add_argument("--results-dir", default=str(REPO / "results"), type=Path)
    ap.add_argument("--cluster", default="auto", help="auto | slurm | local | debug (auto = slurm when sbatch is on PATH)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be submitted, run nothing")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="override a profile value, e.g. --set slurm.partition=gpu --set pretrain.epochs=10")
    ap.add_argument("--data-root", help="directory holding the dataset (sets data.root; not part of any run's identity)")
    ap.add_argument("--rebuild", action="append", default=[], metavar="RUN",
                    help="runs: retrain a finished run whose weights are not in this checkout (repeatable)")
    ap.add_argument("--keep-code", action="store_true", help="report: show code cells")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    papers = tuple(args.paper or PAPERS)
    overrides = list(args.overrides)
    if args.data_root:
        overrides += [f"{s}.root={str(Path(args.data_root).resolve())!r}" for s in ("data", "finetune_data", "probe_data")]
    try:
        profile = load_profile(args.profile, overrides)
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
        for nb in paper_notebooks(papers):
            res = execute(nb, profile.name, args.results_dir, {"overrides": overrides})
            print(f"[{res.status}] {nb.name} ({res.duration_s:.0f} s) -> {res.output}" + (f"\n  {res.error}" if res.error else ""), flush=True)
            failed += res.status != "ok"
        return int(failed > 0)
    from .pipeline.report import build_report

    sections = [{"name": nb.stem, "paper": nb.stem.split("_", 1)[0], "title": nb.stem} for nb in paper_notebooks(PAPERS)]
    index = build_report(args.results_dir, profile.name, args.keep_code, sections, profile.description)
    print(f"report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
