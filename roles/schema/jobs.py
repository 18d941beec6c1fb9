"""TimescaleDB policy jobs (timescale edition), pure: where a policy's job is found in
timescaledb_information.jobs, and the statements that change it in place.

A policy is altered, never removed and re-added: `alter_job` keeps the job id, its
statistics and its history (timescaledb_information.job_stats, job_errors). Only when the
job does not exist yet does the policy's own add_* function create it; `if_not_exists`
makes that a no-op once the altered job matches.
"""

from __future__ import annotations

from collections.abc import Mapping

from roles.schema.sqltext import interval_literal, quote_literal, split_name

JOBS = "timescaledb_information.jobs"
CAGGS = "timescaledb_information.continuous_aggregates"


def job_source(proc_name: str, relation: str, *, rollup: bool = False) -> str:
    """`FROM ... WHERE ...` selecting (as `j`) the `proc_name` job of a hypertable, or of a
    continuous aggregate (whose job names its materialization hypertable)."""
    schema, name = split_name(relation)
    where = f"WHERE j.proc_name = {quote_literal(proc_name)} "
    if rollup:
        return (
            f"FROM {JOBS} j JOIN {CAGGS} c "
            "ON c.materialization_hypertable_schema = j.hypertable_schema "
            "AND c.materialization_hypertable_name = j.hypertable_name "
            + where
            + f"AND c.view_schema = {quote_literal(schema)} "
            f"AND c.view_name = {quote_literal(name)}"
        )
    return (
        f"FROM {JOBS} j " + where + f"AND j.hypertable_schema = {quote_literal(schema)} "
        f"AND j.hypertable_name = {quote_literal(name)}"
    )


def alter_or_add(
    source: str,
    config: Mapping[str, str],
    add: str,
    schedule_interval: str | None = None,
) -> tuple[str, str]:
    """Two statements: alter the job `source` finds (interval values of `config`, spec
    syntax, written into its config; the schedule when given), then `add` (an add_*_policy
    call ending in `if_not_exists => TRUE`) for a job that was not there."""
    new_config = "j.config"
    for key, value in config.items():
        new_config = (
            f"jsonb_set({new_config}, {quote_literal('{' + key + '}')}, "
            f"to_jsonb({interval_literal(value)}))"
        )
    schedule = (
        f", schedule_interval => {interval_literal(schedule_interval)}" if schedule_interval else ""
    )
    return (f"SELECT alter_job(j.job_id{schedule}, config => {new_config}) {source}", add)
