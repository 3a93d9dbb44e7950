-- Operator-disabled devices, and the mailbox's quotas per sender.

-- Set by `x3dh-server device disable` (and `device delete`, which also sets deleted_at): the
-- device's requests are refused, its keys are not handed out, and only an enrolment with a new
-- enrolment token clears it (its identity key alone may be stolen).
ALTER TABLE users
  ADD COLUMN disabled_at timestamptz,
  -- Messages waiting from senders the recipient has never written to (mailbox_messages.from_stranger):
  -- kept by the same statements as queued_messages and queued_bytes, so that together they stay
  -- within their share of the mailbox and cannot crowd out the recipient's correspondents.
  ADD COLUMN stranger_messages integer NOT NULL DEFAULT 0,
  ADD COLUMN stranger_bytes bigint NOT NULL DEFAULT 0;

-- Queued while the recipient had never written to the sender. Messages queued before count as
-- from correspondents.
ALTER TABLE mailbox_messages ADD COLUMN from_stranger boolean NOT NULL DEFAULT false;

-- A send counts the sender's messages waiting in the recipient's mailbox (its quota).
CREATE INDEX mailbox_messages_sender ON mailbox_messages (recipient_id, sender_id);

-- Token buckets limiting sends per (sender, recipient). A row also records that the sender has
-- written to the recipient: the recipient's messages from it are then from a correspondent.
CREATE TABLE message_send_allowances (
  sender_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  tokens double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (sender_id, recipient_id)
);

-- Pairs with a message waiting have written to each other before: a full bucket each.
INSERT INTO message_send_allowances (sender_id, recipient_id, tokens, updated_at)
SELECT DISTINCT sender_id, recipient_id, 0, timestamptz 'epoch' FROM mailbox_messages;
