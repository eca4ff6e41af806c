-- Welcome mails through RabbitMQ (`serve --welcome-mail mq`).
--
-- mail_outbox: mq-reliable's transactional outbox (the schema
-- `Outbox::create_table` makes). A sign-up enqueues its welcome mail here
-- in the transaction that creates the account, so an account never exists
-- without its mail job; the auth service's relay publishes the rows. A table
-- of its own, so the auth service's relay publishes only mail jobs.
CREATE TABLE mail_outbox (
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
CREATE INDEX mail_outbox_pending ON mail_outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX mail_outbox_pending_key ON mail_outbox (key, seq) WHERE sent_at IS NULL;

-- mail_sent: mq-reliable's PostgreSQL inbox for the mail worker. The id of
-- a welcome mail's message (the account id) is recorded in a transaction
-- held open around the SMTP exchange and committed once the SMTP server
-- accepted the mail; a redelivered job finds it and is acknowledged without
-- a second mail.
CREATE TABLE mail_sent (
    message_id   TEXT        PRIMARY KEY,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
