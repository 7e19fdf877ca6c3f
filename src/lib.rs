//! ttpgraph: a GraphQL API over DECNET's MITRE ATT&CK technique tags.
//!
//! Layers, bottom up; each uses only those before it: [`config`] (settings and limits,
//! a leaf) and [`metrics`] (the Prometheus registry), [`attack`] (the embedded ATT&CK
//! catalog), [`store`] (the repository over SQLite and MySQL/MariaDB), [`export`]
//! (Navigator layers, STIX bundles, MISP events, group similarity; store + attack), [`auth`]
//! (DECNET's tokens and users), [`live`] (the change-feed tail and its fan-out),
//! [`graphql`] (schema, loaders, guards), [`http`] (router,
//! layers, serving), [`demo`] (a realistic fleet generator, through the store), and
//! [`cli`] on top, with [`doctor`] (its deployment checks). See ARCHITECTURE.md.

pub mod attack;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod export;
pub mod graphql;
pub mod http;
pub mod live;
pub mod metrics;
pub mod settings;
pub mod store;
