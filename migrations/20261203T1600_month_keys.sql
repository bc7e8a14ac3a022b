-- Data keys per employee and calendar month, sealed under month keys from a ratchet kept outside
-- the database (src/crypto/month-keys.ts). Keys from before (key_month NULL) keep working.
ALTER TABLE employee_data_keys ADD COLUMN key_month text
  CHECK (key_month IS NULL OR key_month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$');

-- One live key per employee and month; many destroyed ones may share it (erasure, then re-enrolment).
CREATE UNIQUE INDEX employee_data_keys_live_month ON employee_data_keys (employee_id, key_month)
  WHERE wrapped_key IS NOT NULL AND key_month IS NOT NULL;
CREATE INDEX employee_data_keys_month ON employee_data_keys (key_month) WHERE wrapped_key IS NOT NULL;
CREATE INDEX employee_data_keys_kek ON employee_data_keys (kek_id) WHERE wrapped_key IS NOT NULL;

-- Where the month ratchet starts and a check value of it (never its seed): months before `base`
-- have expired for every kind and their keys can no longer be derived.
CREATE TABLE month_ratchet_anchor (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  base        text NOT NULL CHECK (base ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  check_value text NOT NULL,
  moved_at    timestamptz NOT NULL DEFAULT now()
);

-- No data key is created for a month that has expired, whichever instance asks.
CREATE FUNCTION data_keys_not_expired() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.key_month IS NOT NULL AND NEW.key_month < (SELECT base FROM month_ratchet_anchor) THEN
    RAISE EXCEPTION 'the keys of % were destroyed when it expired', NEW.key_month USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;
CREATE TRIGGER employee_data_keys_not_expired BEFORE INSERT ON employee_data_keys
  FOR EACH ROW EXECUTE FUNCTION data_keys_not_expired();
