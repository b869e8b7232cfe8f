"""Tests of the shared (team) store: PostgreSQL metadata, S3 artifacts, on real servers."""
