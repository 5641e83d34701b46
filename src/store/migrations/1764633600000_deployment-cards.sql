-- Up Migration

-- Which change request shipped an app commit (its merge made the commit), as the provider said
-- when DAG first asked: the request whose deployment card follows the commit across
-- environments. `number` NULL: none did (a direct push); asked once per commit.
CREATE TABLE deployment_cards (
  app_id integer NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
  sha text NOT NULL CONSTRAINT deployment_cards_sha_check CHECK (sha ~ '^[0-9a-f]{7,64}$'),
  number integer CONSTRAINT deployment_cards_number_check CHECK (number IS NULL OR number > 0),
  found_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (app_id, sha)
);

-- Down Migration

DROP TABLE deployment_cards;
