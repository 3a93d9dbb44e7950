-- Enrolment tokens are named on the wire by their id, SHA-256("x3dh-iot/v2/enrolment-token-id" ||
-- 0x00 || token_digest), never by the token: derived here from the stored digest, so tokens issued
-- before keep working and the token itself is still never stored.
ALTER TABLE enrolment_tokens ADD COLUMN token_id bytea
  GENERATED ALWAYS AS (sha256('\x783364682d696f742f76322f656e726f6c6d656e742d746f6b656e2d696400'::bytea || token_digest)) STORED;
CREATE UNIQUE INDEX enrolment_tokens_token_id ON enrolment_tokens (token_id);

-- One-time prekeys handed out by v2 bundle fetches, and when (by the database's clock), until the
-- device has deleted their private keys (prekeys.status forget_handed_out_through) or the records
-- are older than twice the mailbox retention period.
CREATE TABLE one_time_prekey_handouts (
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key_id integer NOT NULL,
  handed_out_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, key_id)
);
CREATE INDEX one_time_prekey_handouts_age ON one_time_prekey_handouts (handed_out_at);
