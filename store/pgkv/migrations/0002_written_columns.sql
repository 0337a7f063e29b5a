-- celltrack on PostgreSQL, schema 2: the columns people query are written
-- by the engine with each row instead of generated from the record.
--
-- Schema 1 derived them as STORED generated columns; each `record ->> 'f'`
-- re-parsed the whole json text and each ct_time/ct_ref call ran through
-- the SQL function executor (their NULLIF keeps them from being inlined):
-- ~285 µs of server time per `lots` row, against ~95 µs when one jsonb
-- parse of the record feeds every column (BENCHMARKS.md, run T). The
-- columns, their types, indexes and constraints (unique DIN, container
-- code, the foreign keys) stay as they are, and so do the values already
-- there: DROP EXPRESSION keeps each row's stored value and rewrites nothing.
-- From now on pgkv's INSERT computes them, from one jsonb parse of the
-- record per row, with the expressions of schema 1 (store/pgkv/tables.go;
-- a test holds the two to the same answers on every record kind). The
-- record itself is still stored as json, byte for byte what store wrote:
-- the audit hashes cover those bytes.
--
-- The trail's columns (audit_entries.seq, audit_entity.entity_id and seq,
-- audit_tree.idx) are written the same way, from the key: generated, they
-- cost ~25 µs a row more than written, and an import writes four trail
-- rows per lot.
DO $$
DECLARE r record;
BEGIN
	FOR r IN
		SELECT c.relname, a.attname
		FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = current_schema()::regnamespace
			AND a.attgenerated = 's' AND NOT a.attisdropped
		ORDER BY c.relname, a.attnum
	LOOP
		EXECUTE format('ALTER TABLE %I ALTER COLUMN %I DROP EXPRESSION', r.relname, r.attname);
	END LOOP;
END
$$;

-- kv.bucket referenced kv_buckets: a check per row of the generic table at
-- COMMIT (an import writes four index rows per lot: ~25 µs each). The
-- registry is the engine's own bookkeeping, not a record a person or a DBA
-- relates to another: DeleteBucket deletes a bucket's rows with its name,
-- and CreateBucket registers a name before any row is written under it.
-- The foreign keys between records (a lot's donor, a bag's lot, …) stay.
ALTER TABLE kv DROP CONSTRAINT kv_bucket_fkey;

DO $$
DECLARE r record;
BEGIN
	FOR r IN
		SELECT c.relname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
			AND a.attname = 'record' AND NOT a.attisdropped
		ORDER BY c.relname
	LOOP
		EXECUTE format('COMMENT ON TABLE %I IS %L', r.relname,
			'k and record are what celltrack stored (record byte for byte: the audit trail hashes it); '
			'every other column is written by celltrack from the record with each row, for people and constraints to use');
	END LOOP;
END
$$;
