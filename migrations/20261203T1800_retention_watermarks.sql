-- How far each kind's retention has deleted: a run deletes only (done_through, cutoff], so it
-- touches the partitions around the cutoff instead of scanning every month kept.
CREATE TABLE retention_watermarks (
  kind         text PRIMARY KEY,
  done_through timestamptz NOT NULL
);
