"""Shared pieces of the rules' examples (each rule unit holds its own bad and good examples)."""

from __future__ import annotations

# Every example sets lock_timeout first, so examples show one rule each and not also missing-lock-timeout.
LOCK_TIMEOUT = "SET lock_timeout = '2s';\n"

ORDERS = """CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    status text NOT NULL,
    total numeric(12, 2),
    note text,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""

# A migration that writes its transaction out in full (BEGIN ... COMMIT), with lock_timeout set first.
ONE_WRITTEN_TRANSACTION = (
    "SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN region text;\nCOMMIT;"
)
