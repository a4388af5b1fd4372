import math


from maelab.models.mae import MaskedAutoencoder
from maelab.training.optim import OptimConfig, layer_id, lr_at, param_groups


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


def test_layer_decay_ids_and_scales(tiny_mae_cfg):
    assert layer_id("encoder.cls_token", 12) == 0
    assert layer_id("encoder.patch_embed.proj.weight", 12) == 0
    assert layer_id("encoder.blocks.0.attn.qkv.weight", 12) == 1
    assert layer_id("encoder.blocks.11.mlp.fc2.bias", 12) == 12
    assert layer_id("head.weight", 12) == 13
    model = MaskedAutoencoder(tiny_mae_cfg).encoder
    groups = param_groups(model, 0.05, layer_decay=0.5, num_layers=2)
    scales = sorted({g["lr_scale"] for g in groups})
    assert scales == [0.125, 0.25, 0.5, 1.0]  # embed, block0, block1, final norm
