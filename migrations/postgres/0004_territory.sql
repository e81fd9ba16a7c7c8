-- Territories (issue 15): a membership may be narrowed to part of the map. `territory` is a
-- JSON array of regions, each as a region query gives one (`{"area": "departements:93"}`,
-- `{"geometry": {GeoJSON polygon}}`, `{"bbox": [w, s, e, n]}`, `{"circle": {...}}`); NULL: the
-- whole workspace. The member's API tokens act with it.
ALTER TABLE memberships ADD COLUMN territory text;
