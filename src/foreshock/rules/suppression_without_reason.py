"""A `foreshock: ignore` directive that does not say why the statement is safe. Checked by the engine."""

from __future__ import annotations

from foreshock.rules.base import Example, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS

RULE = Rule(
    id="suppression-without-reason",
    summary="`-- foreshock: ignore RULE` without `-- reason`",
    why=(
        "A suppression is a claim that a flagged statement is safe here. Without the reason, the next "
        "reviewer cannot tell a considered decision (the table has 40 rows; the code stopped using the "
        "column in v42) from a silenced alarm. The suppression still applies; this note asks for the why."
    ),
    fix="-- foreshock: ignore creating-index-non-concurrently -- lookup table, under 1,000 rows\n"
    "CREATE INDEX countries_name_idx ON countries (name);",
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "-- foreshock: ignore creating-index-non-concurrently\n"
            "CREATE INDEX orders_status_idx ON orders (status);",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "-- foreshock: ignore creating-index-non-concurrently -- "
            "orders has 300 rows in production\nCREATE INDEX orders_status_idx ON orders (status);",
        ),
    ),
    severity="info",
    risk=Risk.STYLE,
)
