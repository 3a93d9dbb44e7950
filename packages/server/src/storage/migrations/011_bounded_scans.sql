-- Indexes that keep the periodic and listing statements bounded as the fleet grows (100,000
-- devices and more): each reads a page or a batch through an index instead of a whole table.

-- directory.list pages through the v2 devices it lists in name order (keyset pagination): the
-- partial index holds only those rows, so a page reads its names and stops.
CREATE INDEX users_v2_directory ON users (username)
  WHERE wire_protocol = 2 AND deleted_at IS NULL AND disabled_at IS NULL;

-- A deleted device's allowances are forgotten as target and as recipient too (forgetCorrespondence);
-- the primary keys lead with the requester and the sender, so without these the delete of one
-- device read every allowance of the fleet.
CREATE INDEX bundle_fetch_allowances_target ON bundle_fetch_allowances (target_id);
CREATE INDEX message_send_allowances_recipient ON message_send_allowances (recipient_id);
