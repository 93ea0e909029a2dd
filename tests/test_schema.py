"""The checked-in schema and the migrations must match the code."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from gateway.cli import main
from gateway.db.migrate import alembic_config
from gateway.schema import schema

SCHEMA_FILE = Path(__file__).parent.parent / "schema.graphql"


def test_checked_in_schema_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.as_str() + "\n", (
        "schema.graphql is stale: run `gateway export-schema -o schema.graphql`"
    )


def test_export_schema_command_prints_the_schema(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["export-schema"]) == 0
    assert capsys.readouterr().out == schema.as_str() + "\n"


def test_contract_names_are_present() -> None:
    sdl = schema.as_str()
    for name in (
        "interface Node",
        "type FlowConnection",
        "ingestEvents(events: [IngestEvent!]!)",
        "input IngestEvent @oneOf",
        "enum LastRunStatus",
        "HASNT_RUN",
        "networkCodeClass: [NetworkCodeClass!]",
        "scalar DateTime",
        "scalar JSON",
    ):
        assert name in sdl, name


def test_migrations_match_the_tables(database_url: str) -> None:
    # Raises if autogenerate would produce any operation.
    command.check(alembic_config(database_url))
