-- Escalation (issue 15, "remontée"): workspaces form a tree (national → defence zone →
-- département). An entry escalated to the parent, or sent down to children, has a copy there,
-- kept in step with it: entry_links says which entry mirrors which.
ALTER TABLE workspaces ADD COLUMN parent text REFERENCES workspaces(id);

CREATE TABLE entry_links (
    source_workspace  text NOT NULL REFERENCES workspaces(id),
    source_entry      bigint NOT NULL,
    target_workspace  text NOT NULL REFERENCES workspaces(id),
    target_entry      bigint NOT NULL,
    direction         text NOT NULL CHECK (direction IN ('up', 'down')),
    created_at        bigint NOT NULL,
    created_by        text NOT NULL,
    -- The source's version the copy last took.
    synced_version    integer NOT NULL,
    -- Set once the target qualified the copy itself: the source's qualification no longer
    -- flows into it.
    target_qualified  integer NOT NULL DEFAULT 0,
    removed_at        bigint,
    PRIMARY KEY (source_workspace, source_entry, target_workspace)
);
CREATE INDEX entry_links_by_target ON entry_links (target_workspace, target_entry);

-- Comments on an entry, on the side of the workspace that wrote them (a parent comments on an
-- escalated copy without touching the origin's record).
CREATE TABLE entry_comments (
    workspace  text NOT NULL REFERENCES workspaces(id),
    entry      bigint NOT NULL,
    seq        bigint NOT NULL,
    author     text NOT NULL,
    at         bigint NOT NULL,
    body       text NOT NULL,
    PRIMARY KEY (workspace, entry, seq)
);
