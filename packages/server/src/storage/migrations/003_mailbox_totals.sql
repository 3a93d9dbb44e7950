-- Each recipient's queued messages and envelope bytes, kept by the statements that queue,
-- acknowledge, expire and delete messages: a send checks the mailbox limits on this row, whose
-- update waits for concurrent sends to the same recipient and then sees their totals, so the
-- check and the insert are one statement.

ALTER TABLE users
  ADD COLUMN queued_messages integer NOT NULL DEFAULT 0,
  ADD COLUMN queued_bytes bigint NOT NULL DEFAULT 0;

UPDATE users u SET queued_messages = m.messages, queued_bytes = m.bytes
FROM (
  SELECT recipient_id, count(*) AS messages, sum(octet_length(envelope)) AS bytes FROM mailbox_messages GROUP BY recipient_id
) m
WHERE u.id = m.recipient_id;
