"""The README and deploy files say what the code does: settings, commands, the example."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from streamproc.cli import main
from streamproc.definitions.loader import parse_definition
from streamproc.settings import Settings

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
SETTING_NAMES = {f"STREAMPROC_{name.upper()}" for name in Settings.model_fields}


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    documented = set(re.findall(r"`(STREAMPROC_[A-Z_]+)`", README))
    assert documented == SETTING_NAMES


def test_deploy_files_use_only_real_settings() -> None:
    for path in [ROOT / "docker-compose.yml", *(ROOT / "deploy").rglob("*")]:
        if path.is_file():
            used = set(re.findall(r"STREAMPROC_[A-Z_]+", path.read_text()))
            assert used <= SETTING_NAMES, f"{path.name} uses {used - SETTING_NAMES}"


def test_the_readme_definition_example_is_a_valid_definition() -> None:
    [example] = re.findall(r"```yaml\n(.*?)```", README, re.DOTALL)
    assert parse_definition(example, "README.md").label == "default@1"


def test_every_command_in_the_readme_exists() -> None:
    listed = set(re.findall(r"^\| `streamproc ([a-z-]+)", README, re.MULTILINE))
    assert listed <= set(main.commands)
    assert CliRunner().invoke(main, ["--help"]).exit_code == 0
