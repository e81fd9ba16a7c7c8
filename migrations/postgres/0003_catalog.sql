-- Runtime configuration of each workspace, one versioned document per name: `catalog` (themes
-- and layers, JSON {name, attribution, themes, layers}), edited by admins through the API; the
-- bundled or configured TOML seeds it the first time the workspace is served. Later documents
-- (sources, styles) take their own names. `version` grows by one with every change: the API's
-- ETag, and how other processes notice the change.
CREATE TABLE workspace_documents (
    workspace   text NOT NULL REFERENCES workspaces(id),
    name        text NOT NULL,
    version     bigint NOT NULL CHECK (version > 0),
    document    text NOT NULL,
    updated_at  bigint NOT NULL,           -- epoch milliseconds
    updated_by  text NOT NULL,           -- account name, `cli:USER`, or `seed`
    PRIMARY KEY (workspace, name)
);
