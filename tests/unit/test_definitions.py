"""Definition files: the shipped ones load, and every mistake names file, field and problem."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from streamproc.definitions import DefinitionError, load_definition, shipped_names
from streamproc.definitions.loader import _UniqueKeyLoader, parse_definition

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
        (["threshold"], "sixty", "threshold: Input should be a valid number"),
        (
            ["fit", "rules", 0, "between"],
            [500, 50],
            "fit.rules.0.between: low 500.0 is above high 50.0",
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
            "intent.signals.pricing_page_view.url_pattern: '/pricing(' is not a regular expression",
        ),
        (
            ["intent", "rules", 0, "signal"],
            "demo",
            "intent.rules.0.signal: unknown signal 'demo' (signals: bottom_funnel_download,",
        ),
        (
            ["intent", "rules", 0, "signal"],
            "demo_boked",
            "intent.rules.0.signal: unknown signal 'demo_boked' (did you mean 'demo_booked'?)",
        ),
        (
            ["intent", "rules", 0, "points_each"],
            5,
            "intent.rules.0: Value error, give exactly one of `points` or `points_each`",
        ),
        (
            ["gates", "any_of", 0, "signal"],
            "webinar",
            "gates.any_of.0.signal: unknown signal 'webinar' (signals: bottom_funnel_download,",
        ),
        (
            ["routing", 0, "queue"],
            "nowhere",
            "routing.0.queue: unknown queue 'nowhere' (queues: enterprise, mid-market-americas",
        ),
        (["routing", 3, "queue"], "smbx", "routing.3.queue: unknown queue 'smbx'"),
        (
            ["fit", "surprise"],
            1,
            "fit.surprise: unknown key (keys here: max_points, seniority_from_title, rules)",
        ),
        (["thresold"], 60, "thresold: unknown key (did you mean 'threshold'?)"),
        (
            ["intent", "rules", 0, "at_leest"],
            2,
            "intent.rules.0.at_leest: unknown key (did you mean 'at_least'?)",
        ),
        (
            ["gates", "any_of", 0, "at_lest"],
            2,
            "gates.any_of.0.at_lest: unknown key (did you mean 'at_least'?)",
        ),
        (
            ["fit", "rules", 0, "field"],
            "company.employes",
            "Input should be 'email', 'company.name', 'company.domain', 'company.employees'",
        ),
        (["fit", "rules", 0, "field"], "company.employes", "(did you mean 'company.employees'?)"),
        (["threshold"], -1, "threshold: -1 is below zero"),
        (
            ["threshold"],
            500,
            "threshold: 500 cannot be reached: the rules give at most 100 points "
            "(fit 50 + intent 50)",
        ),
        (
            ["gates", "all_of"],
            [{"score": "fit", "at_least": 55}],
            "gates.all_of.0.at_least: fit>=55 cannot be reached: the fit rules give "
            "at most 50 points",
        ),
    ],
)
def test_mistakes_name_the_file_and_the_field(
    path: list[str | int], value: object, message: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        parse_definition(_broken(path, value), "mine.yaml")
    assert message in str(raised.value)
    for line in str(raised.value).splitlines():
        assert re.match(r"mine\.yaml: line \d+: ", line), line


def test_a_mistake_names_the_line_it_is_written_on() -> None:
    text = SHIPPED_DEFAULT.replace("threshold: 60", "threshold: 500")
    line = text.splitlines().index("threshold: 500") + 1
    with pytest.raises(DefinitionError, match=f"^mine.yaml: line {line}: threshold: 500 cannot"):
        parse_definition(text, "mine.yaml")
    unknown = text.replace("threshold: 500", "threshold: 60").replace("queue: smb", "queue: smbx")
    line = next(n for n, text in enumerate(unknown.splitlines(), 1) if "queue: smbx" in text)
    with pytest.raises(DefinitionError, match=f"line {line}: routing.\\d+.queue: unknown queue"):
        parse_definition(unknown, "mine.yaml")


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


def test_a_threshold_is_checked_against_what_the_rules_can_give() -> None:
    """Fit: each rule once within max_points; intent: flat rules once, `points_each` rules
    up to their category cap, all within max_points."""
    document = yaml.safe_load(SHIPPED_DEFAULT)
    document["fit"]["rules"] = document["fit"]["rules"][:2]  # 15 + 10 points
    document["intent"]["rules"] = [
        {"name": "demo", "signal": "demo_booked", "points": 12, "category": "demo"},
        {"name": "pricing", "signal": "pricing_page_view", "points_each": 5, "category": "pricing"},
    ]
    document["intent"]["caps"] = {"demo": 30, "pricing": 20}
    document["threshold"] = 57
    document["gates"] = {}
    assert parse_definition(yaml.safe_dump(document), "mine.yaml").most_points == {
        "fit": 25,
        "intent": 32,
        "total": 57,
    }
    document["threshold"] = 57.5
    with pytest.raises(DefinitionError, match=r"threshold: 57.5 cannot be reached.* at most 57"):
        parse_definition(yaml.safe_dump(document), "mine.yaml")


def test_a_key_given_twice_is_refused_with_both_lines() -> None:
    text = SHIPPED_DEFAULT.replace("threshold: 60\n", "threshold: 60\nthreshold: 70\n")
    line = text.splitlines().index("threshold: 70") + 1
    with pytest.raises(DefinitionError) as raised:
        parse_definition(text, "mine.yaml")
    assert str(raised.value) == (
        f"mine.yaml: line {line}: duplicate key 'threshold' (first on line {line - 1}); "
        "YAML would keep the later value"
    )


def test_a_key_given_twice_in_a_nested_mapping_is_refused() -> None:
    text = "fit:\n  max_points: 50\n  rules: []\n  max_points: 60\n"
    with pytest.raises(DefinitionError, match=r"mine.yaml: line 4: duplicate key 'max_points' "):
        parse_definition(text, "mine.yaml")


def test_a_merge_key_may_be_overridden() -> None:
    text = "base: &base {reps: [{id: rep-1}]}\nsmb: {<<: *base, reps: []}\n"
    assert yaml.load(text, Loader=_UniqueKeyLoader)["smb"] == {"reps": []}


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(SHIPPED_DEFAULT.replace("name: default", "name: défaut").encode("latin-1"))
    with pytest.raises(DefinitionError) as raised:
        load_definition(str(path))
    line = SHIPPED_DEFAULT.splitlines().index("name: default") + 1
    assert str(raised.value) == (
        f"{path}: line {line}: not UTF-8 text (byte 0xe9); save the file as UTF-8"
    )
