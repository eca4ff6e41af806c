-- The newest redlock fencing token that touched an item's stock row (the
-- `redis-lock` strategy raises it first in every transaction, so a buyer
-- whose lock lease ran out while it was paused cannot write stale stock).
ALTER TABLE items ADD COLUMN fence BIGINT NOT NULL DEFAULT 0;
