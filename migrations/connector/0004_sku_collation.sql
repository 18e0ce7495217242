-- Skus are identifiers: the products key compares them byte by byte instead of by the
-- database's locale (every upsert of a sync probes it).
ALTER TABLE products ALTER COLUMN sku TYPE text COLLATE "C";
