"""Phase 80-ingest (the rejects table and the writer role's privileges) and the table shapes
read from the 10-schema DDL."""

from __future__ import annotations

from pathlib import Path

import pglast.parser
import pytest

from roles.schema.ddl import TableShape, table_shapes
from roles.schema.ingest_sql import PHASE, ingest_unit
from roles.schema.model import IngestSettings, LoadedSpec, load_spec
from roles.schema.render import plan
from roles.schema.units import EDITIONS, Edition, Unit
from tests.unit.spec_copies import spec_without_ingest

ROOT = Path(__file__).resolve().parents[2]
ROLE = '"timestack_ingest"'
VEHICLE = '"telemetry"."vehicle_telemetry"'
FACTORY = '"factory_telemetry"."metric_hist"'
REJECTS = '"timestack"."ingest_rejects"'


def shipped() -> LoadedSpec:
    return load_spec(ROOT / "sql/timeseries.yml", ROOT)


def unit(edition: Edition = "apache") -> Unit:
    (found,) = [u for u in plan(shipped(), edition) if u.phase == PHASE]
    return found


def statements() -> list[str]:
    return list(unit().statements)


def index_of(prefix: str) -> int:
    (position,) = [n for n, s in enumerate(statements()) if s.startswith(prefix)]
    return position


# ---------------------------------------------------------------------------------------
# Phase 80-ingest


def test_the_rejects_table_is_unique_per_kafka_position() -> None:
    ddl = statements()[0]
    assert ddl.startswith(f"CREATE TABLE IF NOT EXISTS {REJECTS} (")
    assert 'UNIQUE (topic, "partition", "offset")' in ddl


def test_the_rejects_table_keeps_the_raw_bytes_and_the_error() -> None:
    ddl = statements()[0]
    for column in ("payload bytea NOT NULL", "key bytea", "error text NOT NULL", "sqlstate text"):
        assert column in ddl
    assert "target text NOT NULL" in ddl


def test_the_rejects_table_is_valid_sql() -> None:
    for statement in statements():
        pglast.parser.parse_sql(statement)


def test_privileges_are_revoked_before_any_is_granted() -> None:
    revoke = index_of("REVOKE ALL ON ALL TABLES IN SCHEMA ")
    grants = [n for n, s in enumerate(statements()) if s.startswith("GRANT ")]
    assert grants and revoke < min(grants)


def test_the_revoke_covers_every_schema_of_the_spec_and_the_rejects() -> None:
    revoke = statements()[index_of("REVOKE ")]
    assert revoke == (
        'REVOKE ALL ON ALL TABLES IN SCHEMA "factory_telemetry", "telemetry", "timestack" '
        f"FROM {ROLE}"
    )


def test_each_ingested_table_gets_insert() -> None:
    for table in (VEHICLE, FACTORY):
        assert f"GRANT INSERT ON {table} TO {ROLE}" in statements()


def test_an_update_policy_gets_update_on_its_columns_only() -> None:
    assert (
        f'GRANT UPDATE ("value_bool", "value_int", "value_real") ON {FACTORY} TO {ROLE}'
        in statements()
    )


def test_an_update_policy_may_read_the_key_and_its_columns_only() -> None:
    assert (
        f'GRANT SELECT ("metric_def_id", "ts", "value_bool", "value_int", "value_real") '
        f"ON {FACTORY} TO {ROLE}" in statements()
    )


def test_a_do_nothing_table_gets_neither_update_nor_select() -> None:
    vehicle = [s for s in statements() if f" ON {VEHICLE} " in s]
    assert vehicle == [f"GRANT INSERT ON {VEHICLE} TO {ROLE}"]


def test_the_writers_may_insert_rejects_and_read_their_positions() -> None:
    assert f"GRANT INSERT ON {REJECTS} TO {ROLE}" in statements()
    assert f'GRANT SELECT (topic, "partition", "offset") ON {REJECTS} TO {ROLE}' in statements()


def test_the_role_and_rejects_table_come_from_the_spec() -> None:
    settings = IngestSettings(role="writer", rejects="ops.bad")
    spec = shipped().spec.model_copy(update={"ingest": settings})
    made = ingest_unit(spec, "spec: ingest", {})
    assert made.statements[0].startswith('CREATE TABLE IF NOT EXISTS "ops"."bad" (')
    assert 'GRANT INSERT ON "ops"."bad" TO "writer"' in made.statements
    assert all(not s.startswith("GRANT ") or s.endswith(' TO "writer"') for s in made.statements)


@pytest.mark.parametrize("edition", EDITIONS)
def test_the_ingest_unit_is_the_last_of_the_plan(edition: Edition) -> None:
    units = plan(shipped(), edition)
    assert units[-1].key == f"{PHASE}/ingest-writers"
    assert [u for u in units if u.phase == PHASE] == [units[-1]]


def test_the_ingest_unit_is_the_same_on_both_editions() -> None:
    assert unit("timescale").checksum == unit("apache").checksum


def test_the_ingest_unit_is_a_policy_applied_in_a_transaction() -> None:
    made = unit()
    assert (made.kind, made.transactional, made.status) == ("policy", True, "applied")
    assert made.source == "sql/timeseries.yml: ingest"


def test_no_ingest_unit_when_no_table_declares_ingest(tmp_path: Path) -> None:
    spec = spec_without_ingest(tmp_path)
    for edition in EDITIONS:
        assert [u for u in plan(load_spec(spec, tmp_path), edition) if u.phase == PHASE] == []


# ---------------------------------------------------------------------------------------
# Table shapes from the DDL


def shape(sql: str, table: str = "s.t") -> TableShape:
    return table_shapes([sql])[table]


def test_a_column_primary_key_is_the_key() -> None:
    found = shape("CREATE TABLE s.t (id int PRIMARY KEY, v text);")
    assert found.primary_key == ("id",)
    assert found.unique_keys == [("id",)]


def test_a_table_primary_key_keeps_its_column_order() -> None:
    found = shape("CREATE TABLE s.t (a int, b timestamptz, v int, PRIMARY KEY (b, a));")
    assert found.primary_key == ("b", "a")
    assert found.unique_keys == [("b", "a")]


def test_unique_constraints_are_keys_after_the_primary_key() -> None:
    found = shape(
        "CREATE TABLE s.t (code text UNIQUE, a int, b int, UNIQUE (a, b), id int PRIMARY KEY);"
    )
    assert found.primary_key == ("id",)
    assert found.unique_keys == [("id",), ("code",), ("a", "b")]


def test_a_table_without_keys_has_none() -> None:
    found = shape("CREATE TABLE s.t (a int, b int);")
    assert (found.primary_key, found.unique_keys) == ((), [])


def test_a_unique_index_counts_as_a_key() -> None:
    found = shape("CREATE TABLE s.t (a int, b int); CREATE UNIQUE INDEX t_ab ON s.t (a, b);")
    assert found.unique_keys == [("a", "b")]
    assert found.primary_key == ()


def test_a_partial_unique_index_is_not_a_key() -> None:
    found = shape(
        "CREATE TABLE s.t (a int, b int); CREATE UNIQUE INDEX t_a ON s.t (a) WHERE b > 0;"
    )
    assert found.unique_keys == []


def test_an_expression_unique_index_is_not_a_key() -> None:
    found = shape("CREATE TABLE s.t (a text); CREATE UNIQUE INDEX t_a ON s.t (lower(a));")
    assert found.unique_keys == []


def test_a_plain_index_is_not_a_key() -> None:
    assert shape("CREATE TABLE s.t (a int); CREATE INDEX t_a ON s.t (a);").unique_keys == []


def test_a_generated_column_is_flagged_and_not_insertable() -> None:
    found = shape("CREATE TABLE s.t (a int, b int GENERATED ALWAYS AS (a * 2) STORED, c text);")
    assert found.columns == {"a": False, "b": True, "c": False}
    assert found.insertable == ["a", "c"]


def test_an_identity_column_is_not_generated() -> None:
    found = shape("CREATE TABLE s.t (id bigint GENERATED ALWAYS AS IDENTITY, v int);")
    assert found.columns == {"id": False, "v": False}


def test_an_unqualified_table_is_in_public() -> None:
    assert "public.t" in table_shapes(["CREATE TABLE t (a int);"])


def test_names_are_read_in_lower_case() -> None:
    found = shape("CREATE TABLE S.T (Id int PRIMARY KEY);")
    assert (found.name, found.primary_key, list(found.columns)) == ("s.t", ("id",), ["id"])


def test_shapes_span_the_texts_in_order() -> None:
    shapes = table_shapes(
        ["CREATE TABLE s.t (a int, b int);", "CREATE UNIQUE INDEX t_a ON s.t (a);"]
    )
    assert shapes["s.t"].unique_keys == [("a",)]


def test_other_statements_are_ignored() -> None:
    shapes = table_shapes(
        [
            "CREATE SCHEMA s; CREATE EXTENSION IF NOT EXISTS postgis; "
            "CREATE VIEW s.v AS SELECT 1; CREATE TABLE s.t (a int PRIMARY KEY);"
        ]
    )
    assert list(shapes) == ["s.t"]


def test_sql_the_parser_refuses_raises() -> None:
    with pytest.raises(pglast.parser.ParseError):
        table_shapes(["CREATE TABLE s.t (a int,,);"])


def test_the_shipped_schema_gives_the_ingested_tables_their_keys() -> None:
    texts = [p.read_text() for p in sorted((ROOT / "sql/10-schema").glob("*.sql"))]
    shapes = table_shapes(texts)
    assert shapes["telemetry.vehicle_telemetry"].primary_key == ("license_plate", "time")
    assert shapes["telemetry.vehicle_telemetry"].columns["geom"] is True
    assert shapes["factory_telemetry.metric_hist"].primary_key == ("metric_def_id", "ts")
