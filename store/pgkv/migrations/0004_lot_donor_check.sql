-- celltrack on PostgreSQL, schema 4: a lot's donor is checked once per
-- statement instead of once per row at COMMIT, and audit_entries loses an
-- index that duplicated its primary key.
--
-- The foreign key lots.donor_id → donors.id, deferred, queued a check of
-- every lots row written and ran them one by one at COMMIT: a `SELECT … FOR
-- KEY SHARE` per lot, ~20 % of the server's work on a lot import, all of it
-- after the last send, where nothing overlaps it (issue 14). It is replaced
-- by triggers that check as strictly, a statement at a time:
--
--  * each INSERT or UPDATE of lots (a COPY of ~1,400 lots is one) looks up
--    the donors its rows name in one query, locking them FOR KEY SHARE as
--    the foreign key did (a donor cannot be deleted under a lot being
--    written), and queues those it does not find in ct_ref_checks;
--  * each DELETE or UPDATE of donors queues the ids gone that a lot still
--    names; TRUNCATE of donors is refused while a lot names a donor;
--  * a deferred constraint trigger on ct_ref_checks checks each queued id at
--    COMMIT — a lot may be written before its donor in one transaction, as
--    under the foreign key — and refuses the COMMIT with the foreign key's
--    error (23503, constraint lots_donor_id_fkey) when a lot names a donor
--    that is not there. Nothing is queued in the everyday case: no row is
--    checked at COMMIT.
--
-- The other foreign keys stay as they were (none is written thousands of
-- times a transaction).

ALTER TABLE lots DROP CONSTRAINT lots_donor_id_fkey;

-- The donor ids to check at COMMIT; empty outside a transaction that wrote
-- a lot before its donor or deleted a donor.
CREATE TABLE ct_ref_checks (donor_id uuid NOT NULL);
COMMENT ON TABLE ct_ref_checks IS
	'donor ids a lot names, queued by celltrack''s triggers for the check at commit that replaces lots_donor_id_fkey; empty between transactions';

CREATE FUNCTION ct_lot_donor_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM ct_ref_checks WHERE donor_id = NEW.donor_id;
	IF NOT EXISTS (SELECT 1 FROM donors WHERE id = NEW.donor_id)
		AND EXISTS (SELECT 1 FROM lots WHERE donor_id = NEW.donor_id) THEN
		RAISE EXCEPTION 'insert or update on table "lots" violates foreign key constraint "lots_donor_id_fkey"'
			USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'lots_donor_id_fkey', TABLE = 'lots',
			DETAIL = format('Key (donor_id)=(%s) is not present in table "donors".', NEW.donor_id);
	END IF;
	RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER ct_ref_checks_at_commit AFTER INSERT ON ct_ref_checks
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ct_lot_donor_check();

CREATE FUNCTION ct_lots_donors_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	WITH named AS (SELECT DISTINCT donor_id FROM written WHERE donor_id IS NOT NULL),
	found AS (SELECT d.id FROM donors AS d WHERE d.id IN (SELECT donor_id FROM named) FOR KEY SHARE OF d)
	INSERT INTO ct_ref_checks (donor_id)
		SELECT n.donor_id FROM named AS n WHERE NOT EXISTS (SELECT 1 FROM found AS f WHERE f.id = n.donor_id);
	RETURN NULL;
END
$$;
CREATE TRIGGER lots_donor_on_insert AFTER INSERT ON lots REFERENCING NEW TABLE AS written
	FOR EACH STATEMENT EXECUTE FUNCTION ct_lots_donors_written();
CREATE TRIGGER lots_donor_on_update AFTER UPDATE ON lots REFERENCING NEW TABLE AS written
	FOR EACH STATEMENT EXECUTE FUNCTION ct_lots_donors_written();

CREATE FUNCTION ct_donors_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO ct_ref_checks (donor_id)
			SELECT DISTINCT g.id FROM gone AS g WHERE EXISTS (SELECT 1 FROM lots AS l WHERE l.donor_id = g.id);
	ELSE
		INSERT INTO ct_ref_checks (donor_id)
			SELECT DISTINCT g.id FROM gone AS g
			WHERE NOT EXISTS (SELECT 1 FROM kept AS k WHERE k.id = g.id)
				AND EXISTS (SELECT 1 FROM lots AS l WHERE l.donor_id = g.id);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER donors_lot_on_delete AFTER DELETE ON donors REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION ct_donors_gone();
CREATE TRIGGER donors_lot_on_update AFTER UPDATE ON donors REFERENCING OLD TABLE AS gone NEW TABLE AS kept
	FOR EACH STATEMENT EXECUTE FUNCTION ct_donors_gone();

CREATE FUNCTION ct_donors_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM lots WHERE donor_id IS NOT NULL) THEN
		RAISE EXCEPTION 'cannot truncate donors: lots name donors (lots_donor_id_fkey)'
			USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'lots_donor_id_fkey', TABLE = 'lots';
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER donors_no_truncate BEFORE TRUNCATE ON donors
	FOR EACH STATEMENT EXECUTE FUNCTION ct_donors_no_truncate();

-- audit_entries.seq is its key k read as a number (8 bytes, big-endian:
-- one k, one seq), so the primary key on k already makes it unique; its
-- own unique index was a second btree insertion for every entry. Look an
-- entry up by number with `WHERE k = int8send(N)`.
ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_seq_key;
