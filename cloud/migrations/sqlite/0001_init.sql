-- Carillon cloud schema, SQLite flavour. Kept column for column in step with
-- ../postgres/0001_init.sql: same names, same meaning; only the types differ.
-- Times are UTC Unix seconds (INTEGER); money is integer micro-units of the currency.

CREATE TABLE organising_bodies (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

-- API tokens of an organising body: only the SHA-256 of the token is kept.
CREATE TABLE body_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    body_id     INTEGER NOT NULL REFERENCES organising_bodies(id) ON DELETE CASCADE,
    label       TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

-- A school or the central office.
CREATE TABLE sites (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    body_id     INTEGER NOT NULL REFERENCES organising_bodies(id),
    name        TEXT    NOT NULL,
    code        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL CHECK (kind IN ('school', 'central_office')),
    created_at  INTEGER NOT NULL
);

-- SIP credentials are kept only as digest HA1 values (RFC 2617 MD5, RFC 7616 SHA-256).
CREATE TABLE extensions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id       INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    number        TEXT    NOT NULL,
    sip_username  TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    ha1_md5       TEXT    NOT NULL,
    ha1_sha256    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (site_id, number)
);

CREATE TABLE ring_groups (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id       INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    number        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    timeout_secs  INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (site_id, number)
);

CREATE TABLE ring_group_members (
    ring_group_id  INTEGER NOT NULL REFERENCES ring_groups(id) ON DELETE CASCADE,
    extension_id   INTEGER NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    position       INTEGER NOT NULL,
    PRIMARY KEY (ring_group_id, extension_id)
);

-- A public number routed to one extension or one ring group of a site.
CREATE TABLE dids (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    number         TEXT    NOT NULL UNIQUE,
    site_id        INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    extension_id   INTEGER REFERENCES extensions(id),
    ring_group_id  INTEGER REFERENCES ring_groups(id),
    created_at     INTEGER NOT NULL,
    CHECK ((extension_id IS NULL) <> (ring_group_id IS NULL))
);

-- The box of a site. Enrollment token and long-term credential: SHA-256 only.
-- acked_seq: the highest box sequence number up to which every call record is stored.
CREATE TABLE boxes (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id            INTEGER NOT NULL REFERENCES sites(id),
    name               TEXT    NOT NULL,
    enroll_token_hash  TEXT    UNIQUE,
    enroll_expires_at  INTEGER,
    credential_hash    TEXT,
    enrolled_at        INTEGER,
    online             INTEGER NOT NULL DEFAULT 0,
    last_seen_at       INTEGER,
    survival_secs      INTEGER NOT NULL DEFAULT 0,
    firmware_version   TEXT,
    acked_seq          INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL
);

-- One row per destination class; price per second in micro-units.
CREATE TABLE tariffs (
    class                 TEXT    PRIMARY KEY,
    price_micros_per_sec  INTEGER NOT NULL,
    min_secs              INTEGER NOT NULL,
    increment_secs        INTEGER NOT NULL
);
INSERT INTO tariffs (class, price_micros_per_sec, min_secs, increment_secs) VALUES
    ('on_net', 0, 0, 1),
    ('emergency', 0, 0, 1),
    ('national_fixed', 0, 0, 1),
    ('national_mobile', 0, 0, 1),
    ('international', 0, 0, 1),
    ('inbound', 0, 0, 1);

-- Records are never deleted: sites and boxes with records cannot be deleted either.
CREATE TABLE call_records (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id        INTEGER NOT NULL REFERENCES sites(id),
    box_id         INTEGER REFERENCES boxes(id),
    box_seq        INTEGER,
    caller         TEXT    NOT NULL,
    callee         TEXT    NOT NULL,
    class          TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    answered_at    INTEGER,
    ended_at       INTEGER NOT NULL,
    duration_secs  INTEGER NOT NULL,
    billed_secs    INTEGER NOT NULL,
    outcome        TEXT    NOT NULL,
    cost_micros    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    UNIQUE (box_id, box_seq),
    CHECK ((box_id IS NULL) = (box_seq IS NULL))
);
CREATE INDEX call_records_site_start ON call_records (site_id, started_at, id);
CREATE INDEX call_records_start ON call_records (started_at, id);
