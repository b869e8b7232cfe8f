-- specops store: runs, their steps and metrics, datasets, model versions and aliases.
CREATE TABLE IF NOT EXISTS runs (
    id           TEXT PRIMARY KEY,
    spec_name    TEXT NOT NULL,
    spec_path    TEXT NOT NULL,
    spec_hash    TEXT NOT NULL,
    spec_json    TEXT NOT NULL,
    profile      TEXT,
    status       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    data_hash    TEXT,
    lineage_json TEXT,
    outputs_json TEXT,
    trigger      TEXT,                     -- why it ran: null (by hand), a monitor run id, ...
    owner        TEXT,                     -- host:pid of the process running it (for display)
    lock         TEXT                      -- its liveness lock, held while it runs: a lock file
                                           -- under the store, or a server lock (backend.hold)
);
CREATE TABLE IF NOT EXISTS steps (
    run_id      TEXT NOT NULL REFERENCES runs(id),
    position    INTEGER NOT NULL,
    name        TEXT NOT NULL,
    component   TEXT,
    plugin      TEXT,
    status      TEXT NOT NULL,
    seconds     REAL,
    detail      TEXT,
    PRIMARY KEY (run_id, position)
);
CREATE TABLE IF NOT EXISTS params (
    run_id TEXT NOT NULL REFERENCES runs(id),
    key    TEXT NOT NULL,
    value  TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id  TEXT NOT NULL REFERENCES runs(id),
    name    TEXT NOT NULL,
    value   REAL,
    PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS datasets (
    hash       TEXT PRIMARY KEY,
    rows       INTEGER NOT NULL,
    columns    TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    blob       TEXT,                       -- sha256 of the Arrow IPC (Feather) snapshot, if kept
                                           -- (of its JSON manifest when kept partition by partition)
    parts_json TEXT                        -- JSON list of a partitioned snapshot's part blobs
);
CREATE TABLE IF NOT EXISTS model_versions (
    name           TEXT NOT NULL,
    version        INTEGER NOT NULL,
    run_id         TEXT NOT NULL REFERENCES runs(id),
    status         TEXT NOT NULL,          -- registered | rejected
    created_at     TEXT NOT NULL,
    model_type     TEXT NOT NULL,
    files_json     TEXT NOT NULL,          -- package file name -> sha256
    signature_json TEXT NOT NULL,
    metrics_json   TEXT NOT NULL,
    lineage_json   TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    name       TEXT NOT NULL,
    alias      TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (name, alias)
);
CREATE TABLE IF NOT EXISTS alias_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    alias        TEXT NOT NULL,
    from_version INTEGER,
    to_version   INTEGER NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT NOT NULL
);
-- Facts about the store itself: where its artifacts are ("artifacts": a display URL,
-- never a credential), recorded at first use so the metadata's URL is enough to find them.
CREATE TABLE IF NOT EXISTS store_settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
