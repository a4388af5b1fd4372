import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def tiny_mae_cfg():
    from maelab.models.decoders import DecoderConfig
    from maelab.models.mae import MAEConfig
    from maelab.models.vit import ViTConfig

    return MAEConfig(
        encoder=ViTConfig(img_size=16, patch_size=4, in_chans=1, embed_dim=32, depth=2, num_heads=2),
        decoder=DecoderConfig(dim=16, depth=1, num_heads=2),
    )
