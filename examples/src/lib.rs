//! Shared helpers for the examples.

pub mod download;
