-- celltrack on PostgreSQL, schema 3: the lot index buckets are read from
-- the lots table instead of being stored as rows of kv.
--
-- idx_lot_number, idx_lot_number_fold, idx_lot_din and idx_lot_donor hold
-- nothing the lots row does not: each pair derives from the lot's number,
-- DIN, source and donor (store/indexdef.go), and those are columns pgkv
-- writes with every lots row, from the record, in the same send as the
-- index pairs (`audit verify` holds the columns to the record, the pairs to
-- the records). Stored in kv they were 4 of the 7 rows an imported lot
-- wrote and the largest COPY of an import (issue 14). Each bucket is now a
-- view over lots with the bucket's key and value, (k bytea, v bytea), each
-- with an index on the key's expression, so that pgkv reads it as it reads
-- a table of its own (a key, a page in key order, a count); pgkv sends none
-- of the pairs store writes to them (store/pgkv/tables.go, derived). The
-- bbolt engine keeps them as pairs: a backup or a migration to bbolt reads
-- them from these views.
--
-- A key is bytes; a text column becomes its UTF-8 bytes with
-- decode(replace(t, '\', '\\'), 'escape') — immutable, so it can be
-- indexed, unlike convert_to — and bytea compares as memcmp, as the kv seam
-- orders keys. The folded number is foldKey (store/foldindex.go): lot
-- numbers are ASCII (lot.ValidateCode), where folding is upper() in the C
-- collation. Before the kv rows go, each bucket's rows are compared with its
-- view: a difference refuses the migration, and nothing changes.

CREATE VIEW idx_lot_number AS
	SELECT decode(replace(l.number, '\', '\\'), 'escape') AS k, l.k AS v
	FROM lots AS l WHERE l.number IS NOT NULL;
CREATE INDEX lots_idx_number ON lots ((decode(replace(number, '\', '\\'), 'escape')));

CREATE VIEW idx_lot_number_fold AS
	SELECT decode(replace(upper(l.number COLLATE "C"), '\', '\\'), 'escape') || '\x00'::bytea || l.k AS k, '\x'::bytea AS v
	FROM lots AS l WHERE l.number IS NOT NULL;
CREATE INDEX lots_idx_number_fold ON lots ((decode(replace(upper(number COLLATE "C"), '\', '\\'), 'escape') || '\x00'::bytea || k));

CREATE VIEW idx_lot_din AS
	SELECT decode(replace(l.din, '\', '\\'), 'escape') AS k, l.k AS v
	FROM lots AS l WHERE l.din IS NOT NULL;
CREATE INDEX lots_idx_din ON lots ((decode(replace(din, '\', '\\'), 'escape')));

-- A lot from a donor (source uc); no donor (the zero id) is NULL in
-- donor_id and zeros in the key, as store writes it.
CREATE VIEW idx_lot_donor AS
	SELECT coalesce(uuid_send(l.donor_id), '\x00000000000000000000000000000000'::bytea) || l.k AS k, '\x'::bytea AS v
	FROM lots AS l WHERE l.source = 'uc';
CREATE INDEX lots_idx_donor ON lots ((coalesce(uuid_send(donor_id), '\x00000000000000000000000000000000'::bytea) || k))
	WHERE source = 'uc';

-- The views are read only: a change to a lot's index is a change to the lot
-- (a simple view would otherwise pass a DELETE on to lots).
CREATE FUNCTION ct_derived_read_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'celltrack: % is read from lots; % refused', TG_TABLE_NAME, TG_OP
		USING ERRCODE = 'insufficient_privilege',
		HINT = 'a lot''s index entries follow the lot: change the lot with celltrack instead';
END
$$;
DO $$
DECLARE b text; n bigint;
BEGIN
	FOREACH b IN ARRAY ARRAY['idx_lot_number', 'idx_lot_number_fold', 'idx_lot_din', 'idx_lot_donor'] LOOP
		EXECUTE format('CREATE TRIGGER %I INSTEAD OF INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION ct_derived_read_only()',
			b || '_read_only', b);
		EXECUTE format('COMMENT ON VIEW %I IS %L', b,
			'celltrack''s bucket ' || b || ', read from lots (store/indexdef.go derives it from each lot)');
		EXECUTE format('SELECT count(*) FROM ((SELECT k, v FROM kv WHERE bucket = %1$L EXCEPT ALL SELECT k, v FROM %2$I) '
			'UNION ALL (SELECT k, v FROM %2$I EXCEPT ALL SELECT k, v FROM kv WHERE bucket = %1$L)) AS d', b, b) INTO n;
		-- A bucket not made yet (kv_buckets) has no rows to compare.
		IF n > 0 AND EXISTS (SELECT 1 FROM kv_buckets WHERE name = b) THEN
			RAISE EXCEPTION 'celltrack: bucket % holds % pair(s) the lots table does not give, or lacks them; nothing was changed', b, n
				USING HINT = 'run `celltrack audit verify` with the previous celltrack: it names the lots whose index entries are wrong';
		END IF;
		DELETE FROM kv WHERE bucket = b;
	END LOOP;
END
$$;
