-- Liaison-officer staffing (issue 17). The plan (levels, shifts, rules, positions) is the
-- workspace document `staffing`; these tables hold the roster. Every change bumps
-- staffing_state.version in its transaction, which also serialises a workspace's staffing
-- writes and tells each replica its roster in memory is stale. Times are epoch milliseconds.
CREATE TABLE staffing_state (
    workspace  TEXT PRIMARY KEY REFERENCES workspaces(id),
    version    BIGINT NOT NULL
);

CREATE TABLE staffing_people (
    workspace    TEXT NOT NULL REFERENCES workspaces(id),
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    directorate  TEXT NOT NULL,
    -- JSON array of skills.
    skills       TEXT NOT NULL,
    phone        TEXT NOT NULL,
    email        TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT NOT NULL,
    PRIMARY KEY (workspace, id)
);

CREATE TABLE staffing_unavailability (
    workspace   TEXT NOT NULL,
    id          BIGINT NOT NULL,
    person      TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (workspace, id),
    FOREIGN KEY (workspace, person) REFERENCES staffing_people (workspace, id) ON DELETE CASCADE
);

CREATE TABLE staffing_assignments (
    workspace   TEXT NOT NULL,
    id          BIGINT NOT NULL,
    person      TEXT NOT NULL,
    position    TEXT NOT NULL,
    day         TEXT NOT NULL,
    shift       TEXT NOT NULL,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('proposed', 'confirmed', 'declined')),
    updated_by  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (workspace, id),
    FOREIGN KEY (workspace, person) REFERENCES staffing_people (workspace, id) ON DELETE CASCADE
);
-- One seat per person and shift: two managers putting the same person on the same shift at
-- once cannot both succeed.
CREATE UNIQUE INDEX staffing_one_seat ON staffing_assignments (workspace, person, start_at) WHERE status <> 'declined';
CREATE INDEX staffing_assignments_by_start ON staffing_assignments (workspace, start_at);

-- Alert level changes, in effect from `at` (a future `at`: scheduled). `entry` is the log
-- entry recording it, written once it is in effect.
CREATE TABLE staffing_levels (
    workspace   TEXT NOT NULL REFERENCES workspaces(id),
    id          BIGINT NOT NULL,
    level       INTEGER NOT NULL,
    name        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    decided_by  TEXT NOT NULL,
    decided_at  BIGINT NOT NULL,
    entry       BIGINT,
    PRIMARY KEY (workspace, id)
);
