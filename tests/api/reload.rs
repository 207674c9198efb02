//! `POST /api/v1/reload` and SIGHUP.
