-- Directory: one row per registered device name, with its identity key and current signed prekey.
CREATE TABLE users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username text NOT NULL UNIQUE,
  identity_key bytea NOT NULL,
  signed_prekey bytea,
  signed_prekey_signature bytea,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One-time prekeys: each row is handed out at most once (claimed by DELETE ... RETURNING).
CREATE TABLE one_time_prekeys (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key_id integer NOT NULL,
  public_key bytea NOT NULL,
  UNIQUE (user_id, key_id)
);

-- Pending X3DH initial messages, a queue per recipient (oldest first by id).
CREATE TABLE initial_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  sender text NOT NULL,
  identity_key bytea NOT NULL,
  ephemeral_key bytea NOT NULL,
  one_time_prekey_id integer NOT NULL,
  ciphertext bytea NOT NULL,
  associated_data bytea NOT NULL,
  nonce bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX initial_messages_recipient ON initial_messages (recipient_id, id);

-- Pending chat messages per (recipient, sender), in order of id.
CREATE TABLE chat_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  sender text NOT NULL,
  ciphertext bytea NOT NULL,
  nonce bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_conversation ON chat_messages (recipient_id, sender, id);

-- Requests already processed, with the reply sent, so that a redelivered request is answered
-- again instead of being processed twice. Written in the same transaction as the request's effect.
CREATE TABLE processed_requests (
  digest text PRIMARY KEY,
  reply text NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_requests_age ON processed_requests (processed_at);
