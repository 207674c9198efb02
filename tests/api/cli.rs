//! `healthdns status` and `healthdns override`.
