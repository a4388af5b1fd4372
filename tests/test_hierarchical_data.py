"""The hierarchical synthetic dataset: determinism, the DAG against the generator, splits, statistics, speed."""

import time

import networkx as nx
import numpy as np
import pytest

from maelab.data import hierarchical as h

MID = [k for k, level in h.LATENT_LEVELS.items() if level in ("class", "mid")]


def _one_image(split: str, index: int) -> tuple[dict, dict, np.ndarray]:
    """Exogenous draws, float64 latents and float64 image [1, 1, H, W] of one image of a split (seed 0)."""
    exo = {k: v[index : index + 1] for k, v in h._exogenous("train" if split == "train" else "test", 0, 0).items()}
    z = h._structural(exo, split)
    return exo, z, h.render(z, exo["pixel_noise"])


def _changed_blocks(a: np.ndarray, b: np.ndarray, patch: int) -> set[str]:
    grid = h.IMG_SIZE // patch
    hit = (a != b).reshape(grid, patch, grid, patch).any(axis=(1, 3))
    return {f"x_{r}_{c}" for r, c in zip(*np.nonzero(hit))}


def _intervention(z: dict, node: str, attrs: dict, rng: np.random.Generator) -> dict:
    """A perturbation of one latent node: the next value for discrete latents, a small random step otherwise."""
    if node in ("class", "texture_family"):
        return {node: (z[node] + 1) % h.NUM_CLASSES}
    step = 1e-7 if node in ("pose_x", "pose_y", "scale", "rotation") else 1e-4  # the pose moves territory edges
    do = {}
    for key in attrs["keys"]:
        value = z[key].copy()
        if "block" in attrs:
            value[(0, *attrs["block"])] += step * rng.standard_normal()
        else:
            value += step * rng.standard_normal(value.shape)
        do[key] = value
    return do


def test_generate_is_deterministic_and_prefix_stable():
    a, b = h.generate("test", n=40, seed=0), h.generate("test", n=40, seed=0)
    for key in ("images", "labels", "object_mask", "part_map"):
        np.testing.assert_array_equal(a[key], b[key])
    for key in a["latents"]:
        np.testing.assert_array_equal(a["latents"][key], b["latents"][key])
    longer = h.generate("test", n=1010, seed=0)  # two random-stream chunks
    np.testing.assert_array_equal(longer["images"][:40], a["images"])
    assert not np.array_equal(h.generate("test", n=40, seed=1)["images"], a["images"])
    assert not np.array_equal(h.generate("train", n=40, seed=0)["images"], a["images"])


def test_output_shapes_and_ground_truth():
    d = h.generate("train", n=64)
    assert d["images"].shape == (64, h.CHANNELS, h.IMG_SIZE, h.IMG_SIZE) and d["images"].dtype == np.uint8
    assert d["labels"].dtype == np.int64 and set(np.unique(d["labels"])) <= set(range(h.NUM_CLASSES))
    assert d["object_mask"].shape == d["part_map"].shape == (64, h.IMG_SIZE, h.IMG_SIZE)
    np.testing.assert_array_equal(d["part_map"] > 0, d["object_mask"])
    assert set(d["latents"]) == {k for k in h.LATENT_LEVELS if k != "tex_block"}
    # The centre of each part's ellipse, mapped to image coordinates by hand, lies on the object mask.
    z = d["latents"]
    for k in range(h.NUM_PARTS):
        du, dv = z[f"part{k + 1}_shape"][:, 0], z[f"part{k + 1}_shape"][:, 1]
        ox, oy = (h.SLOTS[k][0] + du) * z["scale"], (h.SLOTS[k][1] + dv) * z["scale"]
        cos, sin = np.cos(z["rotation"]), np.sin(z["rotation"])
        col = np.floor(h.IMG_SIZE / 2 + z["pose_x"] + cos * ox - sin * oy).astype(int)
        row = np.floor(h.IMG_SIZE / 2 + z["pose_y"] + sin * ox + cos * oy).astype(int)
        inside = (row >= 0) & (row < h.IMG_SIZE) & (col >= 0) & (col < h.IMG_SIZE)
        assert d["object_mask"][np.arange(64)[inside], row[inside], col[inside]].all()


def test_dag_is_hierarchical_and_levelled():
    _, z, _ = _one_image("test", 0)
    g = h.true_dag({k: v[0] for k, v in z.items()})
    assert nx.is_directed_acyclic_graph(g)
    kinds = nx.get_node_attributes(g, "kind")
    assert set(kinds.values()) == {"latent", "exogenous", "observed"}
    assert sum(k == "observed" for k in kinds.values()) == 64 and sum(k == "exogenous" for k in kinds.values()) == 64
    for node, kind in kinds.items():
        if kind == "observed":
            assert g.out_degree(node) == 0
        if kind == "exogenous":
            assert g.in_degree(node) == 0
        if kind == "latent":
            assert g.nodes[node]["level"] in ("class", "mid", "low")
            assert all(h.LATENT_LEVELS[key] == g.nodes[node]["level"] for key in g.nodes[node]["keys"])
    assert {key for n in g if kinds[n] == "latent" for key in g.nodes[n]["keys"]} == set(z)
    assert nx.descendants(g, "class") >= {f"part{k}_shape" for k in range(1, 5)} | {"texture_family"}
    assert sum(n.startswith("x_") for n in h.true_dag({k: v[0] for k, v in z.items()}, patch=8)) == 16


@pytest.mark.parametrize(
    "split,index,patch", [("test", 0, 4), ("test", 1, 4), ("shift_blur", 2, 4), ("shift_texture", 3, 4), ("train", 0, 8)]
)
def test_dag_matches_the_generator(split, index, patch):
    """Intervening on any latent (or noise block) changes exactly the pixel blocks that are its descendants."""
    exo, z, image = _one_image(split, index)
    g = h.true_dag({k: v[0] for k, v in z.items()}, patch=patch)
    rng = np.random.default_rng(index)
    for node, attrs in g.nodes(data=True):
        expected = {d for d in nx.descendants(g, node) if d.startswith("x_")}
        if attrs["kind"] == "latent":
            perturbed = h.render(h._structural(exo, split, do=_intervention(z, node, attrs, rng)), exo["pixel_noise"])
        elif attrs["kind"] == "exogenous":
            r, c = (int(v) for v in node.split("_")[1:])
            noise = exo["pixel_noise"].copy()
            noise[0, r * patch : (r + 1) * patch, c * patch : (c + 1) * patch] += 1e-3
            perturbed = h.render(z, noise)
        else:
            continue
        assert _changed_blocks(image[0, 0], perturbed[0, 0], patch) == expected, node
    # locality: a texture block reaches at most its own patch, a part only its territory
    if patch == 4:
        assert all(g.out_degree(f"tex_block_{r}_{c}") <= 1 for r in range(h.GRID) for c in range(h.GRID))
    assert max(g.out_degree(f"part{k}_shape") for k in range(1, 5)) < len([n for n in g if n.startswith("x_")])


def test_cue_conflict_and_shifted_splits_keep_labels_and_high_level_latents():
    n = 300
    base = h.generate("test", n=n)
    conflict = h.generate("cue_conflict", n=n)
    np.testing.assert_array_equal(conflict["labels"], base["labels"])
    np.testing.assert_array_equal(conflict["texture_labels"], conflict["latents"]["texture_family"])
    assert (conflict["texture_labels"] != conflict["labels"]).all()
    assert set(np.unique(conflict["texture_labels"])) <= set(range(h.NUM_CLASSES))
    # in train/test the family follows the class with probability FAMILY_PROB (+ 1/10 of the rest by chance)
    follows = (base["latents"]["texture_family"] == base["labels"]).mean()
    assert abs(follows - (h.FAMILY_PROB + (1 - h.FAMILY_PROB) / h.NUM_CLASSES)) < 0.06
    shifted = {s: h.generate(s, n=n) for s in ("shift_texture", "shift_contrast", "shift_noise", "shift_blur")}
    for split, d in {"cue_conflict": conflict, **shifted}.items():
        np.testing.assert_array_equal(d["labels"], base["labels"])
        for key in MID:
            np.testing.assert_array_equal(d["latents"][key], base["latents"][key], err_msg=f"{split}: {key}")
        assert not np.array_equal(d["images"], base["images"]), split
        if split != "shift_blur":  # only blur softens the part edges
            np.testing.assert_array_equal(d["object_mask"], base["object_mask"])
    assert (shifted["shift_texture"]["latents"]["texture_family"] >= h.NUM_CLASSES).all()
    low = {s: d["latents"] for s, d in shifted.items()}
    ref = base["latents"]
    np.testing.assert_allclose(low["shift_noise"]["noise_std"], 4 * ref["noise_std"], rtol=1e-6)
    np.testing.assert_allclose(low["shift_contrast"]["tex_contrast"], 0.3 * ref["tex_contrast"], rtol=1e-6)
    np.testing.assert_allclose(low["shift_blur"]["edge_sharpness"], 0.3 * ref["edge_sharpness"], rtol=1e-6)
    blur_gain = np.exp(-2 * np.pi**2 * ref["tex_freq"].astype(float) ** 2)  # Gaussian blur, sigma = 1 px, of a grating
    np.testing.assert_allclose(low["shift_blur"]["tex_contrast"], blur_gain * ref["tex_contrast"], rtol=1e-5)
    assert shifted["shift_noise"]["images"].astype(float).std() > base["images"].astype(float).std()


def test_mean_std_matches_train_images():
    images = h.generate("train", n=4000)["images"] / 255.0
    mean, std = images.mean(axis=(0, 2, 3)), images.std(axis=(0, 2, 3))
    np.testing.assert_allclose(mean, h.MEAN_STD[0], atol=0.005)
    np.testing.assert_allclose(std, h.MEAN_STD[1], atol=0.005)


def test_load_caches_and_regenerates_unreadable_files(tmp_path, monkeypatch):
    monkeypatch.setitem(h.SPLIT_SIZES, "cue_conflict", 30)
    first = h.load(tmp_path, "cue_conflict")
    path = h.cache_path(tmp_path, "cue_conflict")
    assert path.exists()
    cached = h.load(tmp_path, "cue_conflict")
    for key in ("images", "labels", "texture_labels", "object_mask", "part_map"):
        np.testing.assert_array_equal(cached[key], first[key])
        assert cached[key].dtype == first[key].dtype
    for key, value in first["latents"].items():
        np.testing.assert_array_equal(cached["latents"][key], value)
    path.write_bytes(b"not an npz")
    np.testing.assert_array_equal(h.load(tmp_path, "cue_conflict")["images"], first["images"])


@pytest.mark.slow
def test_raw_pixel_class_accuracy_is_between_chance_and_easy():
    from sklearn.linear_model import LogisticRegression

    train, test = h.generate("train", n=4000), h.generate("test", n=2000)
    x, xt = (d["images"].reshape(len(d["images"]), -1) / 255.0 for d in (train, test))
    mean, std = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(C=0.01, max_iter=500).fit((x - mean) / std, train["labels"])
    accuracy = clf.score((xt - mean) / std, test["labels"])
    assert 0.3 < accuracy < 0.75


@pytest.mark.slow
def test_generating_every_split_takes_under_a_minute():
    start = time.process_time()  # CPU time of this (single-threaded) process: "one core", whatever else runs beside it
    sizes = {split: len(h.generate(split)["labels"]) for split in h.SPLITS}
    assert time.process_time() - start < 60
    assert sizes == h.SPLIT_SIZES
