-- celltrack on PostgreSQL, schema 5: the roles that read and write lots
-- are given what schemas 3 and 4 added, so that `celltrack upgrade` does
-- not leave the sites' role (README "PostgreSQL", the grants block) unable
-- to read a lot by number or to write one.
--
-- The grants block is run once, after `init`, and names the tables there
-- were then. Schema 3 added four views over lots (idx_lot_*), read by every
-- look-up of a lot by number, folded number, DIN or donor, and schema 4 the
-- table ct_ref_checks, written by the triggers of every statement that
-- writes lots or donors (triggers run as the role that writes). A role given
-- SELECT on lots before the upgrade got no SELECT on the views, and every
-- `lot show LOT-1` through it was refused "permission denied for view
-- idx_lot_number"; a role given INSERT on lots got no INSERT on
-- ct_ref_checks, and every lot written through it was refused. A database
-- made at schema 5 or later by `init` has these objects before the grants
-- block runs, so its GRANT … ON ALL TABLES covers them and this changes
-- nothing there.
--
-- Each role holding SELECT on lots (its owner and PUBLIC aside) gets SELECT
-- on the views; each holding INSERT, UPDATE or DELETE on lots or donors gets
-- SELECT, INSERT and DELETE on ct_ref_checks. Nothing else is granted: the
-- views refuse writes, and the audit tables keep the grants they had.
DO $$
DECLARE
	r regrole;
BEGIN
	FOR r IN
		SELECT DISTINCT a.grantee::regrole
		FROM pg_class AS c, aclexplode(c.relacl) AS a
		WHERE c.oid = 'lots'::regclass AND a.privilege_type = 'SELECT'
			AND a.grantee <> 0 AND a.grantee <> c.relowner
	LOOP
		EXECUTE format('GRANT SELECT ON idx_lot_number, idx_lot_number_fold, idx_lot_din, idx_lot_donor TO %s', r);
	END LOOP;
	FOR r IN
		SELECT DISTINCT a.grantee::regrole
		FROM pg_class AS c, aclexplode(c.relacl) AS a
		WHERE c.oid IN ('lots'::regclass, 'donors'::regclass) AND a.privilege_type IN ('INSERT', 'UPDATE', 'DELETE')
			AND a.grantee <> 0 AND a.grantee <> c.relowner
	LOOP
		EXECUTE format('GRANT SELECT, INSERT, DELETE ON ct_ref_checks TO %s', r);
	END LOOP;
END
$$;
