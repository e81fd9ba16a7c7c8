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
    geometry       BLOB NOT NULL,             -- WKB Point, LineString or Polygon
    deleted        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, id)
);

CREATE INDEX entries_by_time ON entries (workspace, occurred_at);

CREATE TABLE meta (
    workspace  TEXT NOT NULL REFERENCES workspaces(id),
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (workspace, key)
);
