-- celltrack on PostgreSQL, schema 1: the kv seam's buckets as tables a DBA
-- can read (store/pgkv/doc.go). Every table keeps the key as `k bytea`
-- (bytea compares as memcmp, so ORDER BY k is the bytewise order store
-- relies on) and the value exactly as store wrote it. Record tables hold it
-- as json (not jsonb: json keeps the exact bytes the audit hashes cover) and
-- derive, as STORED generated columns, the columns people query. Constraints
-- are a second line of defence behind store's own checks; they are deferred
-- to commit because one transaction may write a record before the record it
-- points to.

-- The buckets that exist (kv.Tx.Bucket is nil for any other name), and a
-- generation bumped when the set changes, so engines cache the set and
-- re-read it only when another process changed it.
CREATE TABLE kv_buckets (name text PRIMARY KEY);
CREATE TABLE kv_generation (one boolean PRIMARY KEY DEFAULT true CHECK (one), gen bigint NOT NULL);
INSERT INTO kv_generation (gen) VALUES (1);

-- Every bucket without a table of its own: meta, sessions, the idx_*
-- indexes, and any bucket a later store version adds.
CREATE TABLE kv (
	bucket text NOT NULL REFERENCES kv_buckets (name) DEFERRABLE INITIALLY DEFERRED,
	k bytea NOT NULL,
	v bytea NOT NULL,
	PRIMARY KEY (bucket, k)
);

-- Helpers for the generated columns. ct_time is declared IMMUTABLE although
-- text→timestamptz is only STABLE: store writes RFC 3339 times with an
-- explicit offset (Go's time.Time JSON), whose meaning depends on no
-- setting. Go's zero time means "none" and becomes NULL.
CREATE FUNCTION ct_id(k bytea) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN encode(k, 'hex')::uuid;
CREATE FUNCTION ct_ref(j json, f text) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN NULLIF((j ->> f)::uuid, '00000000-0000-0000-0000-000000000000');
CREATE FUNCTION ct_time(j json, f text) RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN NULLIF((j ->> f)::timestamptz, '0001-01-01T00:00:00Z'::timestamptz);
CREATE FUNCTION ct_seq(k bytea) RETURNS bigint LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN ('x' || encode(k, 'hex'))::bit(64)::bigint;

CREATE TABLE users (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	name text GENERATED ALWAYS AS (record ->> 'name') STORED,
	full_name text GENERATED ALWAYS AS (record ->> 'full_name') STORED,
	role text GENERATED ALWAYS AS (record ->> 'role') STORED,
	disabled boolean GENERATED ALWAYS AS (coalesce((record ->> 'disabled')::boolean, false)) STORED,
	created_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'created_at')) STORED,
	CONSTRAINT users_name_unique UNIQUE (name) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE donors (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	code text GENERATED ALWAYS AS (record ->> 'code') STORED,
	site text GENERATED ALWAYS AS (record ->> 'site') STORED,
	delivered timestamptz GENERATED ALWAYS AS (ct_time(record, 'delivered')) STORED,
	consented timestamptz GENERATED ALWAYS AS (ct_time(record, 'consented')) STORED,
	created_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'created_at')) STORED,
	CONSTRAINT donors_code_unique UNIQUE (code) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE patients (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	mrn text GENERATED ALWAYS AS (record ->> 'mrn') STORED,
	name text GENERATED ALWAYS AS (record ->> 'name') STORED,
	born timestamptz GENERATED ALWAYS AS (ct_time(record, 'born')) STORED,
	sex text GENERATED ALWAYS AS (record ->> 'sex') STORED,
	created_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'created_at')) STORED,
	CONSTRAINT patients_mrn_unique UNIQUE (mrn) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE weights (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	patient_id uuid GENERATED ALWAYS AS (ct_ref(record, 'patient_id')) STORED
		REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED,
	grams bigint GENERATED ALWAYS AS ((record ->> 'grams')::bigint) STORED,
	measured_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'measured_at')) STORED
);

CREATE TABLE lots (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	number text GENERATED ALWAYS AS (record ->> 'number') STORED,
	din text GENERATED ALWAYS AS (record ->> 'din') STORED,
	source text GENERATED ALWAYS AS (record ->> 'source') STORED,
	status text GENERATED ALWAYS AS (record ->> 'status') STORED,
	donor_id uuid GENERATED ALWAYS AS (ct_ref(record, 'donor_id')) STORED
		REFERENCES donors (id) DEFERRABLE INITIALLY DEFERRED,
	patient_id uuid GENERATED ALWAYS AS (ct_ref(record, 'patient_id')) STORED
		REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED,
	manufactured timestamptz GENERATED ALWAYS AS (ct_time(record, 'manufactured')) STORED,
	expires timestamptz GENERATED ALWAYS AS (ct_time(record, 'expires')) STORED,
	created_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'created_at')) STORED,
	CONSTRAINT lots_din_unique UNIQUE (din) DEFERRABLE INITIALLY DEFERRED,
	CONSTRAINT lots_number_unique UNIQUE (number) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE containers (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	lot_id uuid GENERATED ALWAYS AS (ct_ref(record, 'lot_id')) STORED
		REFERENCES lots (id) DEFERRABLE INITIALLY DEFERRED,
	din text GENERATED ALWAYS AS (record ->> 'din') STORED,
	number integer GENERATED ALWAYS AS ((record ->> 'number')::integer) STORED,
	-- lot.ContainerCode: the DIN and the two-digit container number
	code text GENERATED ALWAYS AS ((record ->> 'din') || lpad(record ->> 'number', 2, '0')) STORED,
	state text GENERATED ALWAYS AS (record ->> 'state') STORED,
	site text GENERATED ALWAYS AS (record ->> 'site') STORED,
	location text GENERATED ALWAYS AS (record ->> 'location') STORED,
	patient_id uuid GENERATED ALWAYS AS (ct_ref(record, 'patient_id')) STORED
		REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED,
	thawed_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'thawed_at')) STORED,
	created_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'created_at')) STORED,
	CONSTRAINT containers_code_unique UNIQUE (code) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE events (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	container_id uuid GENERATED ALWAYS AS (ct_ref(record, 'container_id')) STORED
		REFERENCES containers (id) DEFERRABLE INITIALLY DEFERRED,
	lot_id uuid GENERATED ALWAYS AS (ct_ref(record, 'lot_id')) STORED
		REFERENCES lots (id) DEFERRABLE INITIALLY DEFERRED,
	from_state text GENERATED ALWAYS AS (record ->> 'from') STORED,
	to_state text GENERATED ALWAYS AS (record ->> 'to') STORED,
	at timestamptz GENERATED ALWAYS AS (ct_time(record, 'at')) STORED,
	by_user text GENERATED ALWAYS AS (record ->> 'by') STORED,
	site text GENERATED ALWAYS AS (record ->> 'site') STORED,
	patient_id uuid GENERATED ALWAYS AS (ct_ref(record, 'patient_id')) STORED
		REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE sites (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	code text GENERATED ALWAYS AS (record ->> 'code') STORED,
	name text GENERATED ALWAYS AS (record ->> 'name') STORED,
	home boolean GENERATED ALWAYS AS (coalesce((record ->> 'home')::boolean, false)) STORED,
	CONSTRAINT sites_code_unique UNIQUE (code) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE facility (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	tz text GENERATED ALWAYS AS (record ->> 'tz') STORED
);

CREATE TABLE labels (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	container_id uuid GENERATED ALWAYS AS (ct_ref(record, 'container_id')) STORED
		REFERENCES containers (id) DEFERRABLE INITIALLY DEFERRED,
	lot_id uuid GENERATED ALWAYS AS (ct_ref(record, 'lot_id')) STORED
		REFERENCES lots (id) DEFERRABLE INITIALLY DEFERRED,
	printed integer GENERATED ALWAYS AS ((record ->> 'printed')::integer) STORED,
	applied integer GENERATED ALWAYS AS ((record ->> 'applied')::integer) STORED,
	voided integer GENERATED ALWAYS AS ((record ->> 'voided')::integer) STORED
);

CREATE TABLE specs (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	name text GENERATED ALWAYS AS (record ->> 'name') STORED,
	version integer GENERATED ALWAYS AS ((record ->> 'version')::integer) STORED,
	title text GENERATED ALWAYS AS (record ->> 'title') STORED,
	created_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'created_at')) STORED,
	CONSTRAINT specs_name_version_unique UNIQUE (name, version) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE results (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	lot_id uuid GENERATED ALWAYS AS (ct_ref(record, 'lot_id')) STORED
		REFERENCES lots (id) DEFERRABLE INITIALLY DEFERRED,
	assay text GENERATED ALWAYS AS (record ->> 'assay') STORED,
	value text GENERATED ALWAYS AS (record ->> 'value') STORED,
	unit text GENERATED ALWAYS AS (record ->> 'unit') STORED,
	tested timestamptz GENERATED ALWAYS AS (ct_time(record, 'tested')) STORED,
	recorded_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'recorded_at')) STORED,
	voided_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'voided_at')) STORED
);

CREATE TABLE screenings (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	donor_id uuid GENERATED ALWAYS AS (ct_ref(record, 'donor_id')) STORED
		REFERENCES donors (id) DEFERRABLE INITIALLY DEFERRED,
	tested timestamptz GENERATED ALWAYS AS (ct_time(record, 'tested')) STORED,
	recorded_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'recorded_at')) STORED,
	voided_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'voided_at')) STORED
);

CREATE TABLE dispositions (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	lot_id uuid GENERATED ALWAYS AS (ct_ref(record, 'lot_id')) STORED
		REFERENCES lots (id) DEFERRABLE INITIALLY DEFERRED,
	lot text GENERATED ALWAYS AS (record ->> 'lot') STORED,
	din text GENERATED ALWAYS AS (record ->> 'din') STORED,
	decision text GENERATED ALWAYS AS (record ->> 'decision') STORED,
	patient_id uuid GENERATED ALWAYS AS (ct_ref(record, 'patient_id')) STORED
		REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE protocols (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	name text GENERATED ALWAYS AS (record ->> 'name') STORED,
	version integer GENERATED ALWAYS AS ((record ->> 'version')::integer) STORED,
	created_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'created_at')) STORED,
	CONSTRAINT protocols_name_version_unique UNIQUE (name, version) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE schedules (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	patient_id uuid GENERATED ALWAYS AS (ct_ref(record, 'patient_id')) STORED
		REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED,
	protocol_id uuid GENERATED ALWAYS AS (ct_ref(record, 'protocol_id')) STORED
		REFERENCES protocols (id) DEFERRABLE INITIALLY DEFERRED,
	protocol text GENERATED ALWAYS AS (record ->> 'protocol') STORED,
	course integer GENERATED ALWAYS AS ((record ->> 'course')::integer) STORED,
	start timestamptz GENERATED ALWAYS AS (ct_time(record, 'start')) STORED,
	site text GENERATED ALWAYS AS (record ->> 'site') STORED
);

CREATE TABLE infusions (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	patient_id uuid GENERATED ALWAYS AS (ct_ref(record, 'patient_id')) STORED
		REFERENCES patients (id) DEFERRABLE INITIALLY DEFERRED,
	schedule_id uuid GENERATED ALWAYS AS (ct_ref(record, 'schedule_id')) STORED
		REFERENCES schedules (id) DEFERRABLE INITIALLY DEFERRED,
	weight_id uuid GENERATED ALWAYS AS (ct_ref(record, 'weight_id')) STORED
		REFERENCES weights (id) DEFERRABLE INITIALLY DEFERRED,
	course integer GENERATED ALWAYS AS ((record ->> 'course')::integer) STORED,
	number integer GENERATED ALWAYS AS ((record ->> 'number')::integer) STORED,
	start timestamptz GENERATED ALWAYS AS (ct_time(record, 'start')) STORED,
	"end" timestamptz GENERATED ALWAYS AS (ct_time(record, 'end')) STORED
);

CREATE TABLE reactions (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	infusion_id uuid GENERATED ALWAYS AS (ct_ref(record, 'infusion_id')) STORED
		REFERENCES infusions (id) DEFERRABLE INITIALLY DEFERRED,
	grade integer GENERATED ALWAYS AS ((record ->> 'grade')::integer) STORED,
	at timestamptz GENERATED ALWAYS AS (ct_time(record, 'at')) STORED,
	voided_at timestamptz GENERATED ALWAYS AS (ct_time(record, 'voided_at')) STORED
);

CREATE TABLE weight_confirmations (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	weight_id uuid GENERATED ALWAYS AS (ct_ref(record, 'weight_id')) STORED
		REFERENCES weights (id) DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE checkpoint_keys (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE,
	added timestamptz GENERATED ALWAYS AS (ct_time(record, 'added')) STORED,
	retired timestamptz GENERATED ALWAYS AS (ct_time(record, 'retired')) STORED
);

CREATE TABLE settings (
	k bytea PRIMARY KEY, record json NOT NULL,
	id uuid GENERATED ALWAYS AS (ct_id(k)) STORED UNIQUE
);

-- The audit trail and what hangs off it are append-only: store appends and
-- never rewrites them. A trigger refuses UPDATE, DELETE and TRUNCATE, so
-- even a DBA's ad-hoc edit fails (and an edit that bypasses the trigger
-- shows up as a failed `audit verify`). The engine's upsert rewrites a row
-- only when the value differs, so writing the same bytes again is a no-op.
CREATE TABLE audit_entries (
	k bytea PRIMARY KEY CHECK (length(k) = 8),
	seq bigint GENERATED ALWAYS AS (ct_seq(k)) STORED UNIQUE,
	entry bytea NOT NULL
);
CREATE TABLE audit_entity (
	k bytea PRIMARY KEY CHECK (length(k) = 24),
	entity_id uuid GENERATED ALWAYS AS (ct_id(substring(k FROM 1 FOR 16))) STORED,
	seq bigint GENERATED ALWAYS AS (ct_seq(substring(k FROM 17 FOR 8))) STORED,
	v bytea NOT NULL
);
CREATE INDEX audit_entity_seq ON audit_entity (seq);
CREATE TABLE audit_tree (
	k bytea PRIMARY KEY CHECK (length(k) = 8),
	idx bigint GENERATED ALWAYS AS (ct_seq(k)) STORED UNIQUE,
	hash bytea NOT NULL
);

CREATE FUNCTION ct_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'celltrack: % is append-only; % refused', TG_TABLE_NAME, TG_OP
		USING ERRCODE = 'insufficient_privilege',
		HINT = 'the audit trail is never changed; record a correction with celltrack instead';
END
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
	FOR EACH ROW EXECUTE FUNCTION ct_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
	FOR EACH STATEMENT EXECUTE FUNCTION ct_append_only();
CREATE TRIGGER audit_entity_append_only BEFORE UPDATE OR DELETE ON audit_entity
	FOR EACH ROW EXECUTE FUNCTION ct_append_only();
CREATE TRIGGER audit_entity_no_truncate BEFORE TRUNCATE ON audit_entity
	FOR EACH STATEMENT EXECUTE FUNCTION ct_append_only();
CREATE TRIGGER audit_tree_append_only BEFORE UPDATE OR DELETE ON audit_tree
	FOR EACH ROW EXECUTE FUNCTION ct_append_only();
CREATE TRIGGER audit_tree_no_truncate BEFORE TRUNCATE ON audit_tree
	FOR EACH STATEMENT EXECUTE FUNCTION ct_append_only();
