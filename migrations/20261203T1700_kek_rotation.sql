-- KEK rotation: one row per rotation; while one is open, every key written must be wrapped
-- under its new KEK, so an instance that has not heard of the rotation yet cannot add a key
-- under the KEK about to be retired. It is refused with SQLSTATE VK001, which the vault answers
-- with a 503 (the instance loads the new KEK within a second; a retry succeeds).
CREATE TABLE kek_rotations (
  rotation_id       uuid PRIMARY KEY,
  to_kek            text NOT NULL,
  from_keks         text[] NOT NULL,
  started_at        timestamptz NOT NULL DEFAULT now(),
  started_by        text NOT NULL,
  keys_rewrapped    bigint NOT NULL DEFAULT 0,
  secrets_rewrapped bigint NOT NULL DEFAULT 0,
  finished_at       timestamptz
);
CREATE UNIQUE INDEX kek_rotations_one_open ON kek_rotations ((true)) WHERE finished_at IS NULL;

-- A destroyed key (wrapped_key NULL) keeps the KEK id it had: only a live one must be under the target.
CREATE FUNCTION rotation_target() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT to_kek FROM kek_rotations WHERE finished_at IS NULL
$$;

CREATE FUNCTION data_key_under_rotation_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.wrapped_key IS NOT NULL AND NEW.kek_id <> coalesce(rotation_target(), NEW.kek_id) THEN
    RAISE EXCEPTION 'a KEK rotation to % is running: wrap under it', rotation_target() USING ERRCODE = 'VK001';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER employee_data_keys_rotation_target BEFORE INSERT OR UPDATE ON employee_data_keys
  FOR EACH ROW EXECUTE FUNCTION data_key_under_rotation_target();

CREATE FUNCTION secret_under_rotation_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.kek_id <> coalesce(rotation_target(), NEW.kek_id) THEN
    RAISE EXCEPTION 'a KEK rotation to % is running: wrap under it', rotation_target() USING ERRCODE = 'VK001';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER vault_secrets_rotation_target BEFORE INSERT OR UPDATE ON vault_secrets
  FOR EACH ROW EXECUTE FUNCTION secret_under_rotation_target();

-- A lease's pseudonym secret is wrapped like a vault secret: it names its KEK, and a rotation
-- refuses a new one under any other (NULL only on leases from before rotation existed).
ALTER TABLE dataset_leases ADD COLUMN pseudonym_kek text;

CREATE FUNCTION lease_secret_under_rotation_target() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.pseudonym_kek IS DISTINCT FROM coalesce(rotation_target(), NEW.pseudonym_kek) THEN
    RAISE EXCEPTION 'a KEK rotation to % is running: wrap under it', rotation_target() USING ERRCODE = 'VK001';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER dataset_leases_rotation_target BEFORE INSERT OR UPDATE OF pseudonym_key, pseudonym_kek ON dataset_leases
  FOR EACH ROW EXECUTE FUNCTION lease_secret_under_rotation_target();
