//! Rows written the way DECNET writes them (raw SQL from another client) read back right.

use crate::contract;
use crate::fixtures::*;
use crate::store_support::DECNET_TAG_COLUMNS as COLS;
use ttpgraph::store::{Dialect, InspectorScope, TechniqueFilter};

contract!(
    decnet_written_datetimes_and_floats_read_back,
    |db| async move {
        let (t1, t2, t3) = match db.dialect {
            // DECNET's SQLite form always has six fraction digits; older rows and other
            // writers may lack them, and MIN/MAX must still order them right.
            Dialect::Sqlite => (
                "2026-05-16 17:45:00.598271",
                "2026-05-16 17:45:01",
                "2026-05-16 17:44:59.000000",
            ),
            Dialect::MySql => (
                "2026-05-16 17:45:00",
                "2026-05-16 17:45:01",
                "2026-05-16 17:44:59",
            ),
        };
        db.raw(&format!(
        "INSERT INTO ttp_tag ({COLS}) VALUES \
         ('u-1', 'command', 's#1', '{A1}', NULL, NULL, 'omega-decky', 'TA0007', 'T1083', NULL, 0.532, 'R0013', 1, '{{\"command_text\": \"cat /etc/passwd\"}}', 'v15.1', NULL, '{t1}'), \
         ('u-2', 'command', 's#2', '{A1}', NULL, NULL, 'omega-decky', 'TA0007', 'T1083', NULL, 0.85, 'R0013', 1, '{{}}', 'v15.1', NULL, '{t2}'), \
         ('u-3', 'command', 's#3', '{A1}', NULL, NULL, 'omega-decky', 'TA0007', 'T1083', NULL, 0.7, 'R0013', 1, '{{}}', 'v15.1', NULL, '{t3}')"
    ))
    .await;
        let r = db
            .store
            .techniques_by_attacker(A1, &TechniqueFilter::default())
            .await
            .expect("rollup");
        assert_eq!(r[0].count, 3);
        assert_eq!(r[0].first_seen.0.to_rfc3339(), "2026-05-16T17:44:59+00:00");
        assert_eq!(r[0].last_seen.0.to_rfc3339(), "2026-05-16T17:45:01+00:00");
        let rows = db
            .store
            .inspect(InspectorScope::Attacker, A1, "T1083", None, 10)
            .await
            .expect("inspect");
        assert_eq!(
            rows.iter().map(|t| t.uuid.as_str()).collect::<Vec<_>>(),
            vec!["u-2", "u-1", "u-3"]
        );
        let micros = if db.dialect == Dialect::Sqlite {
            598_271
        } else {
            0
        };
        assert_eq!(rows[1].created_at.0.timestamp_subsec_micros(), micros);
        // FLOAT on MySQL: the shortest form of the stored f32, not 0.5320000052452087.
        assert_eq!(rows[1].confidence.0.to_string(), "0.532");
        assert_eq!(
            rows[1].evidence.to_value()["command_text"],
            "cat /etc/passwd"
        );
    }
);

contract!(ttpgraph_writes_decnets_text_forms, |db| async move {
    let mut t = tag("cmd_1", Some(A1), None, "T1083", None);
    t.created_at = Some(at(0) + chrono::Duration::microseconds(7));
    t.evidence = serde_json::json!({"command_text": "café", "user": "root"});
    db.store.insert_tags(&[t]).await.expect("insert");
    if db.dialect == Dialect::Sqlite {
        let text = sqlx_text(&db, "SELECT created_at FROM ttp_tag").await;
        assert_eq!(
            text, "2026-05-16 00:00:00.000007",
            "space separator, six fraction digits"
        );
    }
    let ev = sqlx_text(&db, "SELECT CAST(evidence AS CHAR) FROM ttp_tag").await;
    assert_eq!(
        ev, r#"{"command_text": "caf\u00e9", "user": "root"}"#,
        "Python json.dumps form"
    );
});

async fn sqlx_text(db: &crate::support::TestDb, sql: &str) -> String {
    use sqlx::AssertSqlSafe;
    match db.dialect {
        Dialect::Sqlite => {
            let p = sqlx::SqlitePool::connect(&db.url).await.expect("pool");
            sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
                .fetch_one(&p)
                .await
                .expect("text")
        }
        Dialect::MySql => {
            let p = sqlx::MySqlPool::connect(&db.url).await.expect("pool");
            let b: Vec<u8> = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
                .fetch_one(&p)
                .await
                .expect("text");
            String::from_utf8(b).expect("utf8")
        }
    }
}
