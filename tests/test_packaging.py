"""Packaging promises: one source of metadata, and the asterisk/ package clash held in check."""
import configparser
import importlib.metadata
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_holds_only_the_build_system():
    assert set(tomllib.loads((ROOT / "pyproject.toml").read_text())) == {"build-system"}


def test_setup_cfg_turns_warnings_into_errors():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    assert parser["metadata"]["name"] == "hotline"
    assert "error" in parser["tool:pytest"]["filterwarnings"].split()
    assert "hotline = hotline.cli:main" in parser["options.entry_points"]["console_scripts"]


def test_pyst_is_not_installed_beside_pyst2():
    """pyst and pyst2 both own asterisk/: installing pyst would silently replace agi.py."""
    names = {dist.metadata["Name"].lower() for dist in importlib.metadata.distributions()}
    assert "pyst2" in names and "asterisk-ami" in names
    assert "pyst" not in names


def test_agi_and_ami_modules_come_from_their_own_distributions():
    import asterisk.agi
    import asterisk.ami

    def owned(dist_name, relative):
        files = {str(f) for f in importlib.metadata.distribution(dist_name).files}
        return relative in files

    assert owned("pyst2", "asterisk/agi.py")
    assert owned("asterisk-ami", "asterisk/ami/client.py")
    assert hasattr(asterisk.agi, "AGI") and hasattr(asterisk.ami, "AMIClient")
