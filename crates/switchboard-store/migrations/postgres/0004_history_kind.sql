-- switchboard schema 4: the kind of each finished task, so that searches by kind (callbacks) use an index instead
-- of reading every finished task.
ALTER TABLE task_history ADD COLUMN kind TEXT NOT NULL DEFAULT '';
UPDATE task_history SET kind = COALESCE(body::jsonb ->> 'kind', '');
CREATE INDEX task_history_kind ON task_history (tenant, kind, created);
