-- Sharded streams (?shard=I&of=N) split a lease by subject: shard I holds the employees whose
-- rank is I modulo N. Ranks are a random permutation of the lease's employees, drawn once when the
-- lease is frozen, so every N splits the employees evenly and the split never changes for a lease,
-- yet says nothing about who the employees are (it is never sent; the pseudonyms are).
ALTER TABLE dataset_employees ADD COLUMN shard_rank integer;

UPDATE dataset_employees d
SET shard_rank = ranked.rank
FROM (
  SELECT dataset_id, employee_id, (row_number() OVER (PARTITION BY dataset_id ORDER BY random()) - 1)::integer AS rank
  FROM dataset_employees
) ranked
WHERE ranked.dataset_id = d.dataset_id AND ranked.employee_id = d.employee_id;

ALTER TABLE dataset_employees ALTER COLUMN shard_rank SET NOT NULL;
ALTER TABLE dataset_employees ADD CONSTRAINT dataset_employees_shard_rank UNIQUE (dataset_id, shard_rank);
