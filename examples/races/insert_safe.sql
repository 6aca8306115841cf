-- flags.name has a unique index: the database decides, a concurrent duplicate is a no-op.
SET lock_timeout = '2s';
INSERT INTO flags (name, enabled) SELECT 'checkout.v2', false
WHERE NOT EXISTS (SELECT 1 FROM flags WHERE name = 'checkout.v2')
ON CONFLICT (name) DO NOTHING;
