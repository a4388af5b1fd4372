import math

import pytest

from maelab.models.mae import MaskedAutoencoder
from maelab.models.vit import ViTConfig
from maelab.training.finetune import ViTClassifier
from maelab.training.optim import OptimConfig, build_optimizer, layer_id, lr_at, param_groups, set_lr


def test_lr_scaling_rule():
    assert OptimConfig(blr=1.5e-4, batch_size=1024).lr == 1.5e-4 * 4


def test_warmup_then_half_cosine():
    assert lr_at(0, 100, 10, 1.0, 0.0) == 0.0
    assert lr_at(5, 100, 10, 1.0, 0.0) == 0.5
    assert lr_at(10, 100, 10, 1.0, 0.1) == 1.0
    assert math.isclose(lr_at(55, 100, 10, 1.0, 0.0), 0.5)
    assert math.isclose(lr_at(100, 100, 10, 1.0, 0.1), 0.1)


def test_no_weight_decay_on_bias_norm_tokens(tiny_mae_cfg):
    model = MaskedAutoencoder(tiny_mae_cfg)
    groups = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    for g in groups:
        for p in g["params"]:
            n = names[id(p)]
            no_decay = p.ndim == 1 or n.endswith(".bias") or "token" in n
            assert g["weight_decay"] == (0.0 if no_decay else 0.05), n


def test_layer_decay_ids():
    assert layer_id("encoder.cls_token", 12) == 0
    assert layer_id("encoder.patch_embed.proj.weight", 12) == 0
    assert layer_id("encoder.blocks.0.attn.qkv.weight", 12) == 1
    assert layer_id("encoder.blocks.11.mlp.fc2.bias", 12) == 12
    assert layer_id("head.weight", 12) == 13


# lr_scale of parameters of a depth-3 classifier at layer_decay 0.75: decay^(L + 1 - layer), written out
HAND_SCALES = {
    "encoder.cls_token": 0.31640625,  # 0.75^4: embeddings are layer 0
    "encoder.patch_embed.proj.weight": 0.31640625,
    "encoder.patch_embed.proj.bias": 0.31640625,
    "encoder.blocks.0.attn.qkv.weight": 0.421875,  # 0.75^3
    "encoder.blocks.0.norm1.bias": 0.421875,
    "encoder.blocks.1.mlp.fc1.weight": 0.5625,  # 0.75^2
    "encoder.blocks.2.mlp.fc2.weight": 0.75,  # the last block
    "encoder.blocks.2.norm2.weight": 0.75,
    "encoder.norm.weight": 1.0,  # after the blocks: full lr
    "fc_norm.bias": 1.0,
    "head.weight": 1.0,
    "head.bias": 1.0,
}


def _classifier() -> ViTClassifier:
    return ViTClassifier(ViTConfig(img_size=16, patch_size=4, in_chans=1, embed_dim=16, depth=3, num_heads=2), 3)


def test_layer_decay_scales_by_name():
    """Guards against a reversed decay (head slowest, embeddings fastest): each named parameter's group scale."""
    model = _classifier()
    groups = param_groups(model, 0.05, layer_decay=0.75, num_layers=3)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    params = dict(model.named_parameters())
    assert sorted(scale) == sorted(id(p) for p in params.values())  # every parameter in exactly one group
    for name, expected in HAND_SCALES.items():
        assert scale[id(params[name])] == pytest.approx(expected), name
    assert decay[id(params["head.weight"])] == 0.05 and decay[id(params["encoder.blocks.0.norm1.bias"])] == 0.0
    # set_lr applies the scale: the optimizer's lr for the patch embedding is 0.75^4 of the head's
    opt = build_optimizer(groups, OptimConfig(batch_size=256, blr=1e-3))
    set_lr(opt, 1e-3)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lr_of[id(params["head.weight"])] == pytest.approx(1e-3)
    assert lr_of[id(params["encoder.patch_embed.proj.weight"])] == pytest.approx(0.31640625e-3)


def test_no_layer_decay_is_scale_one():
    groups = param_groups(_classifier(), 0.05)
    assert [g["lr_scale"] for g in groups] == [1.0] * len(groups)
