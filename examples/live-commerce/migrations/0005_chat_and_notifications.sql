-- Live chat's archive and each user's notifications.

-- Every chat message, written from Kafka by the worker (chat-fanout's
-- PgArchive). One row per (room, epoch, offset): a message produced or
-- consumed twice is still one row. Resuming clients read pages of it by
-- that key.
CREATE TABLE chat_archive (
    room        TEXT        NOT NULL,
    epoch       TEXT        NOT NULL,
    "offset"    BIGINT      NOT NULL,
    payload     JSONB       NOT NULL,
    archived_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (room, epoch, "offset")
);

-- What happened that a user should know: order confirmed or expired, a
-- mention in a chat room, a price drop on an item they ordered. An event
-- has a key that names it (`order-confirmed:<order id>`), so recording it
-- twice (a redelivered message, a retried transaction) is one row.
CREATE TABLE notifications (
    id           UUID        PRIMARY KEY,
    user_id      UUID        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    event_key    TEXT        NOT NULL CHECK (length(event_key) <= 200),
    kind         TEXT        NOT NULL,
    payload      JSONB       NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    read_at      TIMESTAMPTZ,
    -- Set by the chat instance that sent it live (exactly one does).
    delivered_at TIMESTAMPTZ,
    UNIQUE (user_id, event_key)
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at DESC, id);
CREATE INDEX notifications_undelivered ON notifications (created_at) WHERE delivered_at IS NULL;
