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

/// Puts `data`'s objects in `doc`'s selection order for the operation named `operation`
/// (the document's only one when `None`).
pub fn restore(doc: &ExecutableDocument, operation: Option<&str>, data: &mut Value) {
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
            Some(op) => op,
            None => return,
        },
        (DocumentOperations::Multiple(_), None) => return,
    };
    order(doc, &[&op.node.selection_set.node], data);
}

/// Orders `value` (an object, or a list of them at any depth) by the merged `sets`.
fn order(doc: &ExecutableDocument, sets: &[&SelectionSet], value: &mut Value) {
    match value {
        Value::List(items) => {
            for item in items {
                order(doc, sets, item);
            }
        }
        Value::Object(map) => {
            let mut keys: Vec<(&Name, Vec<&SelectionSet>)> = Vec::new();
            for set in sets {
                collect(doc, set, &mut keys, 0);
            }
            let mut old = std::mem::take(map);
            for (key, subs) in keys {
                if let Some((k, mut v)) = old.swap_remove_entry(key) {
                    if !subs.is_empty() {
                        order(doc, &subs, &mut v);
                    }
                    map.insert(k, v);
                }
            }
            // Nothing should be left; if something is (a key this pass did not foresee),
            // it is kept, after the others.
            map.extend(old);
        }
        _ => {}
    }
}

/// Fragments nest at most this deep here (validation has refused cycles already; this
/// only bounds the walk should one get through).
const MAX_FRAGMENT_DEPTH: usize = 32;

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
        restore(&doc, Some("Q"), &mut data);
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
        // Another operation name, or none in a document of several: left as it is.
        let two =
            async_graphql::parser::parse_query("query A { b a } query B { a b }").expect("parses");
        let mut d = Value::from_json(serde_json::json!({ "a": 1, "b": 2 })).expect("json");
        restore(&two, None, &mut d);
        assert_eq!(keys(&d), ["a", "b"]);
        restore(&two, Some("A"), &mut d);
        assert_eq!(keys(&d), ["b", "a"]);
    }
}
