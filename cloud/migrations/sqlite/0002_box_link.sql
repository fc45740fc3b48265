-- The box link (control connection). Kept column for column in step with
-- ../postgres/0002_box_link.sql.

-- Every change of a site's directory (extensions, ring groups, DIDs, the site itself) bumps
-- its config_version; the box link pushes the new configuration to the site's boxes.
ALTER TABLE sites ADD COLUMN config_version INTEGER NOT NULL DEFAULT 1;

-- What a box last did with a pushed configuration, and its mode.
-- boot_uptime_secs / boot_survival_secs: the box's own since-boot counters at its last status
-- report, so that survival time is added once even across reconnects (a lower uptime = reboot).
ALTER TABLE boxes ADD COLUMN config_applied_version INTEGER;
ALTER TABLE boxes ADD COLUMN config_rejection TEXT;
ALTER TABLE boxes ADD COLUMN mode TEXT;
ALTER TABLE boxes ADD COLUMN boot_uptime_secs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE boxes ADD COLUMN boot_survival_secs INTEGER NOT NULL DEFAULT 0;
