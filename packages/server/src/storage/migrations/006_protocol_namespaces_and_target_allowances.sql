-- v1 and v2 devices are separate namespaces: a name belongs to one protocol, and no request of
-- the other protocol reads, changes or hands out anything of it (v1 requests are unauthenticated
-- and must never reach a v2 device's keys or mailbox). Names stay unique across both.
ALTER TABLE users
  ADD COLUMN wire_protocol smallint NOT NULL DEFAULT 2 CHECK (wire_protocol IN (1, 2));

-- Existing rows: v1 only with traces of v1 (a bundle or messages of the v1 tables) and none of v2.
-- A row with neither (an identity and nothing else) stays v2, the namespace no v1 request reaches:
-- a v1 device in that state registers again under a renamed name and has lost nothing.
UPDATE users u SET wire_protocol = 1
WHERE u.deleted_at IS NULL AND u.signed_prekey_id IS NULL AND u.max_signed_prekey_id IS NULL
  AND u.max_one_time_prekey_id IS NULL
  AND (u.signed_prekey IS NOT NULL
    OR EXISTS (SELECT 1 FROM one_time_prekeys o WHERE o.user_id = u.id)
    OR EXISTS (SELECT 1 FROM initial_messages m WHERE m.recipient_id = u.id)
    OR EXISTS (SELECT 1 FROM chat_messages c WHERE c.recipient_id = u.id))
  AND NOT EXISTS (SELECT 1 FROM mailbox_messages m WHERE m.recipient_id = u.id OR m.sender_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM sent_messages s WHERE s.sender_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM bundle_fetch_allowances a WHERE a.requester_id = u.id)
  AND NOT EXISTS (SELECT 1 FROM request_ids r WHERE r.device = u.username)
  AND NOT EXISTS (SELECT 1 FROM enrolment_tokens t WHERE t.used_by = u.username);

-- Token buckets limiting the one-time prekeys handed out per target, whoever asks (v1 and v2):
-- beside the per-(requester, target) buckets, they bound what many requesters together can drain.
CREATE TABLE prekey_handout_allowances (
  target_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL
);
