-- The naive PostgreSQL queue that switchboard is compared with: tasks in a table, agents in a table, routing by
-- `FOR UPDATE SKIP LOCKED`. Loaded by run.sh into its own database; :agents is the number of agents.

CREATE TABLE agent (
    id         int PRIMARY KEY,
    skills     int[] NOT NULL,           -- up to 8 distinct skills in 1..32 (3 to 8 picks, duplicates merged)
    busy       boolean NOT NULL DEFAULT false,
    idle_since timestamptz NOT NULL DEFAULT now()
);
-- Free agents in idle order: the longest-idle free agent with a skill is the first match in this index.
CREATE INDEX agent_free_by_idle ON agent (idle_since) WHERE NOT busy;

CREATE TABLE task (
    id           bigserial PRIMARY KEY,
    skill        int NOT NULL,           -- the one skill the task requires, 1..32
    priority     int NOT NULL,           -- 0..9, higher first
    state        text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'assigned', 'completed')),
    agent_id     int REFERENCES agent (id),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    assigned_at  timestamptz,
    completed_at timestamptz
);
-- The queue: waiting tasks, highest priority first, then the oldest.
CREATE INDEX task_waiting ON task (priority DESC, created_at, id) WHERE state = 'waiting';

-- Route: take the best waiting task that is not locked by another router and give it to the longest-idle free
-- agent that has its skill, both claimed with FOR UPDATE SKIP LOCKED. Returns the task's id, or 0 when no waiting
-- task has a free agent (a function, so that "nothing available" does not abort a pgbench client).
CREATE FUNCTION sb_route() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    t record;
    a int;
BEGIN
    FOR t IN
        SELECT id, skill FROM task
        WHERE state = 'waiting'
        ORDER BY priority DESC, created_at, id
        FOR UPDATE SKIP LOCKED
    LOOP
        SELECT id INTO a FROM agent
        WHERE NOT busy AND skills @> ARRAY[t.skill]
        ORDER BY idle_since
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE agent SET busy = true WHERE id = a;
            UPDATE task SET state = 'assigned', agent_id = a, assigned_at = clock_timestamp() WHERE id = t.id;
            RETURN t.id;
        END IF;
    END LOOP;
    RETURN 0;
END
$$;

-- Complete: the task ends and its agent is free again, idle since now. Returns false when there was nothing to
-- complete (task 0, or a task that is not assigned).
CREATE FUNCTION sb_complete(task_id bigint) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    a int;
BEGIN
    UPDATE task SET state = 'completed', completed_at = clock_timestamp()
    WHERE id = task_id AND state = 'assigned'
    RETURNING agent_id INTO a;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE agent SET busy = false, idle_since = now() WHERE id = a;
    RETURN true;
END
$$;

-- Agents with up to 8 distinct random skills each (seeded, so every run has the same agents), and every skill
-- held by at least one agent: agent i always has skill (i mod 32) + 1.
SELECT setseed(0.42);
INSERT INTO agent (id, skills, idle_since)
SELECT i,
       ARRAY(SELECT DISTINCT s FROM (
                 SELECT (i % 32) + 1 AS s
                 UNION ALL
                 SELECT 1 + floor(random() * 32)::int FROM generate_series(1, 2 + floor(random() * 6)::int)
             ) AS picks ORDER BY s),
       now() - make_interval(secs => i)
FROM generate_series(1, :agents) AS i;
ANALYZE agent;
