//! What analysts do with the answers: ATT&CK Navigator layers, STIX 2.1 bundles, MISP
//! events, and "which known groups does this look like?" (issue 11, EXPORTS.md).
//!
//! This layer sits on [`crate::store`] and [`crate::attack`] only; the GraphQL fields and
//! the HTTP download routes both call it, so both serve the same documents.
//!
//! - [`source`]: loads one scope's inputs (attacker row, rollups, newest tags, …).
//! - [`navigator`]: layer format 4.5, DECNET's and ours.
//! - [`stix`]: the bundle objects, with deterministic ids and timestamps (byte-identical
//!   re-exports), and the fleet bundle written object by object.
//! - [`misp`]: a MISP event built from the same STIX objects.
//! - [`similar`]: IDF-weighted cosine between a scope's techniques and each group's.
//! - [`fleet`]: the streamed fleet documents (bounded memory).

pub mod document;
pub mod fleet;
pub mod ids;
pub mod misp;
pub mod navigator;
pub mod similar;
pub mod source;
pub mod stix;

pub use source::{Scope, ScopeKind};
