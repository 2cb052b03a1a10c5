"""Commands contributed by other packages through the ``biosig.commands`` entry-point group."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pytest

from biosig.cli import main as cli_main


def _fake_entry_points(values):
    def entry_points(group):
        assert group == cli_main.PLUGIN_GROUP
        return [EntryPoint(name=v.rsplit(".", 1)[-1], value=v, group=group) for v in values]

    return entry_points


def test_plugin_command_is_offered_and_runs(tmp_path, monkeypatch, capsys):
    (tmp_path / "biosig_fake_plugin.py").write_text(
        "def add_parser(commands):\n"
        "    p = commands.add_parser('hello', help='say hello')\n"
        "    p.add_argument('--name', default='world')\n"
        "    p.set_defaults(handler=lambda args: print('hello ' + args.name))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli_main, "entry_points", _fake_entry_points(["biosig_fake_plugin"]))
    assert cli_main.command_modules()[-1] == "biosig_fake_plugin"
    assert cli_main.main(["hello", "--name", "emg"]) == 0
    assert capsys.readouterr().out == "hello emg\n"
    sys.modules.pop("biosig_fake_plugin", None)


def test_a_broken_plugin_is_reported_and_the_rest_still_works(monkeypatch, caplog, capsys):
    monkeypatch.setattr(cli_main, "entry_points", _fake_entry_points(["no_such_biosig_plugin"]))
    parser = cli_main.build_parser()
    assert "no_such_biosig_plugin could not be loaded" in caplog.text
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    assert "data" in capsys.readouterr().out
