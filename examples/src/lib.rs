//! Shared helpers for the examples.

pub mod download;
pub mod http;
pub mod http_server;
pub mod logging;
pub mod read_buffer;
pub mod serve;
