-- specops store: which numbered migrations (framework/store/migrations.py) this store has
-- had, one row each: the schema version is the largest. Who applied it (specops_version)
-- and when tell a team which of its specops versions upgraded the shared store.
CREATE TABLE IF NOT EXISTS store_schema (
    version         INTEGER NOT NULL PRIMARY KEY, -- a migration's number: applied once
                                           -- (not "INTEGER PRIMARY KEY": PostgreSQL would
                                           -- make that an identity column)
    why             TEXT NOT NULL,
    applied_at      TEXT NOT NULL,
    specops_version TEXT NOT NULL
);
