"""A `foreshock: ignore` directive that suppresses nothing. Checked by the engine."""

from __future__ import annotations

from foreshock.rules.base import Example, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS

RULE = Rule(
    id="unused-suppression",
    summary="`-- foreshock: ignore RULE` where RULE does not fire",
    why=(
        "A suppression that silences nothing is either stale (the statement was made safe) or aimed at the "
        "wrong statement or rule. Left in place it will silently hide the next real problem written there."
    ),
    fix="-- remove the `-- foreshock: ignore ...` line, or move it directly above the statement it is about",
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "-- foreshock: ignore setting-not-null -- checked by hand\n"
            "ALTER TABLE orders ADD COLUMN region text;",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "-- foreshock: ignore setting-not-null -- orders.note has no NULLs, 200 rows\n"
            "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;",
        ),
    ),
    severity="info",
    risk=Risk.STYLE,
)
