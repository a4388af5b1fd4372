"""What every notebook shows the same way: the plotting theme and the statement of scale."""

import matplotlib.pyplot as plt
import seaborn as sns

from ..data.datasets import images_per_epoch
from ..pipeline.config import Profile


def setup() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight"})


def scale_note(p: Profile) -> str:
    """One paragraph saying exactly what scale produced the numbers (printed at the top of each notebook)."""
    e, d = p.encoder, p.decoder
    images = int(p.pretrain.epochs * images_per_epoch(p.data))
    ft_images = int(p.finetune.epochs * images_per_epoch(p.finetune_data))
    return (
        f"Profile `{p.name}` ({p.description}) Seeds run: {list(p.seeds)}; the notebooks read seed {p.seeds[0]}. "
        f"Data: {p.data.name} at {p.data.img_size}px. "
        f"Encoder ViT {e.embed_dim}-d x {e.depth} blocks, {e.num_heads} heads, patch {e.patch_size} "
        f"({e.num_patches} tokens); decoder {d.dim}-d x {d.depth}. Pretraining: {_epochs(p.pretrain.epochs)} "
        f"(~{images:,} images, batch {p.pretrain.batch_size}, blr {p.pretrain.blr:g}). "
        f"Finetuning: {_epochs(p.finetune.epochs)} "
        f"on {images_per_epoch(p.finetune_data):,} images (~{ft_images:,} seen). Linear probe on "
        f"{images_per_epoch(p.probe_data):,} images. Accuracies on "
        f"{f'{p.data.test_subset:,} test images' if p.data.test_subset else 'the full test set'}."
    )


def scale_tag(p: Profile) -> str:
    """The scale in a few words, for each claim in the ledger: model, schedule and the seeds the numbers come from."""
    e = p.encoder
    runs = f"seed {p.seeds[0]}" + (f" of {list(p.seeds)}" if len(p.seeds) > 1 else "")
    return (
        f"{p.name}: {p.data.name} {p.data.img_size}px, ViT {e.embed_dim}x{e.depth} p{e.patch_size}, "
        f"{p.pretrain.epochs:g} ep pretrain, paper runs {runs}, calibration gate seeds {list(p.calibration.seeds)}"
    )


def _epochs(n: float) -> str:
    return f"{n:g} epoch" + ("" if n == 1 else "s")
