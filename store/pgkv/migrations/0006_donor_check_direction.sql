-- celltrack on PostgreSQL, schema 6: the check that replaced
-- lots_donor_id_fkey (schema 4) refuses a DELETE or UPDATE of donors with
-- the words the foreign key used for it.
--
-- Schema 4's check raised one message for both directions, so a DELETE of a
-- donor that a lot still names was refused with 'insert or update on table
-- "lots" …' — the DBA was sent to a table the statement never touched
-- (review 22, finding B). Each queued id now says which statement queued it
-- (gone: a DELETE or UPDATE of donors took the id away), and the check at
-- COMMIT raises the foreign key's text for that direction:
--
--   update or delete on table "donors" violates foreign key constraint
--   "lots_donor_id_fkey" on table "lots" — Key (id)=(…) is still referenced
--   from table "lots".
--
-- or, as before, 'insert or update on table "lots" …' for a lot written
-- naming a donor that is not there. Both are 23503 with the constraint
-- lots_donor_id_fkey. Schema 4 is released: its functions are replaced
-- here, not edited there.

ALTER TABLE ct_ref_checks ADD COLUMN IF NOT EXISTS gone boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION ct_lot_donor_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM ct_ref_checks WHERE donor_id = NEW.donor_id;
	IF NOT EXISTS (SELECT 1 FROM donors WHERE id = NEW.donor_id)
		AND EXISTS (SELECT 1 FROM lots WHERE donor_id = NEW.donor_id) THEN
		IF NEW.gone THEN
			RAISE EXCEPTION 'update or delete on table "donors" violates foreign key constraint "lots_donor_id_fkey" on table "lots"'
				USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'lots_donor_id_fkey', TABLE = 'lots',
				DETAIL = format('Key (id)=(%s) is still referenced from table "lots".', NEW.donor_id);
		END IF;
		RAISE EXCEPTION 'insert or update on table "lots" violates foreign key constraint "lots_donor_id_fkey"'
			USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'lots_donor_id_fkey', TABLE = 'lots',
			DETAIL = format('Key (donor_id)=(%s) is not present in table "donors".', NEW.donor_id);
	END IF;
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ct_donors_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO ct_ref_checks (donor_id, gone)
			SELECT DISTINCT g.id, true FROM gone AS g WHERE EXISTS (SELECT 1 FROM lots AS l WHERE l.donor_id = g.id);
	ELSE
		INSERT INTO ct_ref_checks (donor_id, gone)
			SELECT DISTINCT g.id, true FROM gone AS g
			WHERE NOT EXISTS (SELECT 1 FROM kept AS k WHERE k.id = g.id)
				AND EXISTS (SELECT 1 FROM lots AS l WHERE l.donor_id = g.id);
	END IF;
	RETURN NULL;
END
$$;
