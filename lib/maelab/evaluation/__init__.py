"""Evaluation: metrics, claims and verdicts, figures, and generic measurements on finished runs."""
