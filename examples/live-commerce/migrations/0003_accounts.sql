-- Accounts of the live-commerce example: one row per person who signed up.

CREATE TABLE accounts (
    id             UUID        PRIMARY KEY,
    -- Trimmed and lower-cased at sign-up, so `Ann@Example.com` and
    -- `ann@example.com` are one account.
    email          TEXT        NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254),
    -- The argon2id PHC string (algorithm, parameters, salt and hash).
    password_hash  TEXT        NOT NULL,
    -- Granted by `live-commerce users grant-admin EMAIL`, never over HTTP.
    admin          BOOLEAN     NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
