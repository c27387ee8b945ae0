//! Shared helpers for the examples.

pub mod download;
pub mod http;
pub mod logging;
pub mod stream_server;
