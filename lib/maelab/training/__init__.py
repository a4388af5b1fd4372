"""Training: optimisers and schedules, the one training loop, finetuning, probes, checkpoints, DDP."""
