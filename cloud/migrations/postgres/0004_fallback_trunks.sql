-- A school's fallback trunk: a local SIP trunk (e.g. an analogue gateway on the school's LAN)
-- that its box sends emergency calls to while in survival. Pushed to the box in its
-- configuration. Kept column for column in step with ../sqlite/0004_fallback_trunks.sql.
-- The password is kept in clear, on purpose: the box needs it to answer the trunk's digest
-- challenge (it is never shown by the API after it is set).
CREATE TABLE fallback_trunks (
    site_id     BIGINT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
    host        TEXT    NOT NULL,            -- IP literal: the box resolves no names in survival
    port        BIGINT NOT NULL CHECK (port BETWEEN 1 AND 65535),
    username    TEXT,                        -- both or neither
    password    TEXT,
    updated_at  BIGINT NOT NULL
);
