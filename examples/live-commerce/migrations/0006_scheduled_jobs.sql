-- Scheduled jobs that run once across instances, and the daily sales they
-- compute.

-- One row per tick of a job: the tick is the schedule's time (not the
-- clock of whichever instance fired), so every instance names the same run.
-- A tick is done exactly once: the job's writes commit in the transaction
-- that turns its row to 'done', guarded by its attempt number.
CREATE TABLE job_runs (
    job          TEXT        NOT NULL,
    tick         TIMESTAMPTZ NOT NULL,
    status       TEXT        NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    -- Times the job was started for this tick (1 unless a runner died,
    -- lost its lease or failed, and another instance took over).
    attempts     INTEGER     NOT NULL CHECK (attempts >= 1),
    -- The instance of the latest attempt (`pid:random`).
    runner       TEXT        NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ,
    last_error   TEXT,
    PRIMARY KEY (job, tick)
);

-- Ticks left unfinished (a runner that died), for the instances that look
-- for them.
CREATE INDEX job_runs_unfinished ON job_runs (job, tick) WHERE status <> 'done';

-- Sales per item per day (UTC), from CONFIRMED orders, by the day they were
-- paid. Recomputed, not accumulated: a run replaces the day's figures.
CREATE TABLE daily_item_sales (
    day          DATE        NOT NULL,
    item_id      BIGINT      NOT NULL REFERENCES items (id),
    orders       BIGINT      NOT NULL CHECK (orders >= 0),
    units        BIGINT      NOT NULL CHECK (units >= 0),
    -- Units times the unit price recorded with each order (orders placed
    -- before prices were recorded count 0).
    revenue      BIGINT      NOT NULL CHECK (revenue >= 0),
    computed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (day, item_id)
);

-- The statistics job reads one day of confirmed orders at a time.
CREATE INDEX orders_confirmed_by_sale_time ON orders ((coalesce(paid_at, created_at)))
    WHERE status = 'CONFIRMED';
