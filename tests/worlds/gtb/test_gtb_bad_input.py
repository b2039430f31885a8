"""Bad input gets a ConfigError naming the field and what was expected."""

import pytest

from sandbox.core.errors import ConfigError
from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb.layout import QUADRANT_FILE, load_layout, parse_layout


def write(tmp_path, text):
    path = tmp_path / "map.txt"
    path.write_text(text)
    return str(path)


def test_an_unknown_layout_symbol_names_its_line_column_and_the_legend(tmp_path):
    path = write(tmp_path, "# a comment\n....\n.X..\n....\n")
    with pytest.raises(ConfigError) as error:
        GTBParams(layout="file", layout_file=path, view_radius=1)
    message = str(error.value)
    assert "layout_file" in message and "line 3, column 2" in message and "'X'" in message
    assert "'W' wood source" in message and "'@' water" in message


def test_ragged_empty_and_missing_layout_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="line 2: 3 tiles"):
        parse_layout("....\n...\n")
    with pytest.raises(ConfigError, match="at least one row"):
        parse_layout("# only a comment\n\n")
    with pytest.raises(ConfigError, match="readable layout file"):
        GTBParams(layout="file", layout_file=str(tmp_path / "missing.txt"))
    with pytest.raises(ConfigError, match="layout_file"):
        GTBParams(layout="file")


def test_a_map_smaller_than_the_view_is_refused(tmp_path):
    path = write(tmp_path, ".....\n.....\n.....\n")
    with pytest.raises(ConfigError, match="view_radius.*no larger than the map"):
        GTBParams(layout="file", layout_file=path, view_radius=2)
    with pytest.raises(ConfigError, match="view_radius"):
        GTBParams(layout="uniform", height=9, width=25)  # 11 x 11 view


def test_more_workers_than_free_tiles_is_refused(tmp_path):
    path = write(tmp_path, "W.@\n.@S\n@.S\n")  # 3 free land tiles
    GTBParams(layout="file", layout_file=path, view_radius=1, num_workers=3)
    with pytest.raises(ConfigError, match="num_workers.*3 free land tiles"):
        GTBParams(layout="file", layout_file=path, view_radius=1, num_workers=4)
    with pytest.raises(ConfigError, match="num_workers"):
        GTBParams(layout="uniform", height=11, width=11, water_coverage=0.5,
                  wood_coverage=0.25, stone_coverage=0.24, num_workers=3)


@pytest.mark.parametrize("field, value", [
    ("num_workers", 0), ("num_workers", 101), ("num_workers", 2.5),
    ("regen_probability", -0.1), ("regen_probability", 1.5), ("view_radius", 0),
    ("episode_length", 0), ("starting_coin", -1.0), ("order_labour", -0.25),
    ("max_price", -1), ("order_duration", 0), ("max_orders", 0), ("tax_period", 0),
    ("eta", -0.5), ("labour_cost", float("nan")), ("max_rate", 1.5),
    ("build_skill_shape", 0.0), ("max_skill_multiplier", 0.5), ("layout", "islands"),
    ("skills", "lognormal"), ("planner_objective", "gdp"), ("cutoffs", (5.0, 10.0)),
    ("fixed_bonus_probability", 2.0),
])
def test_out_of_range_parameters_name_the_field(field, value):
    with pytest.raises(ConfigError) as error:
        GTBParams(**{field: value})
    assert error.value.field.startswith(field.split("_")[0]) or field in str(error.value)


def test_fixed_skills_need_one_payment_per_worker_and_a_file_size_must_match():
    with pytest.raises(ConfigError, match="fixed_payments.*one per worker"):
        GTBParams(skills="fixed", num_workers=5)
    with pytest.raises(ConfigError, match="height/width"):
        GTBParams(height=30)
    with pytest.raises(ConfigError, match="num_envs"):
        GatherTradeBuild(num_envs=0)


def test_the_quadrant_file_parses_to_the_documented_map():
    layout = load_layout(QUADRANT_FILE)
    assert layout.shape == (25, 25)
    assert int(layout.wood.sum()) == 21 and int(layout.stone.sum()) == 21
    assert not (layout.wood & layout.stone).any() and not (layout.water & layout.wood).any()
    assert parse_layout(layout.to_text()).to_text() == layout.to_text()
