-- Wire protocol v2 (docs/protocol-v2.md): prekey ids and high-water marks, soft deletion,
-- enrolment tokens, request ids seen, bundle-fetch allowances and the acknowledged mailbox.

ALTER TABLE users
  ADD COLUMN signed_prekey_id integer,
  ADD COLUMN signed_prekey_uploaded_at timestamptz,
  -- Highest ids ever uploaded: a new upload must go above them, so no id is ever reused.
  ADD COLUMN max_signed_prekey_id integer,
  ADD COLUMN max_one_time_prekey_id integer,
  -- A deleted device keeps its row so that its name stays reserved for its identity key.
  ADD COLUMN deleted_at timestamptz;

-- Single-use enrolment tokens. Only a SHA-256 digest is stored; the token is shown once when issued.
CREATE TABLE enrolment_tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_digest bytea NOT NULL UNIQUE,
  -- When set, only this device name may enrol with the token.
  device text,
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  used_at timestamptz,
  used_by text,
  revoked_at timestamptz
);

-- Request ids seen per device, with a digest of the signed request, kept for twice the allowed
-- clock skew: the same id with a different request is a replay. reply_digest names the request's
-- entry in processed_requests, so that the same signed request sent again gets its first reply.
CREATE TABLE request_ids (
  device text NOT NULL,
  request_id bytea NOT NULL,
  signed_digest bytea NOT NULL,
  reply_digest text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, request_id)
);
CREATE INDEX request_ids_age ON request_ids (received_at);

-- Token buckets limiting bundle fetches per (requester, target).
CREATE TABLE bundle_fetch_allowances (
  requester_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  target_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (requester_id, target_id)
);

-- Messages waiting per recipient until acknowledged, oldest first by id.
CREATE TABLE mailbox_messages (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  sender_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id bytea NOT NULL,
  type text NOT NULL,
  envelope bytea NOT NULL,
  queued_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX mailbox_messages_recipient ON mailbox_messages (recipient_id, id);
CREATE INDEX mailbox_messages_expiry ON mailbox_messages (expires_at);

-- Sends by client message id, kept after the message is acknowledged (until it would have
-- expired), so that a resent send is answered with its first result instead of queued again.
CREATE TABLE sent_messages (
  sender_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client_id bytea NOT NULL,
  message_id bigint NOT NULL,
  queued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (sender_id, client_id)
);
CREATE INDEX sent_messages_expiry ON sent_messages (expires_at);
