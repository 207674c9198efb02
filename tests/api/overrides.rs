//! `POST /api/v1/targets/{target}/override`.
