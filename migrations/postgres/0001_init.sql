-- vigie on PostgreSQL/PostGIS, first schema. Every record carries its workspace (tenant) id.
-- Geometries are geometry(…, 4326) in WGS84 longitude/latitude; times are timestamptz.

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE workspaces (
    id          text PRIMARY KEY,
    title       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Counters of the write path: taken with a row lock inside each writing transaction, so
    -- event sequence numbers and entry ids are gap-free and in commit order across replicas.
    last_seq    bigint NOT NULL DEFAULT 0,
    last_entry  bigint NOT NULL DEFAULT 0
);

CREATE TABLE venues (
    workspace         text NOT NULL REFERENCES workspaces(id),
    code              text NOT NULL,
    name              text NOT NULL,
    kind              text NOT NULL,
    city              text NOT NULL,
    geom              geometry(Point, 4326) NOT NULL,
    sports            jsonb NOT NULL,
    olympic_start     timestamptz,
    olympic_end       timestamptz,
    paralympic_start  timestamptz,
    paralympic_end    timestamptz,
    PRIMARY KEY (workspace, code)
);

CREATE TABLE perimeters (
    workspace  text NOT NULL REFERENCES workspaces(id),
    id         bigint NOT NULL,
    venue      text NOT NULL,
    kind       text NOT NULL,
    geom       geometry(Geometry, 4326) NOT NULL,
    windows    jsonb NOT NULL,                  -- [[start_ms, end_ms], ...]
    PRIMARY KEY (workspace, id),
    FOREIGN KEY (workspace, venue) REFERENCES venues(workspace, code)
);

CREATE TABLE entries (
    workspace      text NOT NULL REFERENCES workspaces(id),
    id             bigint NOT NULL,
    version        integer NOT NULL CHECK (version >= 1),
    title          text NOT NULL,
    body           text NOT NULL,
    tags           jsonb NOT NULL,
    severity       smallint NOT NULL CHECK (severity BETWEEN 0 AND 4),
    qualification  text NOT NULL CHECK (qualification IN ('raw', 'in_review', 'confirmed', 'refuted', 'closed')),
    occurred_at    timestamptz NOT NULL,
    reported_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    author         text NOT NULL,
    source         text NOT NULL,
    location       text,
    links          jsonb NOT NULL,
    attachments    jsonb NOT NULL DEFAULT '[]',
    geom           geometry(Geometry, 4326) NOT NULL,
    deleted        boolean NOT NULL DEFAULT false,
    search_text    text NOT NULL DEFAULT '',  -- title, body, place: lower case, accents removed
    PRIMARY KEY (workspace, id)
);

CREATE INDEX entries_by_time ON entries (workspace, occurred_at DESC, id DESC);
CREATE INDEX entries_geom ON entries USING gist (geom);
CREATE INDEX entries_search ON entries USING gin (to_tsvector('simple', search_text));

CREATE TABLE entry_revisions (
    workspace   text NOT NULL REFERENCES workspaces(id),
    entry_id    bigint NOT NULL,
    version     integer NOT NULL,
    action      text NOT NULL CHECK (action IN ('created', 'updated', 'attached', 'deleted')),
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    changes     jsonb NOT NULL,
    PRIMARY KEY (workspace, entry_id, version)
);

-- The change feed: every committed change, numbered without gaps per workspace. Replicas apply
-- it in order; a NOTIFY on vigie_events wakes them up.
CREATE TABLE events (
    workspace  text NOT NULL REFERENCES workspaces(id),
    seq        bigint NOT NULL,
    kind       text NOT NULL,
    entry_id   bigint NOT NULL,
    version    integer NOT NULL,
    actor      text NOT NULL,
    at         timestamptz NOT NULL,
    layers     jsonb NOT NULL,
    bbox       jsonb,
    PRIMARY KEY (workspace, seq)
);

CREATE TABLE attachments (
    sha256      text PRIMARY KEY,
    media_type  text NOT NULL,
    size        bigint NOT NULL,
    bytes       bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE datasets (
    workspace      text NOT NULL REFERENCES workspaces(id),
    id             text NOT NULL,
    version        bigint NOT NULL,
    schema         jsonb NOT NULL,
    source         text NOT NULL,
    imported_at    timestamptz NOT NULL,
    feature_count  bigint NOT NULL,
    PRIMARY KEY (workspace, id)
);

CREATE TABLE dataset_features (
    workspace  text NOT NULL REFERENCES workspaces(id),
    dataset    text NOT NULL,
    version    bigint NOT NULL,
    id         bigint NOT NULL,
    geom       geometry(Geometry, 4326) NOT NULL,
    props      jsonb NOT NULL,
    time       timestamptz,
    severity   smallint,
    tags       jsonb NOT NULL,
    PRIMARY KEY (workspace, dataset, version, id)
);

CREATE TABLE meta (
    workspace  text NOT NULL REFERENCES workspaces(id),
    key        text NOT NULL,
    value      text NOT NULL,
    PRIMARY KEY (workspace, key)
);
