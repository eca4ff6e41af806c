-- Catalog, stock and orders of the live-commerce example.

CREATE TABLE items (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT        NOT NULL,
    kind        TEXT        NOT NULL CHECK (kind IN ('GENERAL', 'TIME_DEAL')),
    price       BIGINT      NOT NULL CHECK (price >= 0),
    -- Units left. Never negative: a strategy that would oversell through a
    -- decrement fails instead (the `none` strategy overwrites it, which is
    -- how its race shows).
    stock       INTEGER     NOT NULL CHECK (stock >= 0),
    -- Bumped by every optimistic-lock update.
    version     BIGINT      NOT NULL DEFAULT 0,
    -- When a TIME_DEAL opens; NULL for GENERAL items.
    start_at    TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id          UUID        PRIMARY KEY,
    item_id     BIGINT      NOT NULL REFERENCES items (id),
    user_id     TEXT        NOT NULL,
    count       INTEGER     NOT NULL CHECK (count BETWEEN 1 AND 10),
    status      TEXT        NOT NULL CHECK (status IN ('PENDING', 'CONFIRMED', 'FAILED')),
    strategy    TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX orders_by_item ON orders (item_id);

-- Message ids the worker has applied (mq-reliable's PostgreSQL inbox).
CREATE TABLE inbox (
    message_id   TEXT        PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
