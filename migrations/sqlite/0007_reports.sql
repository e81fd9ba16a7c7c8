-- Situation reports (issue 16): one row per report, with its workflow history (JSON steps)
-- and, once validated, its compiled parts frozen (JSON); one row per section's text, whose
-- version makes a stale edit fail instead of overwriting. Times are epoch milliseconds (UTC).
CREATE TABLE reports (
    workspace      TEXT NOT NULL REFERENCES workspaces(id),
    id             BIGINT NOT NULL,
    title          TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('scheduled', 'adhoc')),
    -- A scheduled report's due time: one report per due time (NULL for ad-hoc reports and
    -- corrections).
    due_at         BIGINT,
    period_start   BIGINT NOT NULL,
    period_end     BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('draft', 'review', 'validated', 'published')),
    -- A correction names the published report it corrects (one correction per report).
    supersedes     BIGINT,
    superseded_by  BIGINT,
    edition        INTEGER NOT NULL,
    history        TEXT NOT NULL,
    compiled       TEXT,
    -- The template's sections when the report was created (JSON).
    sections       TEXT NOT NULL,
    version        INTEGER NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (workspace, id)
);
CREATE UNIQUE INDEX reports_by_due ON reports (workspace, due_at);
CREATE UNIQUE INDEX reports_by_supersedes ON reports (workspace, supersedes);
CREATE INDEX reports_by_period ON reports (workspace, period_end);

CREATE TABLE report_sections (
    workspace   TEXT NOT NULL,
    report      BIGINT NOT NULL,
    section     TEXT NOT NULL,
    body        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (workspace, report, section),
    FOREIGN KEY (workspace, report) REFERENCES reports (workspace, id)
);
