//! socketlab's API integration tests: one binary, a real server on 127.0.0.1:0 per test,
//! real sockets, real HTTP and WebSocket clients.

// Test and benchmark tasks belong to their process (clients, servers, timers), not to an
// engine's run: clippy.toml's rule is for the product's code.
#![allow(clippy::disallowed_methods)]

mod access;
mod behaviors;
// The bench is built only with `--features bench` (as `.ci/run` runs the tests).
#[cfg(feature = "bench")]
mod bench;
mod byte_rate;
mod capture;
mod chat;
mod class;
mod clients;
mod code;
mod code_clients;
mod code_harness;
mod code_servers;
mod ctl;
mod deploy;
mod errors;
mod events;
mod faults;
mod files;
mod helpers;
mod hostile;
mod impair;
mod impair_books;
mod isolation;
mod labs;
mod lifecycle;
mod openapi;
mod ownership;
mod pcap;
mod persist;
mod progress;
mod proxy;
mod rules;
mod trust;
mod truth;
mod wsclose;
