"""Fixtures for tests that need a real (private, single-node) SLURM cluster.

``slurm_cluster`` (session scope) starts one cluster for the whole session and stops it at the end; tests that
talk to it should apply its environment, e.g. with the ``slurm_env`` fixture (SLURM_CONF and a PATH whose first entry
holds the ``sacct`` stand-in), or pass ``env=slurm_cluster.environ()`` to a subprocess.
"""

from __future__ import annotations

import os
import typing as tp

import pytest

from .cluster import SlurmCluster, missing_programs


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> tp.Iterator[SlurmCluster]:
    if os.geteuid() != 0:
        pytest.skip("a private SLURM cluster needs root (slurmd must run jobs as their user)")
    missing = missing_programs()
    if missing:
        pytest.skip(
            f"SLURM/munge not installed ({', '.join(missing)} missing): apt-get install slurmctld slurmd slurm-client munge"
        )
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def slurm_env(slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """The session cluster, with its client environment applied to os.environ for this test only."""
    for name in [k for k in os.environ if k.startswith(("SLURM_", "SBATCH_"))]:
        monkeypatch.delenv(name)
    for name, value in slurm_cluster.env.items():
        monkeypatch.setenv(name, value)
    return slurm_cluster
