-- Up Migration

-- A folder promotion is recorded as soon as DAG has pushed its branch, before it asks the
-- provider for the pull request: a run that stops in between (a rate limit, a 502) leaves an
-- open row with pushed_head and no number, by which the next run knows the branch as DAG's own
-- and opens (or finds) the one pull request for it. number and url are NULL until then.
ALTER TABLE promotions ALTER COLUMN number DROP NOT NULL, ALTER COLUMN url DROP NOT NULL;
ALTER TABLE promotions ADD CONSTRAINT promotions_pull_request_check
  CHECK ((number IS NULL) = (url IS NULL) AND (number IS NOT NULL OR pushed_head IS NOT NULL));

-- Down Migration
DELETE FROM promotions WHERE number IS NULL;
ALTER TABLE promotions DROP CONSTRAINT promotions_pull_request_check;
ALTER TABLE promotions ALTER COLUMN number SET NOT NULL, ALTER COLUMN url SET NOT NULL;
