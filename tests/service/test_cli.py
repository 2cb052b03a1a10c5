"""``biosig keys`` and ``biosig serve`` as the biosig CLI offers them (through the entry-point group)."""

from __future__ import annotations

import json

from biosig.cli import main as cli_main
from service.auth import KeyStore
from service.db import Database


def test_serve_and_keys_are_offered_by_the_biosig_command() -> None:
    assert "service.cli" in cli_main.command_modules()
    parser = cli_main.build_parser()
    args = parser.parse_args(["serve", "--port", "0", "--fsync", "always"])
    assert args.handler.__name__ == "cmd_serve" and args.fsync == "always"


def test_keys_create_list_revoke(tmp_path, capsys) -> None:
    data = str(tmp_path / "d")
    assert cli_main.main(["keys", "create", "--tenant", "acme", "--name", "armband", "--json", "--data-dir", data]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["tenant"] == "acme" and created["key"].startswith(f"bsk_{created['key_id']}_")
    who = KeyStore(Database(tmp_path / "d" / "metadata.sqlite3")).verify(created["key"])
    assert (who.tenant, who.name) == ("acme", "armband")

    assert cli_main.main(["keys", "list", "--data-dir", data]) == 0
    listing = capsys.readouterr().out
    assert created["key_id"] in listing and "armband" in listing and "active" in listing
    assert created["key"] not in listing

    assert cli_main.main(["keys", "revoke", created["key_id"], "--data-dir", data]) == 0
    assert cli_main.main(["keys", "list", "--json", "--data-dir", data]) == 0
    [row] = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert row["revoked"] is not None and "hash" not in row

    assert cli_main.main(["keys", "revoke", created["key_id"], "--data-dir", data]) == 1
    assert f"key '{created['key_id']}' was already revoked" in capsys.readouterr().err
    assert cli_main.main(["keys", "revoke", "000000000000", "--data-dir", data]) == 1
    assert "key '000000000000' does not exist" in capsys.readouterr().err


def test_keys_create_refuses_a_bad_tenant(tmp_path, capsys) -> None:
    assert cli_main.main(["keys", "create", "--tenant", "Bad Tenant", "--data-dir", str(tmp_path)]) == 1
    assert "tenant must be 1-64 characters of a-z" in capsys.readouterr().err
