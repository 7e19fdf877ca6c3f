//! One file per GraphQL type family.

pub mod attacker;
pub mod campaign;
pub mod catalog;
pub mod export;
pub mod group;
pub mod identity;
pub mod kill_chain;
pub mod list;
pub mod live;
pub mod node;
pub mod page;
pub mod pivot;
pub mod scalars;
pub mod session;
pub mod tag;
pub mod technique;
pub mod total;
