//! Every scoped rollup, the inspector and every batch query reach `ttp_tag` through an
//! index, never a full scan of the table or of a whole index — checked with each
//! engine's own planner (`EXPLAIN QUERY PLAN` / `EXPLAIN`) on the statements the store
//! really sends.

use crate::contract;
use crate::store_support::{PLANS_FLEET, READS_FLEET, node_ids};
use crate::support::{Backend, TestDb};
use ttpgraph::store::context::{MergeTable, TagAnchor};
use ttpgraph::store::{InspectorScope, TechniqueFilter};

/// The fleet a plan test reads. SQLite's planner has no statistics here (DECNET never runs
/// ANALYZE), so its plans depend on the schema and the SQL, not the data: by default it
/// reads the shared small fleet. InnoDB's plans follow its statistics, so MariaDB's half
/// needs the 20k-tag fleet and is a slow suite (`TTPGRAPH_SLOW=1`, which `.ci/run` sets),
/// as is the full size on SQLite.
async fn plans_db(backend: Backend) -> Option<TestDb> {
    if crate::support::slow_on() {
        return TestDb::fleet(backend, &PLANS_FLEET).await;
    }
    match backend {
        Backend::Sqlite => TestDb::fleet(backend, &READS_FLEET).await,
        Backend::MySql => {
            crate::support::slow("store_plans on MariaDB");
            None
        }
    }
}

contract!(@make scoped_queries_never_scan_the_tag_table, |b| plans_db(b), |db| async move {
    let s = &db.store;
    // SQLite gets no ANALYZE: DECNET never runs it, so production planners work without
    // statistics. InnoDB keeps its own.
    if db.dialect == ttpgraph::store::Dialect::MySql {
        db.raw("ANALYZE TABLE ttp_tag, attackers, attacker_identities")
            .await;
    }
    let (all, identities, campaigns) = node_ids(s, 1000).await;
    let (attackers, identities, campaigns) = (&all[..3], &identities[..3], &campaigns[..2]);
    let sessions: Vec<String> = s
        .sessions_of_attackers(&all)
        .await
        .expect("sessions")
        .into_values()
        .flatten()
        .take(3)
        .collect();
    assert_eq!(sessions.len(), 3);
    let filtered = TechniqueFilter {
        min_confidence: Some(0.5),
        tactics: vec!["TA0007".into()],
        ..Default::default()
    };

    s.capture_statements(true);
    for f in [TechniqueFilter::default(), filtered] {
        s.techniques_by_identities(identities, &f)
            .await
            .expect("identity");
        s.techniques_by_attackers(attackers, &f)
            .await
            .expect("attacker");
        s.techniques_by_sessions(&sessions, &f)
            .await
            .expect("session");
        s.techniques_by_campaigns(campaigns, &f)
            .await
            .expect("campaign");
    }
    for (scope, id) in [
        (InspectorScope::Identity, &identities[0]),
        (InspectorScope::Attacker, &attackers[0]),
        (InspectorScope::Session, &sessions[0]),
    ] {
        s.inspect(scope, id, "T1083", None, 200)
            .await
            .expect("inspect");
        s.inspect(scope, id, "T1059", Some("T1059.004"), 200)
            .await
            .expect("inspect sub");
    }
    s.decky_phases_batch(identities).await.expect("phases");
    s.tags_by_attacker_page(&attackers[0], None, 50)
        .await
        .expect("raw tags");
    s.tags_by_attacker_page_before(&attackers[0], None, 50)
        .await
        .expect("raw tags backwards");
    s.tagged_ids(TagAnchor::Identity, identities)
        .await
        .expect("tagged");
    s.tagged_ids(TagAnchor::Attacker, attackers)
        .await
        .expect("tagged");
    s.tagged_ids(TagAnchor::Session, &sessions)
        .await
        .expect("tagged");
    s.session_facts(&sessions).await.expect("facts");
    s.sessions_of_attackers(attackers).await.expect("sessions");
    s.attackers_of_identities(identities)
        .await
        .expect("attackers of");
    s.identities_of_campaigns(campaigns)
        .await
        .expect("identities of");
    s.merge_survivor(MergeTable::Identities, &identities[0])
        .await
        .expect("survivor");
    let mut statements = s.captured_statements();
    s.capture_statements(false);
    assert!(statements.len() >= 24, "captured {}", statements.len());
    // The summary refresh (after DECNET deletes or re-clusters) recomputes each dirty
    // group from its tags: through the group's scope, not the technique's tags fleet-wide.
    // (The fleet summary's groups are techniques: read by technique.)
    statements.extend(
        ttpgraph::store::refresh_statements(db.dialect)
            .into_iter()
            .filter(|sql| !sql.starts_with("UPDATE ttp_fleet_rollup"))
            .map(|sql| (sql, Vec::new())),
    );

    let mut report = Vec::new();
    for (sql, args) in &statements {
        let plan = s.explain(sql, args.clone()).await.expect("explain");
        // `t` is ttp_tag, `r` a per-scope summary table: both must be searched, not scanned.
        // The tags must also be reached through a scope column, not through a column
        // shared by much of the table (a `technique_id` index is "indexed" but reads a
        // large part of it).
        let scans: Vec<_> = plan
            .iter()
            .filter(|p| {
                let tags = ["t", "r", "ttp_tag"].contains(&p.table.as_str());
                tags && (p.full_scan || (p.table != "r" && !through_scope_column(&p.detail)))
            })
            .collect();
        if !scans.is_empty() {
            report.push(format!(
                "{sql}\n  -> {:?}",
                plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        report.is_empty(),
        "full scans of ttp_tag or a summary:\n{}",
        report.join("\n")
    );

    // The check can fail: the fleet rollup computed from the tags is a full scan.
    s.capture_statements(true);
    s.fleet_techniques_scan(&TechniqueFilter::default())
        .await
        .expect("scan");
    let (sql, args) = s.captured_statements().pop().expect("captured");
    s.capture_statements(false);
    let plan = s.explain(&sql, args).await.expect("explain");
    assert!(
        plan.iter().any(|p| p.full_scan && p.table == "t"),
        "a full scan is detected: {plan:?}"
    );
});

/// Does a plan step on `ttp_tag` seek by identity, attacker or session (SQLite's detail
/// names the equality; MySQL's names the index, all of which start with the column), or
/// fetch single rows by primary key (the inspector reads its `limit` rows that way)?
fn through_scope_column(detail: &str) -> bool {
    [
        "identity_uuid=",
        "attacker_uuid=",
        "session_id=",
        "(uuid=?)",
        "key=ix_ttp_tag_identity",
        "key=ix_ttp_tag_attacker",
        "key=ix_ttp_tag_session",
        "key=PRIMARY",
    ]
    .iter()
    .any(|c| detail.contains(c))
}

/// The pivots' and lists' statements: tags are reached through a scope column or the
/// technique pivot index (never a full scan), attackers through an index whenever a
/// filter is indexable, and each list order through its `(column, uuid)` index.
mod pivots {
    use super::*;
    use ttpgraph::store::Timestamp;
    use ttpgraph::store::ip::IpMatch;
    use ttpgraph::store::keyset::{Direction, Position, Slice, SortValue};
    use ttpgraph::store::pivot::{PivotOrder, PivotQuery, PivotScope};
    use ttpgraph::store::search::{
        AttackerFilter, AttackerOrder, CampaignFilter, CampaignOrder, IdentityFilter,
        IdentityOrder, TagMatch,
    };

    fn slice() -> Slice {
        Slice {
            dir: Direction::Desc,
            backward: false,
            cursor: None,
            size: 20,
        }
    }

    fn tags(ids: &[&str]) -> TagMatch {
        TagMatch {
            technique_ids: ids.iter().map(|s| s.to_string()).collect(),
            filter: TechniqueFilter {
                min_confidence: Some(0.5),
                ..Default::default()
            },
        }
    }

    /// Captures what `run` sends and returns each statement with its plan.
    async fn plans(
        s: &ttpgraph::store::Store,
        run: impl AsyncFnOnce(),
    ) -> Vec<(String, Vec<ttpgraph::store::explain::PlanStep>)> {
        s.capture_statements(true);
        run().await;
        let statements = s.captured_statements();
        s.capture_statements(false);
        let mut out = Vec::new();
        for (sql, args) in statements {
            let plan = s.explain(&sql, args).await.expect("explain");
            out.push((sql, plan));
        }
        out
    }

    fn report(sql: &str, plan: &[ttpgraph::store::explain::PlanStep]) -> String {
        format!(
            "{sql}\n  -> {:?}",
            plan.iter().map(|p| &p.detail).collect::<Vec<_>>()
        )
    }

    contract!(@make pivots_and_lists_use_their_indexes, |b| crate::store_plans::plans_db(b), |db| async move {
        let s = &db.store;
        if db.dialect == ttpgraph::store::Dialect::MySql {
            db.raw("ANALYZE TABLE ttp_tag, attackers, attacker_identities, campaigns")
                .await;
        }
        let (attackers, identities, campaigns) = node_ids(s, 1000).await;
        // A window over the whole fleet for the scoped reads (the scope must still be
        // the index), the fleet's last day for the fleet rollup (a range on time).
        let since = Timestamp(
            chrono::DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
                .expect("date")
                .to_utc(),
        );
        let last: Vec<String> = db
            .raw_column("SELECT CAST(MAX(created_at) AS CHAR) FROM ttp_tag")
            .await;
        let last_day = Timestamp(
            Timestamp::parse_text(&last[0]).expect("a datetime").0 - chrono::Duration::days(1),
        );
        let recent = TechniqueFilter {
            since: Some(last_day),
            ..Default::default()
        };
        let window = TechniqueFilter {
            since: Some(since),
            min_confidence: Some(0.5),
            ..Default::default()
        };

        // 1. Tags: never a full scan; pivots through the technique pivot index.
        let tag_plans = plans(s, async || {
            for scope in [
                PivotScope::Attacker,
                PivotScope::Identity,
                PivotScope::Campaign,
                PivotScope::Session,
            ] {
                let qs: Vec<(PivotQuery, Slice)> = ["T1083", "T1059.004"]
                    .iter()
                    .map(|t| {
                        let q = PivotQuery {
                            scope,
                            technique_id: t.to_string(),
                            filter: window.clone(),
                            order: PivotOrder::TagCount,
                        };
                        (q, slice())
                    })
                    .collect();
                s.technique_pivot_pages(&qs).await.expect("pivot pages");
                let only: Vec<PivotQuery> = qs.into_iter().map(|q| q.0).collect();
                s.technique_pivot_counts(&only).await.expect("pivot counts");
            }
            let f = AttackerFilter {
                tags: tags(&["T1110", "T1059.004"]),
                ..Default::default()
            };
            s.search_attackers(&f, AttackerOrder::TagCount, &slice())
                .await
                .expect("attackers");
            s.count_attackers(&f).await.expect("count");
            let f = IdentityFilter {
                tags: tags(&["T1083"]),
                ..Default::default()
            };
            s.search_identities(&f, IdentityOrder::LastSeen, &slice())
                .await
                .expect("identities");
            let f = CampaignFilter {
                tags: tags(&["T1083"]),
                ..Default::default()
            };
            s.search_campaigns(&f, CampaignOrder::LastSeen, &slice())
                .await
                .expect("campaigns");
            s.attacker_tag_counts(&attackers[..5])
                .await
                .expect("tag counts");
            s.techniques_by_identities(&identities[..3], &window)
                .await
                .expect("identity window");
            s.techniques_by_campaigns(&campaigns[..2], &window)
                .await
                .expect("campaign window");
            s.inspect_window(
                InspectorScope::Identity,
                &identities[0],
                "T1083",
                None,
                (Some(since), None),
                200,
            )
            .await
            .expect("inspect window");
            s.fleet_techniques(&recent).await.expect("fleet window");
        })
        .await;
        assert!(tag_plans.len() >= 16, "captured {}", tag_plans.len());
        let mut bad = Vec::new();
        for (sql, plan) in &tag_plans {
            for p in plan {
                let tags = ["t", "r", "ttp_tag"].contains(&p.table.as_str());
                // Pivots, and list probes a planner may turn into a semi-join, read one
                // technique's tags through the pivot index.
                let pivot =
                    sql.contains(") g WHERE 1 = 1") || sql.contains("EXISTS (SELECT 1 FROM");
                let fleet = sql.contains("FROM ttp_tag t WHERE t.created_at >= ?");
                let through = super::through_scope_column(&p.detail)
                    || (pivot && p.detail.contains("ix_ttp_tag_technique_pivot"))
                    || (fleet && p.detail.contains("created"));
                if tags && (p.full_scan || (p.table != "r" && !through)) {
                    bad.push(report(sql, plan));
                }
            }
        }
        assert!(
            bad.is_empty(),
            "tags not reached through an index:\n{}",
            bad.join("\n")
        );

        // 2. Attackers: indexable filters seek, every order reads its own index.
        let ip = IpMatch::parse("10.0.0.0/8").expect("ip");
        let attacker_plans = plans(s, async || {
            for f in [
                AttackerFilter {
                    identity_id: Some(identities[0].clone()),
                    ..Default::default()
                },
                AttackerFilter {
                    ip: Some(ip.clone()),
                    ..Default::default()
                },
            ] {
                s.search_attackers(&f, AttackerOrder::Id, &slice())
                    .await
                    .expect("search");
                s.count_attackers(&f).await.expect("count");
            }
            // A page from a cursor and its probe of the cursor's other side (exact
            // `hasPreviousPage`): both ways in uuid order (the default), forward in a
            // column's order. (Descending by a nullable column keeps an `OR … IS NULL`.)
            let mid = &attackers[attackers.len() / 2];
            let id_order = [
                (Direction::Asc, false),
                (Direction::Desc, false),
                (Direction::Asc, true),
            ];
            for (order, key, ways) in [
                (AttackerOrder::Id, SortValue::Text(mid.clone()), &id_order[..]),
                // 2026-01-01T00:00:00Z; last_seen is nullable, so the probe has a NULL part.
                (
                    AttackerOrder::LastSeen,
                    SortValue::Time(1_767_225_600_000_000),
                    &id_order[..1],
                ),
            ] {
                for &(dir, backward) in ways {
                    let from = Slice {
                        dir,
                        backward,
                        cursor: Some(Position {
                            key: key.clone(),
                            id: mid.clone(),
                        }),
                        size: 20,
                    };
                    s.search_attackers(&AttackerFilter::default(), order, &from)
                        .await
                        .expect("page from a cursor");
                }
            }
        })
        .await;
        for (sql, plan) in &attacker_plans {
            assert!(
                !plan
                    .iter()
                    .any(|p| p.full_scan && (p.table == "a" || p.table == "attackers")),
                "attackers scanned: {}",
                report(sql, plan)
            );
        }
        let orders = [
            (AttackerOrder::LastSeen, "ix_attackers_last_seen_uuid"),
            (AttackerOrder::FirstSeen, "ix_attackers_first_seen_uuid"),
            (AttackerOrder::EventCount, "ix_attackers_event_count_uuid"),
            (AttackerOrder::Ip, "ix_attackers_ip_uuid"),
        ];
        for (order, index) in orders {
            let p = plans(s, async || {
                s.search_attackers(&AttackerFilter::default(), order, &slice())
                    .await
                    .expect("ordered");
            })
            .await;
            let (sql, plan) = &p[0];
            // InnoDB's (column) index already ends with the primary key: either serves.
            let column_index = index.trim_end_matches("_uuid");
            assert!(
                plan.iter()
                    .any(|p| p.detail.contains(column_index) && !p.detail.contains("filesort")),
                "{order:?} reads {index}: {}",
                report(sql, plan)
            );
        }
        // MariaDB sorts the demo's ~300 identities rather than read an index (its
        // statistics say so); SQLite, without statistics, must take the index.
        if db.dialect == ttpgraph::store::Dialect::MySql {
            return;
        }
        for (order, index) in [
            (
                IdentityOrder::LastSeen,
                "ix_attacker_identities_last_seen_uuid",
            ),
            (
                IdentityOrder::ObservationCount,
                "ix_attacker_identities_observations_uuid",
            ),
        ] {
            let p = plans(s, async || {
                s.search_identities(&IdentityFilter::default(), order, &slice())
                    .await
                    .expect("ordered");
            })
            .await;
            let (sql, plan) = &p[0];
            assert!(
                plan.iter().any(|p| p.detail.contains(index)),
                "{order:?} reads {index}: {}",
                report(sql, plan)
            );
        }
    });
}
