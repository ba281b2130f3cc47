"""Covariates: which columns travel, and how a covariate is cut into subgroups."""

import pandas as pd

from fracture.data.covariates import carried_columns, column_of, geometry, levels, subgroup_levels


def test_a_few_values_are_their_own_levels_and_a_missing_one_is_unknown():
    assert levels(pd.Series(["1", "0", "", "1"])).tolist() == ["1", "0", "unknown", "1"]


def test_many_numbers_are_cut_into_quartiles_over_every_row():
    cut = levels(pd.Series([str(value) for value in range(1, 101)]))
    assert cut.nunique() == 4 and cut.value_counts().tolist() == [25, 25, 25, 25]
    assert cut.iloc[0] == cut.iloc[24] != cut.iloc[25], "1..25 is the first quartile"


def test_many_words_keep_the_most_common_and_pool_the_rest():
    values = pd.Series(["common"] * 20 + [f"rare{index}" for index in range(12)] + ["next"] * 5)
    cut = levels(values)
    assert cut.nunique() <= 8 and set(cut[:20]) == {"common"} and set(cut[-5:]) == {"next"}
    assert "other" in set(cut)


def test_columns_that_name_images_are_not_carried():
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(30)], "label": ["0", "1"] * 15,
                          "file": [f"scan{i}" for i in range(30)], "hardware": ["0", "1", "0"] * 10,
                          "age": [str(20 + i) for i in range(30)]})
    assert carried_columns(table, {"path", "label"}) == ["hardware", "age"]


def test_geometry_and_column_names():
    assert geometry(454, 373) == {"cov_aspect_ratio": "1.22", "cov_source_size": "373x454"}
    assert column_of("Age (years)") == "cov_age_years"


def test_subgroups_are_the_view_and_the_covariates_with_more_than_one_level():
    manifest = pd.DataFrame({"view": ["frontal", "lateral"], "cov_hardware": ["0", "1"], "cov_site": ["a", "a"]})
    assert list(subgroup_levels(manifest)) == ["view", "hardware"]
