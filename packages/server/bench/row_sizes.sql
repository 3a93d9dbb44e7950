-- Bytes per row, indexes included, of the tables that grow with traffic (not a test; docs/capacity.md).
-- On an empty migrated database, e.g. one made by
--   createdb -h 127.0.0.1 -U postgres x3dh_rowsize
--   cat packages/server/src/storage/migrations/0*.sql | psql -q -h 127.0.0.1 -U postgres x3dh_rowsize
--   psql -h 127.0.0.1 -U postgres x3dh_rowsize -f packages/server/bench/row_sizes.sql
-- 100,000 rows each: messages with 256-byte envelopes, their send records, v2 request ids,
-- processed-request records with a message.send reply, and rate allowances.
INSERT INTO users (username, identity_key) SELECT 'd' || g, sha256(int4send(g)) FROM generate_series(1, 1000) g;
INSERT INTO mailbox_messages (recipient_id, sender_id, client_id, type, envelope, expires_at)
  SELECT 1 + g % 1000, 1 + (g * 7) % 1000, substr(sha256(int4send(g)), 1, 16), 'session',
    sha256(int4send(g)) || sha256(int4send(-g)) || sha256(int4send(g + 1)) || sha256(int4send(g + 2))
      || sha256(int4send(g + 3)) || sha256(int4send(g + 4)) || sha256(int4send(g + 5)) || sha256(int4send(g + 6)),
    now() + interval '14 days'
  FROM generate_series(1, 100000) g;
INSERT INTO sent_messages (sender_id, client_id, message_id, queued_at, expires_at)
  SELECT 1 + g % 1000, substr(sha256(int4send(g)), 1, 16), g, now(), now() + interval '14 days' FROM generate_series(1, 100000) g;
INSERT INTO request_ids (device, request_id, signed_digest, reply_digest)
  SELECT 'device-' || g % 1000, substr(sha256(int4send(g)), 1, 16), sha256(int4send(-g)), 'v2:' || encode(sha256(int4send(g)), 'hex')
  FROM generate_series(1, 100000) g;
INSERT INTO processed_requests (digest, reply)
  SELECT 'v2:' || encode(sha256(int4send(g)), 'hex'), '{"ok":true,"result":{"message_id":"' || g || '","queued_at":1764790000000}}'
  FROM generate_series(1, 100000) g;
INSERT INTO message_send_allowances (sender_id, recipient_id, tokens, updated_at)
  SELECT 1 + g % 1000, 1 + (g / 1000) % 1000, 1, now() FROM generate_series(0, 99999) g;
INSERT INTO bundle_fetch_allowances (requester_id, target_id, tokens, updated_at)
  SELECT 1 + g % 1000, 1 + (g / 1000) % 1000, 1, now() FROM generate_series(0, 99999) g;
VACUUM ANALYZE;
SELECT relname AS "table", pg_total_relation_size(oid) / 100000 AS bytes_per_row
FROM pg_class WHERE relname IN ('mailbox_messages', 'sent_messages', 'request_ids', 'processed_requests',
  'message_send_allowances', 'bundle_fetch_allowances')
ORDER BY 2 DESC;
