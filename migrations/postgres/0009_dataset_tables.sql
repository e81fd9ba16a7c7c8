-- Each version of a dataset in a table of its own (issue 23): an import creates the table,
-- streams the features into it with COPY and points the dataset at it in the same
-- transaction, so readers see the old version or the new one, never a mix, and a killed import
-- leaves nothing behind. The table of the version replaced is then dropped whole, where the
-- shared table deleted a million rows one by one.

ALTER TABLE datasets ADD COLUMN features_table text;

CREATE SEQUENCE dataset_feature_tables;

-- Creates an empty features table (no key yet: an import adds it once the rows are in) and
-- returns its name, dataset_features_<n>. The only place that says what the table holds.
-- Properties and tags are `json`, the text as vigie wrote it: they are read back whole, never
-- queried inside, and `jsonb` would spend a quarter of a COPY's time taking them apart.
CREATE FUNCTION vigie_new_dataset_table() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t text := 'dataset_features_' || nextval('dataset_feature_tables');
BEGIN
    EXECUTE format(
        'CREATE TABLE %I (
            id        bigint NOT NULL,
            geom      geometry(Geometry, 4326) NOT NULL,
            props     json NOT NULL,
            time      timestamptz,
            severity  smallint,
            tags      json NOT NULL
        )', t);
    RETURN t;
END $$;

-- The current version of every dataset moves to a table of its own; older versions, which
-- nothing reads, are left behind with the shared table.
DO $$
DECLARE
    d record;
    t text;
BEGIN
    FOR d IN SELECT workspace, id, version FROM datasets WHERE version > 0 LOOP
        t := vigie_new_dataset_table();
        EXECUTE format(
            'INSERT INTO %I (id, geom, props, time, severity, tags)
             SELECT id, geom, props::json, time, severity, tags::json FROM dataset_features
             WHERE workspace = $1 AND dataset = $2 AND version = $3 ORDER BY id', t)
            USING d.workspace, d.id, d.version;
        EXECUTE format('ALTER TABLE %I ADD PRIMARY KEY (id)', t);
        UPDATE datasets SET features_table = t WHERE workspace = d.workspace AND id = d.id;
    END LOOP;
END $$;

DROP TABLE dataset_features;
