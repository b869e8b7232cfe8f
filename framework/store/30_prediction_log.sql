-- specops store: the prediction log. Every request a server answers, one row each, grouped
-- into segments per model so the log can be bounded by dropping whole old segments.
CREATE TABLE IF NOT EXISTS prediction_log_segments (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    model     TEXT NOT NULL,
    opened_at REAL NOT NULL,
    rows      INTEGER NOT NULL DEFAULT 0,
    bytes     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS prediction_log_segments_by_model
    ON prediction_log_segments (model, id);
CREATE TABLE IF NOT EXISTS prediction_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    segment  INTEGER NOT NULL,
    model    TEXT NOT NULL,
    version  INTEGER,
    at       REAL NOT NULL,           -- when it was answered: seconds since the epoch, UTC
    rows     INTEGER NOT NULL,
    inputs   BLOB NOT NULL,           -- JSON object: feature column -> list of values
    outputs  BLOB NOT NULL            -- JSON object: prediction, and labels + proba for classifiers
);
CREATE INDEX IF NOT EXISTS prediction_log_by_time ON prediction_log (model, at);
CREATE INDEX IF NOT EXISTS prediction_log_by_segment ON prediction_log (segment);
