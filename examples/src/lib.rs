//! Shared helpers for the examples.

pub mod download;
pub mod http;
pub mod stream_server;
