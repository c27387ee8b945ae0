//! Shared helpers for the examples.

pub mod download;
pub mod stream_server;
