import pytest
import torch

from maelab.models.masking import no_masking, random_masking


@pytest.mark.parametrize("ratio", [0.1, 0.25, 0.5, 0.75, 0.9])
def test_exact_kept_count_per_sample(ratio):
    m = random_masking(8, (7, 7), 4, ratio)
    kept = int(49 * (1 - ratio))
    assert m.ids_keep.shape == (8, kept)
    assert (m.mask.sum(1) == 49 - kept).all()
    # ids_keep are exactly the positions with mask 0
    for b in range(8):
        assert set(m.ids_keep[b].tolist()) == set((m.mask[b] == 0).nonzero().squeeze(1).tolist())


def test_ids_restore_unshuffles():
    m = random_masking(4, (4, 4), 2, 0.5)
    order = torch.argsort(m.mask, dim=1, stable=True)  # kept first
    assert torch.equal(torch.gather(order, 1, m.ids_restore), torch.arange(16).expand(4, 16))


def test_mask_unit_aligned_to_coarse_grid():
    # ViT patch 8 on a 64x64 image: 8x8 tokens; mask unit 16 = 2x2 tokens; 32 = 4x4 tokens (HLVM §3)
    for unit, k in [(16, 2), (32, 4)]:
        m = random_masking(5, (8, 8), 8, 0.75, mask_unit=unit)
        grid = m.mask.view(5, 8, 8)
        blocks = grid.view(5, 8 // k, k, 8 // k, k)
        # every k x k block is entirely kept or entirely removed
        assert (blocks.amin(dim=(2, 4)) == blocks.amax(dim=(2, 4))).all()
        units = (8 // k) ** 2
        assert (m.mask.sum(1) == (units - int(units * 0.25)) * k * k).all()


def test_bad_mask_unit_is_a_clear_error():
    with pytest.raises(ValueError, match="multiple of patch_size"):
        random_masking(1, (7, 7), 4, 0.75, mask_unit=6)
    with pytest.raises(ValueError, match="does not tile"):
        random_masking(1, (7, 7), 4, 0.75, mask_unit=8)


def test_deterministic_from_generator():
    a = random_masking(3, (7, 7), 4, 0.75, generator=torch.Generator().manual_seed(1))
    b = random_masking(3, (7, 7), 4, 0.75, generator=torch.Generator().manual_seed(1))
    c = random_masking(3, (7, 7), 4, 0.75, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.mask, b.mask) and not torch.equal(a.mask, c.mask)


@pytest.mark.parametrize("seeded", [True, False])
def test_each_image_gets_its_own_mask_unless_shared(seeded):
    """Guards against one mask drawn for the whole batch: 8 images, C(49, 12) possible masks, all 8 must differ."""
    gen = lambda: torch.Generator().manual_seed(3) if seeded else None  # noqa: E731
    m = random_masking(8, (7, 7), 4, 0.75, generator=gen())
    assert len({tuple(row.tolist()) for row in m.mask}) == 8
    assert len({tuple(row.tolist()) for row in m.ids_keep}) == 8
    shared = random_masking(8, (7, 7), 4, 0.75, shared=True, generator=gen())
    assert (shared.mask == shared.mask[:1]).all() and (shared.ids_keep == shared.ids_keep[:1]).all()
    assert shared.mask[0].sum() == 49 - 12


def test_explicit_noise_small_is_kept():
    noise = torch.arange(16.0)[None]  # units 0..3 smallest -> kept at ratio 0.75
    m = random_masking(1, (4, 4), 4, 0.75, noise=noise)
    assert m.mask[0].tolist() == [0.0] * 4 + [1.0] * 12


def test_per_image_noise_gives_the_hand_computed_masks():
    """argsort rule per row of noise (small = keep), worked out by hand on a 2 x 3 grid at ratio 0.5 (keep 3)."""
    # row 0 keeps tokens 1, 5, 3; row 1 keeps tokens 0, 5, 3
    noise = torch.tensor([[0.5, 0.1, 0.9, 0.3, 0.7, 0.2], [0.0, 0.8, 0.6, 0.4, 0.95, 0.05]])
    m = random_masking(2, (2, 3), 4, 0.5, noise=noise)
    assert m.mask.tolist() == [[1, 0, 1, 0, 1, 0], [0, 1, 1, 0, 1, 0]]
    assert m.ids_keep.tolist() == [[1, 3, 5], [0, 3, 5]]  # kept tokens in raster order
    assert m.ids_restore.tolist() == [[3, 0, 4, 1, 5, 2], [0, 3, 4, 1, 5, 2]]


def test_unit_noise_by_hand():
    """Noise lives on the mask-unit grid: 4 x 4 tokens, unit = 2 x 2 tokens; units 1 and 3 (right column) kept."""
    m = random_masking(1, (4, 4), 4, 0.5, mask_unit=8, noise=torch.tensor([[0.3, 0.1, 0.4, 0.2]]))
    assert m.mask.view(4, 4).tolist() == [[1, 1, 0, 0]] * 4


def test_no_masking_keeps_raster_order():
    m = no_masking(2, 9)
    assert m.mask.sum() == 0 and torch.equal(m.ids_keep, torch.arange(9).expand(2, 9))


def test_ratio_out_of_range():
    with pytest.raises(ValueError, match="mask_ratio"):
        random_masking(1, (4, 4), 4, 1.0)
