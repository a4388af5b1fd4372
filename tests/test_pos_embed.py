"""Fixed 2-D sin-cos position table against hand-written values in facebookresearch/mae's convention."""

import math

import numpy as np
import pytest
import torch

from maelab.models.pos_embed import sincos_1d, sincos_2d


def _mae_2d_table(embed_dim: int, gh: int, gw: int) -> np.ndarray:
    """facebookresearch/mae util/pos_embed.py get_2d_sincos_pos_embed (no cls), transcribed for a gh x gw grid."""

    def one_d(dim, pos):
        omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
        omega = 1.0 / 10000**omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    grid = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))  # here w goes first
    grid = np.stack(grid, axis=0).reshape([2, 1, gh, gw])
    return np.concatenate([one_d(embed_dim // 2, grid[0]), one_d(embed_dim // 2, grid[1])], axis=1)


def _hand_row(r: float, c: float) -> list[float]:
    """D = 8 (omega = 1, 1/100): [sin c, sin c/100, cos c, cos c/100, sin r, sin r/100, cos r, cos r/100]."""
    col = [math.sin(c), math.sin(c / 100), math.cos(c), math.cos(c / 100)]
    return col + [math.sin(r), math.sin(r / 100), math.cos(r), math.cos(r / 100)]


def test_1d_table_by_hand():
    """Guards the frequencies w_k = 1 / 10000^(k / (dim/2)) and the [sin | cos] layout (not interleaved)."""
    pos = torch.tensor([0.0, 1.0, 2.5])
    table = sincos_1d(4, pos)  # omega = [1, 1/100]
    expected = [[math.sin(p), math.sin(p / 100), math.cos(p), math.cos(p / 100)] for p in (0.0, 1.0, 2.5)]
    torch.testing.assert_close(table, torch.tensor(expected), atol=1e-6, rtol=0)


def test_2d_table_by_hand_first_half_is_the_column():
    """D = 8 on a 2 x 3 grid (non-square, so rows and columns cannot be confused): token r*3 + c is
    [sin c, sin c/100, cos c, cos c/100, sin r, sin r/100, cos r, cos r/100] (MAE: column first)."""
    table = sincos_2d(8, (2, 3))
    assert table.shape == (6, 8)
    expected = [_hand_row(r, c) for r in range(2) for c in range(3)]
    torch.testing.assert_close(table, torch.tensor(expected), atol=1e-6, rtol=0)
    # spot values written out: token 5 = (row 1, col 2)
    assert table[5, 0].item() == pytest.approx(0.9092974, abs=1e-6)  # sin 2
    assert table[5, 4].item() == pytest.approx(0.8414710, abs=1e-6)  # sin 1
    assert table[5, 6].item() == pytest.approx(0.5403023, abs=1e-6)  # cos 1


def test_scale_multiplies_the_coordinates():
    """A crop's grid gets coordinates scaled by `scale` (positions span the trained range)."""
    table = sincos_2d(8, (2, 2), scale=1.5)
    r, c = 1.5, 1.5  # token 3 = (row 1, col 1)
    torch.testing.assert_close(table[3], torch.tensor(_hand_row(r, c)))
    torch.testing.assert_close(table[1, :4], table[3, :4])  # same column, same first half


@pytest.mark.parametrize("dim, grid", [(32, (4, 5)), (64, (7, 7)), (16, (3, 2))])
def test_matches_the_mae_reference(dim, grid):
    """Equal to MAE's own construction (so released weights see the table they were trained with)."""
    ours = sincos_2d(dim, grid)
    torch.testing.assert_close(ours, torch.from_numpy(_mae_2d_table(dim, *grid)).float(), atol=1e-6, rtol=0)


def test_bad_dims_are_errors():
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_2d(6, (2, 2))
    with pytest.raises(ValueError, match="even"):
        sincos_1d(3, torch.arange(2.0))
