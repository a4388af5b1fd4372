"""Dry-run estimates: FLOPs counted per image, scaled by the images a run processes, and the printed request."""

import pytest

from maelab.papers import tlcl
from maelab.pipeline.builders import default_mae, random_init
from maelab.pipeline.config import load_profile
from maelab.pipeline.estimate import describe, estimate, flops_per_image, images_processed


def test_a_probe_costs_one_encoder_forward_per_image():
    """Smoke encoder (32-d, 2 blocks, 49 patches + cls): 24 L D^2 per block for qkv, proj and MLP, plus the patch
    embedding 2 * 49 * (4*4*1) * 32; fused attention's 4 L^2 D per block may or may not be counted."""
    L, D, depth = 50, 32, 2
    linear = depth * 24 * L * D * D + 2 * 49 * 16 * 32
    flops = flops_per_image(random_init(load_profile("smoke"), 0)[1])
    assert linear <= flops <= linear + depth * 4 * L * L * D


def test_work_scales_with_epochs_and_images():
    p = load_profile("smoke")
    pre, ft, lp = default_mae(p, 0)
    longer = default_mae(load_profile("smoke", ["pretrain.epochs=3"]), 0)[0]
    assert images_processed(longer) == 3 * images_processed(pre) == 3 * 256
    assert images_processed(lp) == 256 + 500  # cached features: the training subset and the test subset, once
    one, three = estimate([pre, longer], p)
    assert three.tflop == pytest.approx(3 * one.tflop) and three.hours == pytest.approx(3 * one.hours)


def test_the_dry_run_prints_the_request_and_a_total():
    p = load_profile("smoke", ["runtime.achieved_tflops=1e-6"])
    text = describe(estimate(default_mae(p, 0), p), p)
    assert "time limit 10 min" in text and "1e-06 TFLOP/s achieved per job" in text
    assert "5 requeue(s) at the time limit" in text  # finetuning: 52.7 min of work in 10-minute jobs
    assert text.splitlines()[-1].startswith("total: 3 runs") and "job-hours" in text


def test_partial_finetuning_counts_its_tuned_block_every_step():
    """TLCL's partial FT trains the last block on cached tokens each step: forward + backward of one block (of two at
    smoke) is at least 2x its forward, x epochs, on top of the cached forward a plain probe costs."""
    p = load_profile("smoke")
    lp, pft = (r for r in tlcl.runs(p, 0) if r.name in ("random_init_tlcl_lp", "random_init_tlcl_pft"))
    plain, tuned = estimate([lp, pft], p)
    block_forward = flops_per_image(lp) / 2  # two equal blocks (the patch embedding is small beside them)
    extra = tuned.tflop - plain.tflop
    assert extra * 1e12 >= 2 * 0.9 * block_forward * pft.spec.optim.epochs * 256
