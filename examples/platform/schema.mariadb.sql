-- The platform of schema.postgresql.sql on MariaDB/MySQL (mapping.mariadb.toml). Times are UTC DATETIMEs.
CREATE TABLE accounts (
    id         VARCHAR(64) PRIMARY KEY,
    username   VARCHAR(64) NOT NULL,
    phone      VARCHAR(20) NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY accounts_phone (phone),
    UNIQUE KEY accounts_username (username)
) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

CREATE TABLE username_changes (
    account_id  VARCHAR(64) NOT NULL,
    username    VARCHAR(64) NOT NULL,
    valid_from  DATETIME(6) NOT NULL,
    valid_until DATETIME(6) NULL,
    KEY username_changes_account (account_id, valid_from)
) CHARACTER SET utf8mb4;

CREATE TABLE devices (
    account_id  VARCHAR(64) NOT NULL,
    model       VARCHAR(200) NOT NULL,
    platform    VARCHAR(200) NOT NULL,
    app         VARCHAR(200) NOT NULL,
    app_version VARCHAR(200) NOT NULL,
    first_seen  DATETIME(6) NOT NULL,
    last_seen   DATETIME(6) NOT NULL,
    KEY devices_account (account_id, first_seen)
) CHARACTER SET utf8mb4;

CREATE TABLE ip_sessions (
    account_id VARCHAR(64) NOT NULL,
    ip         VARCHAR(45) NOT NULL,
    port       INT NULL,
    first_seen DATETIME(6) NOT NULL,
    last_seen  DATETIME(6) NOT NULL,
    KEY ip_sessions_account (account_id, first_seen)
) CHARACTER SET utf8mb4;
