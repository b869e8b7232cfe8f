-- specops store: monitoring. One row per `specops monitor` run, one per column it judged.
-- A drift-triggered retraining is an ordinary run whose runs.trigger names the monitor run;
-- monitor_runs.retrain_run_id points back, with the gate's verdict and what was promoted.
CREATE TABLE IF NOT EXISTS monitor_runs (
    id               TEXT PRIMARY KEY,
    model            TEXT NOT NULL,
    version          INTEGER,             -- the champion the batch was compared with
    spec_path        TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    ended_at         TEXT NOT NULL,
    data             TEXT NOT NULL,       -- the batch: a file, or a prediction-log window
    data_hash        TEXT,
    rows             INTEGER,
    decision         TEXT NOT NULL,       -- no_drift | drift | failed_checks | degraded | error
    exit_code        INTEGER NOT NULL,
    policy           TEXT NOT NULL,       -- on_drift: report | fail | retrain
    dataset_drift    INTEGER,             -- 1 drift, 0 none, null when not judged
    drift_share      REAL,                -- share of judged columns that drifted
    summary_json     TEXT NOT NULL,       -- decision text, problems, checks, performance
    report_blob      TEXT,                -- sha256 of the full result (JSON) in artifacts/
    html_blob        TEXT,                -- sha256 of the HTML report, when one was written
    report_path      TEXT,                -- where --report wrote it
    retrain_run_id   TEXT REFERENCES runs(id),
    retrain_status   TEXT,                -- passed | rejected | failed_checks | error
    promoted_version INTEGER,
    gate_json        TEXT                 -- the retraining gate's verdicts
);
CREATE INDEX IF NOT EXISTS monitor_runs_by_model ON monitor_runs (model, started_at);
CREATE TABLE IF NOT EXISTS monitor_columns (
    monitor_id   TEXT NOT NULL REFERENCES monitor_runs(id),
    position     INTEGER NOT NULL,
    column_name  TEXT NOT NULL,
    role         TEXT NOT NULL,
    source       TEXT NOT NULL,           -- feature | prediction
    test         TEXT,
    statistic    REAL,
    threshold    REAL,
    drift_if     TEXT,
    status       TEXT NOT NULL,           -- ok | drift | no data | not computed
    null_share   REAL,
    PRIMARY KEY (monitor_id, column_name)
);
