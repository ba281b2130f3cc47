"""What the report says when an outside set differs from the test split: prevalence and region mix, in words."""

from fracture.reporting.outside_tables import what_differs

TEST = {"hand": {"abnormal": 20, "normal": 80}, "leg": {"abnormal": 20, "normal": 80}}


def _data(by_region: dict) -> dict:
    images = sum(c["abnormal"] + c["normal"] for c in by_region.values())
    return {"by_region": by_region, "prevalence": sum(c["abnormal"] for c in by_region.values()) / images}


def test_a_set_like_the_test_split_needs_no_sentence():
    assert what_differs(TEST, _data({"hand": {"abnormal": 21, "normal": 79}, "leg": {"abnormal": 19, "normal": 81}})) \
        == []


def test_another_prevalence_is_said_with_both_shares():
    said = what_differs(TEST, _data({"hand": {"abnormal": 50, "normal": 50}, "leg": {"abnormal": 50, "normal": 50}}))
    assert len(said) == 1 and "20% of the test split's images are fractured, 50% of this set's" in said[0]


def test_another_region_mix_names_both_mixes_and_the_regions_never_tested():
    said = what_differs(TEST, _data({"hand": {"abnormal": 14, "normal": 56}, "wrist": {"abnormal": 6, "normal": 24}}))
    assert len(said) == 1 and "total variation 0.50" in said[0]
    assert "test split hand 50%, leg 50%; this set hand 70%, wrist 30%" in said[0] and "no wrist images" in said[0]
