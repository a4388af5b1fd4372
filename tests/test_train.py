"""Resume exactness and DDP equivalence of the one training loop."""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from maelab.data.augment import mae_augment, normalize
from maelab.data.datasets import ImageTensors
from maelab.models.mae import MaskedAutoencoder
from maelab.training.distributed import DistEnv
from maelab.training.optim import OptimConfig
from maelab.training.train import train


def toy_data(n=96):
    g = torch.Generator().manual_seed(0)
    return ImageTensors(torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=g), torch.arange(n) % 4)


def mae_objective(model, x, y, gen):
    out = model(mae_augment(x, "fashion_mnist", gen))  # random crops (generator) + random masks (torch RNG)
    return out.loss, {"mask_frac": out.mask.mean()}


CFG = OptimConfig(epochs=2, batch_size=16, blr=1e-3, warmup_epochs=0.5, weight_decay=0.05)


def run(cfg_model, tmp, stop_after=None):
    torch.manual_seed(123)  # same init
    model = MaskedAutoencoder(cfg_model)
    train(model, mae_objective, toy_data(), CFG, tmp, DistEnv(), seed=7, stop_after=stop_after, log_every=1)
    return model


def test_resume_is_bitwise_exact(tiny_mae_cfg, tmp_path):
    # 96 samples / 16 = 6 steps per epoch, 12 in all; stop mid-epoch at step 9
    straight = run(tiny_mae_cfg, tmp_path / "a")
    run(tiny_mae_cfg, tmp_path / "b", stop_after=9)
    resumed = run(tiny_mae_cfg, tmp_path / "b")  # a fresh model, restored from the checkpoint
    for (n, p), q in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), n
    logs = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert len(logs) == 12  # one line per step, none lost or duplicated around the resume


def test_stop_after_writes_checkpoint(tiny_mae_cfg, tmp_path):
    run(tiny_mae_cfg, tmp_path, stop_after=3)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)
    assert state["step"] == 3 and {"model", "optimizer", "scaler", "rank_states"} <= set(state)


def test_first_steps_follow_the_warmup(tiny_mae_cfg, tmp_path, monkeypatch):
    """Guards against a loop without warmup: the lr AdamW actually steps with. 48 samples / 16 = 3 steps per epoch,
    2 epochs = 6 steps, warmup 1 epoch = 3 steps, peak 1e-3 * 16 / 256: linear 0, 1/3, 2/3 of the peak, then the
    half-cosine over the 3 remaining steps, (1 + cos(k pi / 3)) / 2 = 1, 3/4, 1/4."""
    seen = []
    adamw_step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        seen.append([g["lr"] for g in self.param_groups])
        return adamw_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    torch.manual_seed(0)
    cfg = OptimConfig(epochs=2, batch_size=16, blr=1e-3, warmup_epochs=1, weight_decay=0.05)
    train(MaskedAutoencoder(tiny_mae_cfg), mae_objective, toy_data(48), cfg, tmp_path, DistEnv(), seed=7, log_every=1)
    peak = 1e-3 * 16 / 256
    assert [lrs[0] for lrs in seen] == pytest.approx([0.0, peak / 3, 2 * peak / 3, peak, 0.75 * peak, 0.25 * peak])
    assert all(len(set(lrs)) == 1 for lrs in seen)  # no layer decay: every group at the same lr


def ae_objective(model, x, y, gen):
    return model(normalize(x, "fashion_mnist"), mask_ratio=0.0).loss, {}  # deterministic given the sample


def _ddp_worker(rank, world, port, cfg_model, out_dir):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    torch.set_num_threads(1)
    from maelab.training.distributed import init_distributed

    env = init_distributed("cpu")
    torch.manual_seed(123)
    model = MaskedAutoencoder(cfg_model)
    cfg = OptimConfig(epochs=1, batch_size=32, blr=1e-3, warmup_epochs=0, weight_decay=0.05)
    train(model, ae_objective, toy_data(64), cfg, out_dir, env, seed=7, log_every=1)
    if rank == 0:
        torch.save(model.state_dict(), out_dir / "ddp_model.pt")
    torch.distributed.destroy_process_group()


def test_ddp_two_gloo_processes_match_one_process(tiny_mae_cfg, tmp_path):
    """2 ranks x 16 samples == 1 rank x 32 samples (same global batches). Tolerance: float32 all-reduce order, 1e-6.

    Excluded: the key slice of each qkv bias. Adding b_k shifts every logit of a query by q.b_k, which
    softmax ignores, so its true gradient is 0; AdamW divides the ~1e-9 float noise by its own RMS and
    takes a step of random sign whose size does not depend on how small the noise is.
    """
    cfg_model = type(tiny_mae_cfg)(tiny_mae_cfg.encoder, tiny_mae_cfg.decoder, mask_ratio=0.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(_ddp_worker, args=(2, port, cfg_model, tmp_path / "ddp"), nprocs=2, start_method="spawn")
    torch.manual_seed(123)
    single = MaskedAutoencoder(cfg_model)
    cfg = OptimConfig(epochs=1, batch_size=32, blr=1e-3, warmup_epochs=0, weight_decay=0.05)
    train(single, ae_objective, toy_data(64), cfg, tmp_path / "one", DistEnv(), seed=7)
    ddp = torch.load(tmp_path / "ddp" / "ddp_model.pt")
    init = MaskedAutoencoder(cfg_model).state_dict()
    for name, p in single.state_dict().items():
        a, b = ddp[name], p
        if name.endswith("attn.qkv.bias"):
            d = a.shape[0] // 3
            a, b = torch.cat([a[:d], a[2 * d :]]), torch.cat([b[:d], b[2 * d :]])
        assert torch.allclose(a, b, atol=1e-6, rtol=0), name
    moved = any(not torch.equal(p, init[n]) for n, p in single.state_dict().items())
    assert moved


def test_snapshots_hold_the_model_after_their_step_and_survive_a_resume(tiny_mae_cfg, tmp_path):
    """12 steps of 6 per epoch: epoch 0.5 is step 3 and epoch 1 step 6; a run stopped at step 4 and resumed keeps the
    step-3 snapshot and writes the step-6 one; both equal a straight run's model after those steps."""
    seen: dict[float, dict] = {}

    def snapshot_into(store):
        return lambda epoch: store.__setitem__(epoch, {k: v.clone() for k, v in model.state_dict().items()})

    torch.manual_seed(123)
    model = MaskedAutoencoder(tiny_mae_cfg)
    train(model, mae_objective, toy_data(), CFG, tmp_path / "a", DistEnv(), 7, snapshot_epochs=(0.5, 1.0, 2.0),
          snapshot=snapshot_into(seen))  # fmt: skip
    assert sorted(seen) == [0.5, 1.0]  # epoch 2 is the end of the schedule: the finished run itself
    straight3 = run(tiny_mae_cfg, tmp_path / "b", stop_after=3)
    for k, v in straight3.state_dict().items():
        assert torch.equal(seen[0.5][k], v), k
    resumed: dict[float, dict] = {}
    for stop in (4, None):
        torch.manual_seed(123)
        model = MaskedAutoencoder(tiny_mae_cfg)
        train(model, mae_objective, toy_data(), CFG, tmp_path / "c", DistEnv(), 7, stop_after=stop,
              snapshot_epochs=(0.5, 1.0), snapshot=snapshot_into(resumed))  # fmt: skip
    for k, v in seen[1.0].items():
        assert torch.equal(resumed[1.0][k], v), k
