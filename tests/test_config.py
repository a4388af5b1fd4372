import pytest

from maelab.pipeline.config import ConfigError, available_profiles, config_hash, load_profile, parse_override


@pytest.mark.parametrize("name", ["smoke", "mini", "small", "paper"])
def test_shipped_profiles_load(name):
    p = load_profile(name)
    assert p.name == name and p.encoder.img_size == p.data.img_size
    assert p.finetune_data.name == p.data.name  # finetune/probe data start from [data]


def test_unknown_profile_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown profile 'huge'; valid profiles: \['mini', 'paper', 'small', 'smoke'\]"):
        load_profile("huge")
    assert available_profiles() == ["mini", "paper", "small", "smoke"]


def test_unknown_key_and_section_are_errors_naming_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"\[pretrain\] has unknown key\(s\) \['epoch'\]; valid keys: \[.*'epochs'"):
        load_profile("smoke", ["pretrain.epoch=3"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[pretrian]\nepochs = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section\(s\) \['pretrian'\]; valid sections"):
        load_profile(str(bad))


def test_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match="pretrain.batch_size: expected int"):
        load_profile("smoke", ["pretrain.batch_size=1.5"])
    with pytest.raises(ConfigError, match="choose adamw or lars"):
        load_profile("smoke", ["probe.optimizer='sgd'"])


def test_overrides_parse_toml_values():
    assert parse_override("pretrain.epochs=10") == ("pretrain", "epochs", 10)
    assert parse_override("slurm.partition=gpu") == ("slurm", "partition", "gpu")
    assert parse_override("lcmae.mask_ratios=[0.5, 0.75]") == ("lcmae", "mask_ratios", [0.5, 0.75])
    p = load_profile("smoke", ["pretrain.epochs=3", "lcmae.mask_ratios=[0.5, 0.75]"])
    assert p.pretrain.epochs == 3.0 and p.lcmae.mask_ratios == (0.5, 0.75)
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("epochs=3")


def test_where_data_lives_is_not_part_of_identity():
    a, b = load_profile("smoke"), load_profile("smoke", ["data.root='/elsewhere'"])
    assert config_hash(a.data) == config_hash(b.data)
    assert config_hash(a.data) != config_hash(load_profile("smoke", ["data.img_size=32"]).data)
