import pytest

from fracture.core.errors import ParamError, UserError
from fracture.core.params import KNOWN_PARAMS, Section, load_params
from tests.conftest import default_params

PARAMS = {"train": {"epochs": 5, "lr": 0.01, "flag": True, "arch": "resnet18", "names": ["a", "b"],
                    "nested": {"k": 3}}}


def test_valid_values_are_returned():
    train = Section(PARAMS, "train")
    assert train.integer("epochs", minimum=1) == 5
    assert train.number("lr", minimum=0) == 0.01
    assert train.boolean("flag") is True
    assert train.choice("arch", ["resnet18", "vgg16"]) == "resnet18"
    assert train.choice_list("names", ["a", "b", "c"]) == ["a", "b"]
    assert train.section("nested").integer("k") == 3


@pytest.mark.parametrize("call, message", [
    (lambda s: s.integer("epochs", minimum=10),
     "params.yaml: train.epochs = 5 is not valid; expected an integer >= 10"),
    (lambda s: s.choice("arch", ["vgg16", "simple_cnn"]),
     "train.arch = 'resnet18' is not valid; choose one of: vgg16, simple_cnn"),
    (lambda s: s.choice_list("names", ["a"]), "train.names = 'b' is not valid; choose from: a"),
    (lambda s: s.boolean("epochs"), "expected true or false"),
    (lambda s: s.integer("lr"), "train.lr = 0.01 is not valid; expected an integer"),
    (lambda s: s.number("flag"), "expected a number"),
    (lambda s: s.section("nested").integer("k", maximum=2),
     "train.nested.k = 3 is not valid; expected an integer <= 2"),
])
def test_invalid_values_name_key_value_and_choices(call, message):
    with pytest.raises(ParamError) as error:
        call(Section(PARAMS, "train"))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_sections_and_keys_are_user_errors():
    with pytest.raises(UserError, match="section 'model' is missing"):
        Section(PARAMS, "model")
    with pytest.raises(UserError, match="train.batch_size is missing"):
        Section(PARAMS, "train").integer("batch_size")


def test_unreadable_params_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("train: [unclosed")
    with pytest.raises(UserError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")


def _keys(tree: dict, prefix: str = "") -> set[str]:
    return {name for key, inner in tree.items()
            for name in {prefix + key} | (_keys(inner, f"{prefix}{key}.") if isinstance(inner, dict) else set())}


def test_the_known_keys_are_exactly_the_shipped_params():
    assert _keys(KNOWN_PARAMS) == _keys(default_params())


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numbers_must_be_finite(value):
    with pytest.raises(ParamError, match=r"train.lr = .* is not valid; expected a number \(finite\)"):
        Section({"train": {"lr": value}}, "train").number("lr")
