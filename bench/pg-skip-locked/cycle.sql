-- One full task cycle, three transactions (each statement commits on its own, durably):
-- create a task, route the best waiting task to the longest-idle free agent with its skill, complete it.
\set skill random(1, 32)
\set prio random(0, 9)
INSERT INTO task (skill, priority) VALUES (:skill, :prio);
SELECT sb_route() AS routed \gset
SELECT sb_complete(:routed);
