-- vigie embedded store, first schema. Every record carries its workspace (tenant) id.
-- Times are epoch milliseconds (UTC); geometries are WKB in WGS84 longitude/latitude.

CREATE TABLE workspaces (
    id          TEXT PRIMARY KEY NOT NULL,
    title       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE venues (
    workspace         TEXT NOT NULL REFERENCES workspaces(id),
    code              TEXT NOT NULL,
    name              TEXT NOT NULL,
    kind              TEXT NOT NULL,
    city              TEXT NOT NULL,
    lon               REAL NOT NULL CHECK (lon BETWEEN -180 AND 180),
    lat               REAL NOT NULL CHECK (lat BETWEEN -90 AND 90),
    sports            TEXT NOT NULL,          -- JSON array of strings
    olympic_start     INTEGER,
    olympic_end       INTEGER,
    paralympic_start  INTEGER,
    paralympic_end    INTEGER,
    PRIMARY KEY (workspace, code)
);

CREATE TABLE perimeters (
    workspace  TEXT NOT NULL REFERENCES workspaces(id),
    id         INTEGER NOT NULL,
    venue      TEXT NOT NULL,
    kind       TEXT NOT NULL,
    geometry   BLOB NOT NULL,                 -- WKB Polygon or MultiPolygon
    windows    TEXT NOT NULL,                 -- JSON array of [start_ms, end_ms]
    PRIMARY KEY (workspace, id),
    FOREIGN KEY (workspace, venue) REFERENCES venues(workspace, code)
);

-- The current state of each log entry. Older states live in entry_revisions: an edit never
-- overwrites history.
CREATE TABLE entries (
    workspace      TEXT NOT NULL REFERENCES workspaces(id),
    id             INTEGER NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    title          TEXT NOT NULL,
    body           TEXT NOT NULL,
    tags           TEXT NOT NULL,             -- JSON array of strings
    severity       INTEGER NOT NULL CHECK (severity BETWEEN 0 AND 4),
    qualification  TEXT NOT NULL CHECK (qualification IN ('raw', 'in_review', 'confirmed', 'refuted', 'closed')),
    occurred_at    INTEGER NOT NULL,
    reported_at    INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    author         TEXT NOT NULL,
    source         TEXT NOT NULL,
    location       TEXT,
    links          TEXT NOT NULL,             -- JSON array of {url, title}
    attachments    TEXT NOT NULL DEFAULT '[]',-- JSON array of {sha256, media_type, size, filename}
    geometry       BLOB NOT NULL,             -- WKB Point, LineString or Polygon
    min_lon        REAL NOT NULL,             -- bounding box of the geometry, for bbox filters
    min_lat        REAL NOT NULL,
    max_lon        REAL NOT NULL,
    max_lat        REAL NOT NULL,
    deleted        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, id)
);

CREATE INDEX entries_by_time ON entries (workspace, occurred_at DESC, id DESC);

-- Full-text search over titles, bodies and places (accent-insensitive), kept in step with
-- entries by triggers (FTS5 external-content pattern).
CREATE VIRTUAL TABLE entries_fts USING fts5 (
    title, body, location,
    content = 'entries', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts (rowid, title, body, location) VALUES (new.rowid, new.title, new.body, new.location);
END;

CREATE TRIGGER entries_fts_update AFTER UPDATE OF title, body, location ON entries BEGIN
    INSERT INTO entries_fts (entries_fts, rowid, title, body, location)
        VALUES ('delete', old.rowid, old.title, old.body, old.location);
    INSERT INTO entries_fts (rowid, title, body, location) VALUES (new.rowid, new.title, new.body, new.location);
END;

-- Every version of every entry, append-only: who changed what and when, and the full state.
CREATE TABLE entry_revisions (
    workspace   TEXT NOT NULL REFERENCES workspaces(id),
    entry_id    INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('created', 'updated', 'attached', 'deleted')),
    actor       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    changes     TEXT NOT NULL,                -- JSON object: field -> {from, to}
    PRIMARY KEY (workspace, entry_id, version)
);

-- The live event stream, persisted: seq is gap-free per workspace (assigned in the writing
-- transaction), so a client reconnecting with Last-Event-ID gets every event it missed.
CREATE TABLE events (
    workspace  TEXT NOT NULL REFERENCES workspaces(id),
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    entry_id   INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    actor      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    layers     TEXT NOT NULL,                 -- JSON array of layer ids
    bbox       TEXT,                          -- JSON [min_lon, min_lat, max_lon, max_lat]
    PRIMARY KEY (workspace, seq)
);

-- Photos, content-addressed by SHA-256; shared by every entry (and workspace) that attaches them.
CREATE TABLE attachments (
    sha256      TEXT PRIMARY KEY NOT NULL,
    media_type  TEXT NOT NULL,
    size        INTEGER NOT NULL,
    bytes       BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Imported datasets: one row per dataset with its current version; its features carry the
-- version, so an import writes the new version and drops the old one in one transaction.
CREATE TABLE datasets (
    workspace      TEXT NOT NULL REFERENCES workspaces(id),
    id             TEXT NOT NULL,
    version        INTEGER NOT NULL,
    schema         TEXT NOT NULL,             -- JSON array of {name, type, description}
    source         TEXT NOT NULL,             -- file or URL it came from
    imported_at    INTEGER NOT NULL,
    feature_count  INTEGER NOT NULL,
    PRIMARY KEY (workspace, id)
);

CREATE TABLE dataset_features (
    workspace  TEXT NOT NULL REFERENCES workspaces(id),
    dataset    TEXT NOT NULL,
    version    INTEGER NOT NULL,
    id         INTEGER NOT NULL,
    geometry   BLOB NOT NULL,                 -- WKB, WGS84
    props      TEXT NOT NULL,                 -- JSON array aligned with the dataset schema
    time       INTEGER,
    severity   INTEGER,
    tags       TEXT NOT NULL,                 -- JSON array of strings
    PRIMARY KEY (workspace, dataset, version, id)
) WITHOUT ROWID;                              -- rows live in the key's b-tree: an import writes
                                              -- each row once (no rowid table plus key index)
                                              -- and a dataset reads back in key order

CREATE TABLE meta (
    workspace  TEXT NOT NULL REFERENCES workspaces(id),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (workspace, key)
);
