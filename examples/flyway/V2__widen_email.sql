SET lock_timeout = '2s';

-- Widening a varchar is binary-coercible: a catalog change, no rewrite.
ALTER TABLE accounts ALTER COLUMN email TYPE varchar(255);
