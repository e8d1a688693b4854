"""Definition files: the shipped ones load, and every mistake names file, field and problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from streamproc.definitions import DefinitionError, load_definition, shipped_names
from streamproc.definitions.loader import parse_definition

SHIPPED_DEFAULT = (
    Path(__file__).parents[2] / "streamproc/definitions/shipped/default.yaml"
).read_text()


def test_default_and_acme_are_shipped() -> None:
    assert {"default", "acme"} <= set(shipped_names())
    assert load_definition("default").threshold == 60
    assert load_definition("acme").gates.all_of[0].label == "fit>=60"


def test_a_definition_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(SHIPPED_DEFAULT.replace("name: default", "name: mine"))
    assert load_definition(str(path)).label == "mine@1"


def test_an_unknown_name_lists_the_shipped_ones() -> None:
    with pytest.raises(DefinitionError, match=r"nope: no such definition file.*shipped: .*acme"):
        load_definition("nope")


def _broken(path: list[str | int], value: object) -> str:
    document = yaml.safe_load(SHIPPED_DEFAULT)
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return yaml.safe_dump(document)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["threshold"], "sixty", "mine.yaml: threshold: Input should be a valid number"),
        (
            ["fit", "rules", 0, "between"],
            [500, 50],
            "fit.rules.0: Value error, `between` low 500.0 is above high 50.0",
        ),
        (
            ["fit", "rules", 0, "field"],
            "company.size",
            "fit.rules.0.field: Input should be 'email'",
        ),
        (
            ["intent", "signals", "demo_booked", "window"],
            "a week",
            "intent.signals.demo_booked.window: Input should be a valid timedelta",
        ),
        (
            ["intent", "signals", "pricing_page_view", "url_pattern"],
            "/pricing(",
            "url_pattern is not a regular expression",
        ),
        (
            ["intent", "rules", 0, "signal"],
            "demo",
            "intent: Value error, rule 'demo_booked' counts unknown signal 'demo'",
        ),
        (
            ["intent", "rules", 0, "points_each"],
            5,
            "intent.rules.0: Value error, give exactly one of `points` or `points_each`",
        ),
        (["gates", "any_of", 0, "signal"], "webinar", "gate 'webinar>=1' names unknown signal"),
        (
            ["routing", 0, "queue"],
            "nowhere",
            "routing rule 'enterprise_by_size' names unknown queue",
        ),
        (["fit", "surprise"], 1, "fit.surprise: Extra inputs are not permitted"),
    ],
)
def test_mistakes_name_the_file_and_the_field(
    path: list[str | int], value: object, message: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition(_broken(path, value), "mine.yaml")
    assert message in str(raised.value)
    assert all(line.startswith("mine.yaml: ") for line in str(raised.value).splitlines())


def test_invalid_yaml_names_the_line() -> None:
    expected = "mine.yaml: line 3: not valid YAML: expected ',' or ']', but got '<stream end>' "
    expected += "(while parsing a flow sequence on line 2)"
    with pytest.raises(DefinitionError, match=re.escape(expected)):
        parse_definition("name: x\nthreshold: [60\n", "mine.yaml")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("24h", 86400),
        ("7d", 604800),
        ("2w", 1209600),
        ("PT1H", 3600),
        (3600, 3600),
    ],
)
def test_durations_read_like_people_write_them(text: object, seconds: int) -> None:
    definition = parse_definition(
        _broken(["intent", "signals", "demo_booked", "window"], text), "mine.yaml"
    )
    assert definition.intent.signals["demo_booked"].window.total_seconds() == seconds
