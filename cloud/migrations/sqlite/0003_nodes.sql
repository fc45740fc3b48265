-- Several cloud nodes on one database: which node holds which registrations and boxes.
-- Kept column for column in step with ../postgres/0003_nodes.sql.

-- Every node's lease: written at start and renewed by a heartbeat; a node whose lease has
-- run out (it died, or lost the database) is not routed to, whatever its presence rows say.
CREATE TABLE nodes (
    node_id     TEXT PRIMARY KEY,
    sip_addr    TEXT NOT NULL,               -- where the other nodes send it SIP (TCP)
    lease_until INTEGER NOT NULL               -- UTC Unix seconds
);

-- The registry: an extension (SIP username) has live bindings in that node's location
-- service (a phone registered there, directly or through its box's flow, or bindings a box
-- handed back there). expires_at is the latest of those bindings' expiries.
CREATE TABLE presence (
    username    TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (username, node_id)
);
CREATE INDEX presence_node ON presence (node_id);

-- The node whose box link holds a box's control connection now (written when the box
-- authenticates, removed when that connection ends); valid only under the node's lease.
CREATE TABLE box_attachments (
    box_id      INTEGER PRIMARY KEY REFERENCES boxes (id) ON DELETE CASCADE,
    node_id     TEXT NOT NULL,
    attached_at INTEGER NOT NULL
);
