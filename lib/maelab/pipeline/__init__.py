"""Pipeline: profiles, the run registry, run directories, the launcher, the notebook runner and the report."""
