-- Escalation (issue 15, "remontée"): workspaces form a tree (national → defence zone →
-- département). An entry escalated to the parent, or sent down to children, has a copy there,
-- kept in step with it: entry_links says which entry mirrors which.
ALTER TABLE workspaces ADD COLUMN parent TEXT REFERENCES workspaces(id);

CREATE TABLE entry_links (
    source_workspace  TEXT NOT NULL REFERENCES workspaces(id),
    source_entry      INTEGER NOT NULL,
    target_workspace  TEXT NOT NULL REFERENCES workspaces(id),
    target_entry      INTEGER NOT NULL,
    direction         TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    created_at        INTEGER NOT NULL,
    created_by        TEXT NOT NULL,
    -- The source's version the copy last took.
    synced_version    INTEGER NOT NULL,
    -- Set once the target qualified the copy itself: the source's qualification no longer
    -- flows into it.
    target_qualified  INTEGER NOT NULL DEFAULT 0,
    removed_at        INTEGER,
    PRIMARY KEY (source_workspace, source_entry, target_workspace)
);
CREATE INDEX entry_links_by_target ON entry_links (target_workspace, target_entry);

-- Comments on an entry, on the side of the workspace that wrote them (a parent comments on an
-- escalated copy without touching the origin's record).
CREATE TABLE entry_comments (
    workspace  TEXT NOT NULL REFERENCES workspaces(id),
    entry      INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    author     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    body       TEXT NOT NULL,
    PRIMARY KEY (workspace, entry, seq)
);
