//! Answers list an object's fields in the order the query asks for them.
//!
//! The GraphQL spec (§7.2.2, "Serialized Map Ordering") has a JSON answer keep the
//! order of the selection set, and GraphiQL users read answers that way. async-graphql
//! resolves sibling fields concurrently and inserts each as it completes
//! (async-graphql/async-graphql#612), so a node whose `techniques` waits on a DataLoader
//! could come back with `identity` first, differently from one request to the next.
//! This pass puts every object's keys back in the order of the spec's CollectFields:
//! first occurrence, fragments (named and inline) expanded in place, a key's
//! sub-selections merged. Type conditions are not evaluated: a key only a non-matching
//! fragment selects is absent from the object anyway.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Name, Value};

/// The order of an operation's response keys, at every depth: built once per request from
/// the query (its size is the query's, bounded by the guards' expanded-field limit), then
/// laid over the answer.
#[derive(Debug, Default)]
pub struct FieldOrder {
    keys: Vec<(Name, FieldOrder)>,
}

/// Fragments nest at most this deep here (validation has refused cycles already; this
/// only bounds the walk should one get through).
const MAX_FRAGMENT_DEPTH: usize = 32;

/// Selections nest at most this deep here: far beyond the depth guard (`--max-depth`),
/// a bound of its own so the walk never depends on another layer's limit.
const MAX_SELECTION_DEPTH: usize = 256;

impl FieldOrder {
    /// The order of `doc`'s operation named `operation` (the document's only one when
    /// `None`); `None` when there is no such operation.
    pub fn of(doc: &ExecutableDocument, operation: Option<&str>) -> Option<Self> {
        let op = match (&doc.operations, operation) {
            (DocumentOperations::Single(op), _) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
            (DocumentOperations::Multiple(_), None) => return None,
        };
        Some(Self::build(doc, &[&op.node.selection_set.node], 0))
    }

    fn build(doc: &ExecutableDocument, sets: &[&SelectionSet], depth: usize) -> Self {
        let mut keys: Vec<(&Name, Vec<&SelectionSet>)> = Vec::new();
        for set in sets {
            collect(doc, set, &mut keys, 0);
        }
        let keys = keys
            .into_iter()
            .map(|(key, subs)| {
                let sub = if subs.is_empty() || depth > MAX_SELECTION_DEPTH {
                    Self::default()
                } else {
                    Self::build(doc, &subs, depth + 1)
                };
                (key.clone(), sub)
            })
            .collect();
        Self { keys }
    }

    /// Puts `value`'s objects (at any depth, through lists) in this order. An object
    /// already in order (every field that completed in turn) is left as it is.
    pub fn restore(&self, value: &mut Value) {
        match value {
            Value::List(items) => items.iter_mut().for_each(|v| self.restore(v)),
            Value::Object(map) => {
                if !self.holds(map.keys()) {
                    let mut old = std::mem::take(map);
                    for (key, _) in &self.keys {
                        if let Some((k, v)) = old.swap_remove_entry(key) {
                            map.insert(k, v);
                        }
                    }
                    // Nothing should be left; if something is (a key this order did not
                    // foresee), it is kept, after the others.
                    map.extend(old);
                }
                for (key, sub) in &self.keys {
                    if !sub.keys.is_empty()
                        && let Some(v) = map.get_mut(key)
                    {
                        sub.restore(v);
                    }
                }
            }
            _ => {}
        }
    }

    /// Do `present` keys come in this order (some of it may be absent)?
    fn holds<'a>(&self, present: impl Iterator<Item = &'a Name>) -> bool {
        let mut order = self.keys.iter();
        present.into_iter().all(|k| order.any(|(o, _)| o == k))
    }
}

/// Appends `set`'s response keys, in order, to `keys` (a key seen before gets this
/// occurrence's sub-selection merged into it).
fn collect<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    keys: &mut Vec<(&'a Name, Vec<&'a SelectionSet>)>,
    depth: usize,
) {
    if depth > MAX_FRAGMENT_DEPTH {
        return;
    }
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                let sub = &field.node.selection_set.node;
                let at = match keys.iter().position(|(k, _)| *k == key) {
                    Some(at) => at,
                    None => {
                        keys.push((key, Vec::new()));
                        keys.len() - 1
                    }
                };
                if !sub.items.is_empty() {
                    keys[at].1.push(sub);
                }
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    collect(doc, &fragment.node.selection_set.node, keys, depth + 1);
                }
            }
            Selection::InlineFragment(inline) => {
                collect(doc, &inline.node.selection_set.node, keys, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Value) -> Vec<String> {
        match v {
            Value::Object(m) => m.keys().map(|k| k.to_string()).collect(),
            _ => panic!("not an object: {v}"),
        }
    }

    #[test]
    fn objects_come_back_in_selection_order_through_lists_and_fragments() {
        let doc = async_graphql::parser::parse_query(
            "query Q { attackers { nodes { ip ...F techniques { count techniqueId } \
             ... on Attacker { id ip } } } } fragment F on Attacker { identity { id } x: ip }",
        )
        .expect("parses");
        // As completion order could have left it: everything backwards.
        let mut data = Value::from_json(serde_json::json!({
            "attackers": { "nodes": [
                { "id": "1", "techniques": [{ "techniqueId": "T1", "count": 2 }], "x": "a",
                  "identity": { "id": "i" }, "ip": "a" },
                { "techniques": [], "x": "b", "identity": null, "ip": "b", "id": "2" }
            ] }
        }))
        .expect("json");
        FieldOrder::of(&doc, Some("Q"))
            .expect("Q")
            .restore(&mut data);
        let Value::Object(root) = &data else { panic!() };
        let Value::Object(list) = &root["attackers"] else {
            panic!()
        };
        let Value::List(nodes) = &list["nodes"] else {
            panic!()
        };
        for n in nodes {
            assert_eq!(keys(n), ["ip", "identity", "x", "techniques", "id"]);
        }
        let Value::Object(first) = &nodes[0] else {
            panic!()
        };
        let Value::List(t) = &first["techniques"] else {
            panic!()
        };
        assert_eq!(keys(&t[0]), ["count", "techniqueId"]);
        // Another operation name, or none in a document of several: no order.
        let two =
            async_graphql::parser::parse_query("query A { b a } query B { a b }").expect("parses");
        assert!(FieldOrder::of(&two, None).is_none());
        assert!(FieldOrder::of(&two, Some("C")).is_none());
        let mut d = Value::from_json(serde_json::json!({ "a": 1, "b": 2 })).expect("json");
        FieldOrder::of(&two, Some("A")).expect("A").restore(&mut d);
        assert_eq!(keys(&d), ["b", "a"]);
        // An object with some keys absent (a fragment on another type) is in order when
        // the present ones are.
        let order = FieldOrder::of(&two, Some("B")).expect("B");
        let names = |v: &[&str]| v.iter().map(Name::new).collect::<Vec<_>>();
        assert!(order.holds(names(&["a", "b"]).iter()));
        assert!(order.holds(names(&["b"]).iter()));
        assert!(!order.holds(names(&["b", "a"]).iter()));
        assert!(!order.holds(names(&["c"]).iter()));
    }
}
