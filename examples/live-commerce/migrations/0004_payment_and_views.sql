-- Order entry, then payment: an order waits PENDING_PAYMENT until it is
-- paid (CONFIRMED) or its payment window ends (EXPIRED, its units back on
-- sale). FAILED stays for a lua-mq order the database stock could not cover.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
UPDATE orders SET status = 'FAILED' WHERE status = 'PENDING';
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('PENDING_PAYMENT', 'CONFIRMED', 'EXPIRED', 'FAILED'));

ALTER TABLE orders
    -- The end of the payment window (NULL only for rows older than it).
    ADD COLUMN expires_at  TIMESTAMPTZ,
    ADD COLUMN paid_at     TIMESTAMPTZ,
    -- The Idempotency-Key of the payment that confirmed it: the same key
    -- again is the same payment, another key a second one (refused).
    ADD COLUMN payment_key TEXT CHECK (length(payment_key) BETWEEN 1 AND 128),
    ADD COLUMN expired_at  TIMESTAMPTZ,
    -- The item's price when the order was placed, as the catalog said.
    ADD COLUMN unit_price  BIGINT CHECK (unit_price >= 0);

CREATE INDEX orders_by_user ON orders (user_id, created_at DESC);

-- Views of an item page, counted durably; the Redis ranking follows each
-- committed count (and never a rolled-back one).
ALTER TABLE items ADD COLUMN view_count BIGINT NOT NULL DEFAULT 0;

-- mq-reliable's transactional outbox (the schema `Outbox::create_table`
-- makes): expiry messages are enqueued in the transaction that creates the
-- order, and lua-mq orders land here while RabbitMQ is unreachable.
CREATE TABLE mq_outbox (
    seq         BIGSERIAL   PRIMARY KEY,
    id          UUID        NOT NULL UNIQUE,
    destination TEXT        NOT NULL,
    key         TEXT        NOT NULL,
    payload     BYTEA       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ,
    attempts    INTEGER     NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX mq_outbox_pending ON mq_outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX mq_outbox_pending_key ON mq_outbox (key, seq) WHERE sent_at IS NULL;
