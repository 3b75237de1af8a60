-- The documents table of the retrieval example. Labels are plain columns; `posture rls` turns the
-- policy's data.retrieval into row-level security over them:
--
--   psql -f examples/retrieval/schema.sql
--   npx posture rls --policy examples/retrieval/posture.yaml --table documents | psql
--
-- Retrieval then runs as a role without BYPASSRLS, with the acting user set per transaction:
--
--   BEGIN;
--   SELECT set_config('posture.user', 'bob', true);
--   SELECT id, title FROM documents WHERE body ILIKE '%budget%';
--   COMMIT;
CREATE TABLE IF NOT EXISTS documents (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  owner text,                 -- the user who owns the document: always sees it
  groups text[],              -- NULL or empty: no group restriction; else the reader must be in one
  classification text,        -- NULL: data.retrieval.default (no default: withheld)
  title text NOT NULL,
  body text NOT NULL DEFAULT ''
);
