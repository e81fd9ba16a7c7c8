-- Territories (issue 15), second part: a workspace has a territory too (the area it answers
-- for: its members other than admins see the scoped layers within it, and a membership's
-- territory narrows it further), and an API token may be narrowed inside its creator's. Both
-- are JSON arrays of regions as in memberships.territory; NULL: not narrowed.
ALTER TABLE workspaces ADD COLUMN territory TEXT;
ALTER TABLE api_tokens ADD COLUMN territory TEXT;
