//! The fleet documents, written while they are read: attackers stream from the database
//! in DECNET's order (`last_seen` DESC, ties by uuid), each attacker's objects are built
//! and serialised, and the bytes go out in chunks through a small bounded channel. Memory
//! is one attacker's objects, one chunk per channel slot, the per-attacker technique ids
//! (one summary query, not the tags) and the ids already written (DECNET merges objects by
//! id: each attack-pattern and address appears once) — never the bundle.

use serde_json::Value;
use tokio::sync::mpsc;

use super::misp;
use super::source::AttackerFacts;
use super::stix::{self, Mode, Seen};
use crate::store::{Result, Store, StoreError};

/// Bytes per chunk sent to the client.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the producer and the connection.
const CHANNEL: usize = 4;

/// Which fleet document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetFormat {
    /// One STIX bundle (EXPORTS.md §3.6).
    Stix,
    /// `{"response": [event, …]}`, one MISP event per attacker (§4.1).
    Misp,
}

/// The fleet bundle's id (stable, like every other bundle id).
pub fn fleet_bundle_id() -> String {
    stix::bundle_id("fleet", "all")
}

/// Starts writing the fleet document; the receiver yields its chunks, then ends (or
/// yields one error, after which the body is cut: the client sees a truncated transfer).
pub fn spawn(store: Store, format: FleetFormat) -> mpsc::Receiver<Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        let out = Out {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK * 2),
        };
        if let Err(e) = write(store, format, out).await {
            tracing::warn!(error = %e, "fleet export failed");
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

/// The chunked writer; a closed channel (client gone) stops the producer.
struct Out {
    tx: mpsc::Sender<Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl Out {
    async fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn value(&mut self, v: &Value) -> Result<()> {
        serde_json::to_writer(&mut self.buf, v)
            .map_err(|e| StoreError::InvalidArgument(e.to_string()))?;
        if self.buf.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK * 2));
        self.tx
            .send(Ok(chunk))
            .await
            .map_err(|_| StoreError::InvalidArgument("client went away".into()))
    }
}

async fn write(store: Store, format: FleetFormat, mut out: Out) -> Result<()> {
    use futures_util::StreamExt;
    let mut rollups = store.export_rollups().await?;
    let mut attackers = store.attackers_by_last_seen();
    let mut next = attackers.next().await.transpose()?;
    let any = next.is_some();
    let mut seen = Seen::default();
    match format {
        FleetFormat::Stix => {
            out.put(&stix::bundle_head(&fleet_bundle_id(), any)).await?;
            if any {
                out.value(&stix::org()).await?;
            }
        }
        FleetFormat::Misp => out.put(br#"{"response":["#).await?,
    }
    let mut first_event = true;
    while let Some(attacker) = next {
        let rollup = rollups
            .remove(&attacker.uuid)
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.sub_technique_id.unwrap_or(r.technique_id))
            .collect();
        let facts = AttackerFacts {
            attacker,
            identity: None,
            rollup,
            sightings: Vec::new(),
        };
        let mut objects = Vec::new();
        match format {
            FleetFormat::Stix => {
                stix::attacker_objects(&facts, Mode::Fleet, &mut seen, &mut |o| objects.push(o));
                for o in &objects {
                    out.put(b",").await?;
                    out.value(o).await?;
                }
            }
            FleetFormat::Misp => {
                // One event per attacker, converted alone (no cross-attacker merge).
                stix::attacker_objects(&facts, Mode::Fleet, &mut Seen::default(), &mut |o| {
                    objects.push(o)
                });
                let event = misp::event(
                    &stix::bundle_id("attacker", &facts.attacker.uuid),
                    &attacker_info(&facts),
                    &objects,
                );
                if !first_event {
                    out.put(b",").await?;
                }
                first_event = false;
                out.value(&event).await?;
            }
        }
        next = attackers.next().await.transpose()?;
    }
    match format {
        FleetFormat::Stix => out.put(stix::bundle_tail(any)).await?,
        FleetFormat::Misp => out.put(b"]}").await?,
    }
    out.flush().await
}

/// The MISP event title of one attacker.
pub fn attacker_info(f: &AttackerFacts) -> String {
    format!(
        "DECNET attacker {} ({}): {} ATT&CK technique(s) observed",
        f.attacker.ip.as_deref().unwrap_or("unknown address"),
        f.attacker.uuid.chars().take(8).collect::<String>(),
        f.rollup.len()
    )
}
