-- A small messaging platform's own tables, as the gateway's sql subject source reads them
-- (mapping.postgresql.toml). The gateway only ever reads these, in read-only transactions.
CREATE TABLE accounts (
    id         text PRIMARY KEY,
    username   text NOT NULL,
    phone      text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX accounts_phone ON accounts (phone);
CREATE UNIQUE INDEX accounts_username_lower ON accounts (lower(username));

CREATE TABLE username_changes (
    account_id  text NOT NULL REFERENCES accounts (id),
    username    text NOT NULL,
    valid_from  timestamptz NOT NULL,
    valid_until timestamptz
);
CREATE INDEX username_changes_account ON username_changes (account_id, valid_from);

CREATE TABLE devices (
    account_id  text NOT NULL REFERENCES accounts (id),
    model       text NOT NULL,
    platform    text NOT NULL,
    app         text NOT NULL,
    app_version text NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE INDEX devices_account ON devices (account_id, first_seen);

CREATE TABLE ip_sessions (
    account_id text NOT NULL REFERENCES accounts (id),
    ip         inet NOT NULL,
    port       integer,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL
);
CREATE INDEX ip_sessions_account ON ip_sessions (account_id, first_seen);
