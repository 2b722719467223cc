-- A small messaging platform's own tables, as the gateway's sql subject source reads them
-- (mapping.postgresql.toml). The gateway only ever reads these, in read-only transactions.
-- Foreign keys and indexes come after the tables, so fill.py can load the rows first and build
-- them once at the end, as a bulk load does; a platform created this way has them all the same.
CREATE TABLE accounts (
    id         text PRIMARY KEY,
    username   text NOT NULL,
    phone      text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE username_changes (
    account_id  text NOT NULL,
    username    text NOT NULL,
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz
);

CREATE TABLE devices (
    account_id  text NOT NULL,
    model       text NOT NULL,
    platform    text NOT NULL,
    app         text NOT NULL,
    app_version text NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);

-- IP sessions are most of the rows and are kept "for a short period": one partition a month, so the
-- platform's retention drops a month with DROP TABLE instead of deleting rows, and a read for a
-- window skips the months that begin after it. A platform creates next month's partition ahead
-- (a scheduled job): a session outside every partition is refused. There is no default partition:
-- a read could not skip it, as it may hold any month.
CREATE TABLE ip_sessions (
    account_id text NOT NULL,
    ip         inet NOT NULL,
    port       integer,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
) PARTITION BY RANGE (first_seen);
CREATE TABLE ip_sessions_2026_01 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-02-01 00:00+00');
CREATE TABLE ip_sessions_2026_02 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-02-01 00:00+00') TO ('2026-03-01 00:00+00');
CREATE TABLE ip_sessions_2026_03 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-03-01 00:00+00') TO ('2026-04-01 00:00+00');
CREATE TABLE ip_sessions_2026_04 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-04-01 00:00+00') TO ('2026-05-01 00:00+00');
CREATE TABLE ip_sessions_2026_05 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-05-01 00:00+00') TO ('2026-06-01 00:00+00');
CREATE TABLE ip_sessions_2026_06 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-06-01 00:00+00') TO ('2026-07-01 00:00+00');
CREATE TABLE ip_sessions_2026_07 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-07-01 00:00+00') TO ('2026-08-01 00:00+00');
CREATE TABLE ip_sessions_2026_08 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-08-01 00:00+00') TO ('2026-09-01 00:00+00');
CREATE TABLE ip_sessions_2026_09 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-09-01 00:00+00') TO ('2026-10-01 00:00+00');
CREATE TABLE ip_sessions_2026_10 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-10-01 00:00+00') TO ('2026-11-01 00:00+00');
CREATE TABLE ip_sessions_2026_11 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-11-01 00:00+00') TO ('2026-12-01 00:00+00');
CREATE TABLE ip_sessions_2026_12 PARTITION OF ip_sessions
    FOR VALUES FROM ('2026-12-01 00:00+00') TO ('2027-01-01 00:00+00');
CREATE TABLE ip_sessions_2027_01 PARTITION OF ip_sessions
    FOR VALUES FROM ('2027-01-01 00:00+00') TO ('2027-02-01 00:00+00');
CREATE TABLE ip_sessions_2027_02 PARTITION OF ip_sessions
    FOR VALUES FROM ('2027-02-01 00:00+00') TO ('2027-03-01 00:00+00');
CREATE TABLE ip_sessions_2027_03 PARTITION OF ip_sessions
    FOR VALUES FROM ('2027-03-01 00:00+00') TO ('2027-04-01 00:00+00');
CREATE TABLE ip_sessions_2027_04 PARTITION OF ip_sessions
    FOR VALUES FROM ('2027-04-01 00:00+00') TO ('2027-05-01 00:00+00');
CREATE TABLE ip_sessions_2027_05 PARTITION OF ip_sessions
    FOR VALUES FROM ('2027-05-01 00:00+00') TO ('2027-06-01 00:00+00');
CREATE TABLE ip_sessions_2027_06 PARTITION OF ip_sessions
    FOR VALUES FROM ('2027-06-01 00:00+00') TO ('2027-07-01 00:00+00');

-- An index made on the partitioned table is made on each partition (and on every one added later).
CREATE UNIQUE INDEX accounts_phone ON accounts (phone);
CREATE UNIQUE INDEX accounts_username_lower ON accounts (lower(username));
CREATE INDEX username_changes_account ON username_changes (account_id, valid_from);
CREATE INDEX devices_account ON devices (account_id, first_seen);
CREATE INDEX ip_sessions_account ON ip_sessions (account_id, first_seen);
-- Who used this address then: the platform's own abuse desk asks that, the gateway never does.
CREATE INDEX ip_sessions_ip ON ip_sessions (ip, first_seen);

ALTER TABLE username_changes ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE devices ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
ALTER TABLE ip_sessions ADD FOREIGN KEY (account_id) REFERENCES accounts (id);
