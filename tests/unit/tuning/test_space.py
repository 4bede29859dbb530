"""The search-space file: what it accepts, and errors that name the file, the line and the entry."""

from __future__ import annotations

import pytest
from mlops.tuning.space import SpaceError, load_space, parse_space

GOOD = """\
params:
  max_depth: {type: int, low: 2, high: 12}
  learning_rate: {type: float, low: 1e-3, high: 0.3, log: true}
  subsample: {type: float, low: 0.5, high: 1.0, step: 0.1}
  criterion: {type: categorical, choices: [gini, entropy]}
objective: {metric: rmse}
sampler: {type: tpe, seed: 42}
pruner: none
"""


def test_a_full_space_file_parses_with_defaults_filled_in():
    space = parse_space(GOOD, "s.yaml")
    by_name = {p.name: p for p in space.params}
    assert by_name["max_depth"].kind == "int" and (by_name["max_depth"].low, by_name["max_depth"].high) == (
        2,
        12,
    )
    lr = by_name["learning_rate"]
    assert lr.low == pytest.approx(0.001) and lr.log and lr.step is None  # YAML's "1e-3" text is a number
    assert by_name["subsample"].step == pytest.approx(0.1)
    assert by_name["criterion"].choices == ("gini", "entropy")
    assert (space.metric, space.direction_for("rmse"), space.direction_for("f1")) == (
        "rmse",
        "minimize",
        "maximize",
    )
    assert (space.sampler, space.seed, space.pruner) == ("tpe", 42, "none")
    assert by_name["criterion"].line == 5


def test_the_digest_follows_the_search_not_the_layout():
    a = parse_space(GOOD)
    b = parse_space(
        "# a comment\n" + GOOD.replace("{type: int, low: 2, high: 12}", "{high: 12, low: 2, type: int}")
    )
    c = parse_space(GOOD.replace("high: 12", "high: 13"))
    assert a.digest == b.digest != c.digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "params:\n  a: {type: float, low: 1, high: 0.5}\n",
            "s.yaml:2: params.a: low (1.0) must be less than high (0.5)",
        ),
        (
            "params:\n  a: {type: float, low: 0, high: 1, log: true}\n",
            "s.yaml:2: params.a: a log range needs low > 0",
        ),
        (
            "params:\n  a: {type: float, low: 0.1, high: 1, log: true, step: 0.1}\n",
            "log and step cannot be combined",
        ),
        ("params:\n  a: {type: int, low: 1.5, high: 4}\n", "s.yaml:2: params.a: low must be a whole number"),
        (
            "params:\n  a: {type: float, low: x, high: 4}\n",
            "s.yaml:2: params.a: low must be a number (got 'x')",
        ),
        (
            "params:\n  a: {type: normal, low: 0, high: 1}\n",
            "s.yaml:2: params.a: type must be float, int or categorical",
        ),
        (
            "params:\n  a: {type: int, low: 0, high: 3, choices: [1]}\n",
            "s.yaml:2: params.a: unknown key 'choices' for a int",
        ),
        (
            "params:\n  a: {type: categorical, choices: []}\n",
            "s.yaml:2: params.a: choices must be a non-empty list",
        ),
        ("params:\n  a: {type: int, high: 3}\n", "s.yaml:2: params.a: a int needs low and high"),
        ("params: {}\n", "s.yaml:1: params is empty"),
        ("sampler: {seed: 1}\n", "s.yaml:1: 'params' is required"),
        ("params:\n  a: {type: int, low: 0, high: 3}\nsearch: grid\n", "s.yaml:3: unknown key 'search'"),
        (
            "params:\n  a: {type: int, low: 0, high: 3}\nsampler: {type: grid}\n",
            "s.yaml:3: sampler.type must be one of tpe, random",
        ),
        (
            "params:\n  a: {type: int, low: 0, high: 3}\nsampler: {seed: -1}\n",
            "sampler.seed must be a non-negative integer",
        ),
        (
            "params:\n  a: {type: int, low: 0, high: 3}\nobjective: {direction: up}\n",
            "s.yaml:3: objective.direction must be",
        ),
        (
            "params:\n  a: {type: int, low: 0, high: 3}\n  a: {type: int, low: 0, high: 4}\n",
            "s.yaml:3: params: 'a' appears twice",
        ),
        ("params:\n  a: [1, 2\n", "s.yaml:3: not valid YAML"),
        ("- a\n- b\n", "s.yaml:1: expected a mapping with 'params'"),
    ],
)
def test_bad_space_files_name_the_line_and_the_entry(text, message):
    with pytest.raises(SpaceError) as err:
        parse_space(text, "s.yaml")
    assert message in err.value.message


def test_a_space_is_checked_against_the_projects_params(tmp_path):
    defaults = {"alpha": 0.001, "epochs": 4, "loss": "hinge", "flag": False}
    ok = parse_space(
        "params:\n  alpha: {type: float, low: 0.1, high: 1}\n  epochs: {type: int, low: 1, high: 9}\n",
        "s.yaml",
    )
    ok.check_against(defaults, "train.py")
    cases = [
        (
            "params:\n  depth: {type: int, low: 1, high: 3}\n",
            "s.yaml:2: params.depth: not a parameter of train.py (its PARAMS: alpha, epochs, flag, loss)",
        ),
        (
            "params:\n  epochs: {type: float, low: 1, high: 3}\n",
            "s.yaml:2: params.epochs: a float range needs a float default (the default in train.py is 4)",
        ),
        (
            "params:\n  loss: {type: categorical, choices: [hinge, 3]}\n",
            "choice 3 is not a str like the default",
        ),
        (
            "params:\n  flag: {type: categorical, choices: [true, 1]}\n",
            "choice 1 is not a bool like the default",
        ),
    ]
    for text, message in cases:
        with pytest.raises(SpaceError) as err:
            parse_space(text, "s.yaml").check_against(defaults, "train.py")
        assert message in err.value.message
    with pytest.raises(
        SpaceError, match=r"s.yaml:2: params.alpha: not a parameter of train.py \(its PARAMS: none"
    ):
        ok.check_against({}, "train.py")  # no PARAMS: nothing would type the values
    with pytest.raises(SpaceError, match=r"params.alpha: its default in train.py is None"):
        ok.check_against({"alpha": None, "epochs": 1}, "train.py")
    with pytest.raises(SpaceError, match="search-space file .*nope.yaml not found"):
        load_space(tmp_path / "nope.yaml")


def test_the_example_projects_space_file_fits_its_params():
    from pathlib import Path

    from mlops.runs.training import load_project

    root = Path(__file__).resolve().parents[3] / "pipelines" / "train"
    space = load_space(root / "space.yaml")
    space.check_against(load_project(root / "train.py").defaults, "train.py")
    assert [p.name for p in space.params] == ["n_estimators", "learning_rate", "max_depth", "subsample"]
