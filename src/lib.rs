//! ttpgraph: a GraphQL API over DECNET's MITRE ATT&CK technique tags.
//!
//! Layers, bottom up: [`attack`] (the embedded ATT&CK catalog), [`store`] (the repository
//! over SQLite and MySQL/MariaDB), [`auth`] (DECNET's tokens and users), [`demo`] (a
//! realistic fleet generator), and [`cli`].
//! See ARCHITECTURE.md.

pub mod attack;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod store;
