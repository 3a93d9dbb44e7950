-- Identity certificates: the operator's signature over (device, identity key, epoch, deployment id),
-- handed out with every bundle and directory answer (docs/protocol-v2.md section 6.11).

ALTER TABLE users
  -- 1 at enrolment, one more at every change of the identity key: devices refuse an epoch below the
  -- one they pinned, and take a higher one as a rotation the operator approved.
  ADD COLUMN identity_epoch bigint NOT NULL DEFAULT 1,
  -- The certificate of (username, identity_key, identity_epoch), and who issued it: the deployment id
  -- and operator public key it was made under ("<deployment>/<base64url key>"). A certificate of
  -- another issuer, or none (a device enrolled before certificates, an identity set by the operator),
  -- is issued again when the device is next handed out.
  ADD COLUMN identity_certificate bytea,
  ADD COLUMN certificate_issuer text;

-- The deployment the servers on this store serve: written by every server at start, read by the
-- operator commands that print it next to an enrolment token (one row).
CREATE TABLE deployment (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  deployment_id text NOT NULL,
  operator_public_key bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
