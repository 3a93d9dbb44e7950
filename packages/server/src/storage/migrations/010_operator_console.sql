-- The operator console (served under /console): its login tokens and sessions, the audit log of
-- operator actions (console and command line), the replicas it shows, and what its fleet
-- overview pages through.

-- Login tokens printed by `x3dh-server console-token`: only a SHA-256 digest is kept, a token
-- logs in once and expires.
CREATE TABLE console_login_tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_digest bytea NOT NULL UNIQUE,
  operator text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX console_login_tokens_expiry ON console_login_tokens (expires_at);

-- Console sessions, by the SHA-256 digest of the session cookie; the CSRF token every
-- state-changing request of the session must carry.
CREATE TABLE console_sessions (
  session_digest bytea PRIMARY KEY,
  operator text NOT NULL,
  csrf_token text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- Who did what to which device or token, when, and how it ended.
CREATE TABLE operator_audit_log (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text,
  detail text
);
CREATE INDEX operator_audit_log_target ON operator_audit_log (target, id);

-- Replicas announce themselves while they run, so that the console can count them.
CREATE TABLE server_replicas (
  client_id text PRIMARY KEY,
  started_at timestamptz NOT NULL,
  seen_at timestamptz NOT NULL
);

-- When a device's request was last served (written in batches, so at most a minute behind).
ALTER TABLE users ADD COLUMN last_seen_at timestamptz;

-- The overview pages through devices by name, byte order, and searches by prefix on the same index.
CREATE INDEX users_name_bytes ON users ((username COLLATE "C"));
