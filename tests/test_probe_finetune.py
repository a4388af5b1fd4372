import pytest
import torch

from maelab.data.datasets import ImageTensors
from maelab.models.vit import ViTConfig, ViTEncoder
from maelab.training.finetune import FinetuneConfig, FinetuneObjective, ViTClassifier, random_erasing
from maelab.training.probe import ProbeConfig, ProbeModel, cache_inputs

ENC = ViTConfig(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=2, num_heads=2)


def images(n=24):
    g = torch.Generator().manual_seed(0)
    return ImageTensors(torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=g), torch.arange(n) % 3)


@pytest.mark.parametrize("tune", ["none", "last_qkv"])
def test_cached_inputs_give_the_same_outputs_as_images(tune):
    torch.manual_seed(0)
    model = ProbeModel(ViTEncoder(ENC), 3, ProbeConfig(tune=tune)).eval()
    ds = images()
    cached = cache_inputs(model, ds, "fashion_mnist", batch_size=10)
    from maelab.data.augment import normalize

    assert torch.allclose(model(cached.images), model(normalize(ds.images, "fashion_mnist")), atol=1e-5)
    assert cached.images.dim() == (3 if tune == "last_qkv" else 2)


def test_only_the_probe_and_the_last_qkv_train():
    lp = ProbeModel(ViTEncoder(ENC), 3, ProbeConfig(head="linear"))
    assert {n for n, p in lp.named_parameters() if p.requires_grad} == {"head.weight", "head.bias"}
    pft = ProbeModel(ViTEncoder(ENC), 3, ProbeConfig(tune="last_qkv"))
    trainable = {n for n, p in pft.named_parameters() if p.requires_grad}
    assert trainable == {"encoder.blocks.1.attn.qkv.weight", "encoder.blocks.1.attn.qkv.bias", "head.1.weight", "head.1.bias"}
    bn = pft.head[0]
    assert isinstance(bn, torch.nn.BatchNorm1d) and not bn.affine


def test_train_mode_keeps_the_frozen_encoder_in_eval_and_updates_bn_stats():
    model = ProbeModel(ViTEncoder(ENC), 3, ProbeConfig()).train()
    assert model.head.training and not model.encoder.training
    before = model.head[0].running_mean.clone()
    model(torch.randn(8, 32))
    assert not torch.equal(before, model.head[0].running_mean)


def test_classifier_pools():
    x = torch.randn(2, 1, 16, 16)
    for pool in ("avg", "cls"):
        assert ViTClassifier(ENC, 5, pool)(x).shape == (2, 5)
    with pytest.raises(ValueError, match="global_pool"):
        FinetuneConfig(global_pool="max")


def test_random_erasing_replaces_one_box_or_nothing():
    x = torch.zeros(16, 1, 20, 20)
    assert torch.equal(random_erasing(x, 0.0, torch.Generator().manual_seed(0)), x)
    erased = random_erasing(x, 1.0, torch.Generator().manual_seed(0))
    for img in erased[:, 0]:
        rows, cols = (img != 0).any(1).nonzero().squeeze(1), (img != 0).any(0).nonzero().squeeze(1)
        area = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert 0.02 * 400 * 0.5 <= area <= 400 / 3 * 1.5  # one box of 2-33% of the image (rounding slack)


def test_finetune_objective_with_mixup_gives_a_finite_loss():
    model = ViTClassifier(ENC, 3)
    obj = FinetuneObjective(FinetuneConfig(mixup=0.8, cutmix=1.0), "fashion_mnist", 3)
    ds = images(8)
    loss, _ = obj(model, ds.images, ds.labels, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and loss.requires_grad
