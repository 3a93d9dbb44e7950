-- A bundle fetch hands out the target's oldest one-time prekey (lowest id). Without an index in
-- that order, PostgreSQL may walk the primary key of every device's prekeys to find the first one
-- of the target, or to find that it has none left: a scan of the whole table per fetch.
CREATE INDEX one_time_prekeys_handout ON one_time_prekeys (user_id, id);
