"""Tests for maelab.models.dino: augmentation against torchvision, loss and EMAs against the paper's formulas, a tiny run."""

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from maelab.models.dino import (
    DINO,
    DINOConfig,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    dino_loss,
    gaussian_blur,
    multicrop,
    solarize,
    teacher_momentum_at,
    teacher_temp_at,
)
from maelab.models.vit import ViTConfig

TINY = ViTConfig(img_size=28, patch_size=4, in_chans=1, embed_dim=32, depth=2, num_heads=2)
TINY_DINO = DINOConfig(out_dim=64, head_hidden_dim=64, head_bottleneck_dim=16, local_crops_number=2, local_crop_size=12)


def _tiny(in_chans: int = 1, img_size: int = 28, **kw) -> DINO:
    torch.manual_seed(0)
    enc = ViTConfig(img_size=img_size, patch_size=4, in_chans=in_chans, embed_dim=32, depth=2, num_heads=2)
    return DINO(enc, DINOConfig(**{**TINY_DINO.__dict__, **kw}), "fashion_mnist" if in_chans == 1 else "cifar10")


def _images(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize("c, size, dataset", [(1, 28, "fashion_mnist"), (3, 32, "cifar10")])
def test_multicrop_shapes(c: int, size: int, dataset: str) -> None:
    cfg = DINOConfig(local_crops_number=3, local_crop_size=12)
    crops = multicrop(_images(5, c, size), cfg, dataset, torch.Generator().manual_seed(0))
    assert len(crops) == 2 + 3
    assert [tuple(v.shape) for v in crops] == [(5, c, size, size)] * 2 + [(5, c, 12, 12)] * 3
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in crops)


@pytest.mark.parametrize("c", [1, 3])
def test_multicrop_reproducible_with_the_generator(c: int) -> None:
    x, cfg = _images(6, c, 28), DINOConfig(local_crops_number=2, local_crop_size=12)
    dataset = "fashion_mnist" if c == 1 else "cifar10"
    a, b, other = (multicrop(x, cfg, dataset, torch.Generator().manual_seed(s)) for s in (1, 1, 2))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert all(not torch.equal(u, v) for u, v in zip(a, other))
    assert not torch.equal(a[0], a[1])  # the two global views differ


@pytest.mark.parametrize(
    "ours, theirs, lo, hi",
    [
        (adjust_brightness, TF.adjust_brightness, 0.6, 1.4),
        (adjust_contrast, TF.adjust_contrast, 0.6, 1.4),
        (adjust_saturation, TF.adjust_saturation, 0.8, 1.2),
        (adjust_hue, TF.adjust_hue, -0.1, 0.1),
    ],
)
def test_colour_ops_match_torchvision_per_image(ours, theirs, lo, hi) -> None:
    x = torch.rand(6, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    f = torch.linspace(lo, hi, 6)
    expected = torch.stack([theirs(img, float(fi)) for img, fi in zip(x, f)])
    torch.testing.assert_close(ours(x, f), expected, atol=1e-5, rtol=1e-5)


def test_contrast_of_grey_images_uses_their_mean() -> None:
    x = torch.rand(3, 1, 8, 8)
    f = torch.tensor([0.6, 1.0, 1.4])
    expected = torch.stack([TF.adjust_contrast(img, float(fi)) for img, fi in zip(x, f)])
    torch.testing.assert_close(adjust_contrast(x, f), expected)


def test_gaussian_blur_matches_torchvision_per_image() -> None:
    x = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.1, 0.5, 1.0, 2.0])
    expected = torch.stack([TF.gaussian_blur(img, [13, 13], [float(s)] * 2) for img, s in zip(x, sigma)])
    torch.testing.assert_close(gaussian_blur(x, sigma, radius=6), expected, atol=1e-5, rtol=1e-5)


def test_solarize_inverts_from_128() -> None:
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal((solarize(x.float() / 255) * 255).round().to(torch.uint8), TF.solarize(x, 128))


def _brute_force_loss(s: torch.Tensor, t: torch.Tensor, center: torch.Tensor, ts: float, tt: float) -> torch.Tensor:
    """The DINO paper's Algorithm 1 / main_dino.py loop, written out pair by pair and sample by sample."""
    terms = []
    for i in range(t.shape[0]):
        for v in range(s.shape[0]):
            if v == i:
                continue
            per_sample = [
                -(F.softmax((t[i, b] - center[0]) / tt, -1) * F.log_softmax(s[v, b] / ts, -1)).sum() for b in range(s.shape[1])
            ]
            terms.append(torch.stack(per_sample).mean())
    return torch.stack(terms).mean()


def test_loss_excludes_same_view_pairs() -> None:
    g = torch.Generator().manual_seed(0)
    s, t, center = torch.randn(4, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g), torch.randn(1, 5, generator=g)
    loss = dino_loss(s, t, center, 0.1, 0.04)
    torch.testing.assert_close(loss, _brute_force_loss(s, t, center, 0.1, 0.04))
    # two global views only: exactly the two cross pairs (t0 -> s1, t1 -> s0), never t0 -> s0 or t1 -> s1
    ce = lambda i, v: -(F.softmax((t[i] - center) / 0.04, -1) * F.log_softmax(s[v] / 0.1, -1)).sum(-1).mean()  # noqa: E731
    torch.testing.assert_close(dino_loss(s[:2], t, center, 0.1, 0.04), (ce(0, 1) + ce(1, 0)) / 2)
    assert not torch.isclose(dino_loss(s[:2], t, center, 0.1, 0.04), (ce(0, 0) + ce(0, 1) + ce(1, 0) + ce(1, 1)) / 4)


def test_center_update_is_the_ema_of_the_batch_mean() -> None:
    model = _tiny()
    c0 = torch.randn(1, 64)
    model.center.copy_(c0)
    t = torch.randn(10, 64)
    model.update_center(t)
    torch.testing.assert_close(model.center, 0.9 * c0 + 0.1 * t.mean(0, keepdim=True))


def test_forward_moves_the_center_by_the_teacher_output() -> None:
    model = _tiny()
    x, g = _images(4, 1, 28), torch.Generator().manual_seed(3)
    crops = multicrop(x, model.cfg, "fashion_mnist", torch.Generator().manual_seed(3))
    with torch.no_grad():
        t = model.teacher(crops[:2])
    model(x, g, 0.0)
    torch.testing.assert_close(model.center, 0.1 * t.mean(0, keepdim=True))


def test_teacher_ema_is_exact() -> None:
    model = _tiny()
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(torch.randn_like(p))
    before = [p.clone() for p in model.teacher.parameters()]
    progress = 0.3
    m = teacher_momentum_at(progress, 0.996)
    model.update_teacher(progress)
    for p_t, t0, p_s in zip(model.teacher.parameters(), before, model.student.parameters()):
        torch.testing.assert_close(p_t, m * t0 + (1 - m) * p_s, rtol=1e-6, atol=1e-7)


def test_teacher_starts_as_the_student_and_gets_no_gradient() -> None:
    model = _tiny()
    for p_t, p_s in zip(model.teacher.parameters(), model.student.parameters()):
        assert torch.equal(p_t, p_s)
    loss, logs = model(_images(4, 1, 28), torch.Generator().manual_seed(0), 0.0)
    loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.teacher.parameters())
    trainable = [p for p in model.student.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trainable)
    assert model.encoder is model.teacher.backbone
    assert set(logs) == {"loss", "teacher_temp", "teacher_entropy", "kl_teacher_student", "marginal_kl_uniform"}


def test_last_layer_is_weight_normalised_with_g_frozen() -> None:
    head = _tiny().student.head
    w = head.last_layer.weight  # [out_dim, bottleneck]
    torch.testing.assert_close(w.norm(dim=1), torch.ones(64))
    assert not head.last_layer.parametrizations.weight.original0.requires_grad
    assert _tiny(norm_last_layer=False).student.head.last_layer.parametrizations.weight.original0.requires_grad


def test_cancel_last_layer_grad_in_the_first_epoch_only() -> None:
    model = _tiny(freeze_last_layer_frac=0.1)
    for progress, cancelled in [(0.05, True), (0.1, False)]:
        model.zero_grad(set_to_none=True)
        model(_images(4, 1, 28), torch.Generator().manual_seed(0), progress)[0].backward()
        model.cancel_last_layer_grad(progress)
        assert (model.student.head.last_layer.parametrizations.weight.original1.grad is None) == cancelled
        assert model.student.head.mlp[0].weight.grad is not None


def test_train_loop_hooks_track_progress() -> None:
    """train.py calls before_optimizer_step(k, total), the step, then after_optimizer_step(k + 1, total)."""
    model, total = _tiny(freeze_last_layer_frac=0.5), 10
    x, g = _images(4, 1, 28), torch.Generator().manual_seed(0)
    for k in range(3):
        loss, logs = model(x, g)  # progress from the model: k / total
        assert float(logs["teacher_temp"]) == pytest.approx(teacher_temp_at(k / total, 0.04, 0.07, 0.3))
        loss.backward()
        model.before_optimizer_step(k, total)
        assert model.student.head.last_layer.parametrizations.weight.original1.grad is None  # k / total < 0.5
        before = [p.clone() for p in model.teacher.parameters()]
        with torch.no_grad():
            for p in model.student.parameters():
                p.add_(0.01)
        model.after_optimizer_step(k + 1, total)
        m = teacher_momentum_at(k / total, 0.996)
        for p_t, t0, p_s in zip(model.teacher.parameters(), before, model.student.parameters()):
            torch.testing.assert_close(p_t, m * t0 + (1 - m) * p_s, rtol=1e-6, atol=1e-7)
        model.zero_grad(set_to_none=True)
    assert float(model.progress) == pytest.approx(0.3)
    assert "progress" in model.state_dict()  # resumes with the checkpoint


def test_schedules_hit_their_endpoints() -> None:
    assert teacher_momentum_at(0.0, 0.996) == pytest.approx(0.996)
    assert teacher_momentum_at(0.5, 0.996) == pytest.approx(0.998)
    assert teacher_momentum_at(1.0, 0.996) == pytest.approx(1.0)
    assert teacher_temp_at(0.0, 0.04, 0.07, 0.3) == pytest.approx(0.04)
    assert teacher_temp_at(0.15, 0.04, 0.07, 0.3) == pytest.approx(0.055)
    assert teacher_temp_at(0.3, 0.04, 0.07, 0.3) == teacher_temp_at(1.0, 0.04, 0.07, 0.3) == pytest.approx(0.07)


def test_local_crops_go_through_the_encoder_in_size_groups() -> None:
    model = _tiny().eval()
    crops = multicrop(_images(3, 1, 28), model.cfg, "fashion_mnist", torch.Generator().manual_seed(0))
    latent, _ = model.encoder(crops[-1])
    assert latent.shape == (3, 1 + 3 * 3, 32)
    with torch.no_grad():
        grouped = model.teacher(crops)
        one_by_one = torch.cat([model.teacher.head(model.encoder(c)[0][:, 0]) for c in crops])
    torch.testing.assert_close(grouped, one_by_one, atol=1e-5, rtol=1e-5)


def test_local_crop_size_must_be_a_multiple_of_the_patch() -> None:
    with pytest.raises(ValueError, match="multiple of patch_size"):
        DINO(TINY, DINOConfig(local_crop_size=10), "fashion_mnist")


def _patterns(n: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 [n, 1, 28, 28]: 4 classes (horizontal / vertical stripes, checkerboard, centred disc) plus noise."""
    r, c = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    disc = (r - 13.5) ** 2 + (c - 13.5) ** 2 < 64
    bases = torch.stack([(r // 3) % 2, (c // 3) % 2, ((r // 4) + (c // 4)) % 2, disc]).float()
    x = bases[torch.randint(0, 4, (n,), generator=generator)] * 200 + 30 * torch.rand(n, 28, 28, generator=generator)
    return x[:, None].clamp(0, 255).to(torch.uint8)


def test_student_fits_a_fixed_teacher() -> None:
    """With the teacher, centre and tau_t frozen (lambda = 1, m = 1, progress 1), the loss is H(P_t) + KL with H(P_t)
    constant, so the student can only lower the KL. Adam is not monotone step by step (the earlier per-step check failed
    on clean code for most seeds); asserted instead: teacher and centre exactly unchanged, H(P_t) constant, and the KL
    at least 25% lower after 30 steps (seed 0: 67% lower; over seeds 0-19 of init, data and crops: 41-76% lower)."""
    torch.manual_seed(0)
    cfg = DINOConfig(**{**TINY_DINO.__dict__, "momentum_teacher": 1.0, "center_momentum": 1.0})
    model = DINO(TINY, cfg, "fashion_mnist", drop_path_rate=0.0)
    teacher0 = [p.clone() for p in model.teacher.parameters()]
    opt = torch.optim.AdamW([p for p in model.student.parameters() if p.requires_grad], lr=1e-3)
    x = _patterns(32, torch.Generator().manual_seed(0))
    logs = []
    for _ in range(30):
        loss, log = model(x, torch.Generator().manual_seed(1), 1.0)  # the same crops every step
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.update_teacher(1.0)
        logs.append({k: float(v) for k, v in log.items()})
    assert all(torch.equal(p, p0) for p, p0 in zip(model.teacher.parameters(), teacher0))
    assert model.center.abs().sum() == 0
    assert all(d["teacher_entropy"] == pytest.approx(logs[0]["teacher_entropy"], rel=1e-5) for d in logs)
    assert logs[0]["kl_teacher_student"] > 0.1
    assert logs[-1]["kl_teacher_student"] < 0.75 * logs[0]["kl_teacher_student"], [round(d["loss"], 3) for d in logs]
    first, last = (sum(d["loss"] for d in part) / 10 for part in (logs[:10], logs[-10:]))
    assert last < first


def test_tiny_model_trains_30_steps_and_centring_spreads_the_teacher() -> None:
    """Full DINO steps on 4 synthetic pattern classes: finite, the teacher follows the student, and centring lifts the
    teacher out of the near one-hot output of initialisation (§5.3: centring prevents one-dimension collapse)."""
    model, steps = _tiny(), 30
    teacher0 = [p.clone() for p in model.teacher.parameters()]
    opt = torch.optim.AdamW([p for p in model.student.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.04)
    g = torch.Generator().manual_seed(0)
    entropy = []
    for step in range(steps):
        progress = step / steps
        loss, logs = model(_patterns(32, g), g, progress)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        model.cancel_last_layer_grad(progress)
        opt.step()
        model.update_teacher(progress)
        assert all(torch.isfinite(v) for v in logs.values()), logs
        entropy.append(float(logs["teacher_entropy"]))
    assert entropy[0] < 0.25 * math.log(64) and 0.75 * math.log(64) < entropy[-1] <= math.log(64) + 1e-4, entropy
    pairs = zip(model.teacher.parameters(), teacher0, model.student.parameters())
    moved = [not torch.equal(p, p0) for p, p0, p_s in pairs if p_s.requires_grad]
    assert all(moved)
    assert model.center.abs().sum() > 0
