"""Atomic checkpoints and the random-number state needed to resume a run exactly."""

import os
import random
from pathlib import Path

import numpy as np
import torch


def atomic_save(obj: object, path: Path) -> None:
    """torch.save to a temporary file beside path, then rename: a reader never sees a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load(path: Path, map_location: str | torch.device = "cpu") -> dict:
    return torch.load(path, map_location=map_location, weights_only=False)


def load_if_readable(path: Path, map_location: str | torch.device = "cpu") -> dict | None:
    """The checkpoint at path; None when there is none, or when it does not load (saying so: training restarts,
    which loses only the work since step 0 of this run, never a finished result)."""
    if not Path(path).exists():
        return None
    try:
        return load(path, map_location)
    except Exception as e:  # torch.load raises RuntimeError, UnpicklingError, EOFError, ... on a damaged file
        print(f"{path} is unreadable ({type(e).__name__}: {e}); training restarts from step 0", flush=True)
        return None


def trained_seconds(path: Path) -> float:
    """Training time a checkpoint carries over from earlier attempts (0 without a readable one); tensors stay unread."""
    try:
        return float(torch.load(path, map_location="cpu", weights_only=False, mmap=True).get("elapsed_s", 0.0))
    except Exception:  # no checkpoint, or a damaged one that training will discard
        return 0.0


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
