//! The size of a document with every fragment spread expanded, computed with one memo
//! entry per fragment: linear in the document, however the fragments multiply.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned};

/// What a document expands to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Fields selected once every fragment spread is inlined (saturating).
    pub expanded_fields: usize,
    /// Aliased fields, counted the same way.
    pub aliases: usize,
    /// Root fields of the largest operation.
    pub root_fields: usize,
}

/// Expanded size of a selection set: all fields, aliased fields, and fields at its own
/// level (what `root_fields` counts for an operation).
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    fields: usize,
    aliases: usize,
    top: usize,
}

impl Size {
    fn add(&mut self, o: Size) {
        self.fields = self.fields.saturating_add(o.fields);
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.top = self.top.saturating_add(o.top);
    }
}

#[derive(Clone, Copy)]
enum Memo {
    InProgress,
    Done(Size),
}

/// Measures `doc`; a fragment cycle is an error (GraphQL forbids them anyway).
pub fn measure(doc: &ExecutableDocument) -> Result<Shape, String> {
    let mut memo: HashMap<&Name, Memo> = HashMap::new();
    let mut shape = Shape::default();
    for (_, op) in doc.operations.iter() {
        let s = size(doc, &op.node.selection_set, &mut memo)?;
        shape.expanded_fields = shape.expanded_fields.saturating_add(s.fields);
        shape.aliases = shape.aliases.saturating_add(s.aliases);
        shape.root_fields = shape.root_fields.max(s.top);
    }
    Ok(shape)
}

fn size<'a>(
    doc: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    memo: &mut HashMap<&'a Name, Memo>,
) -> Result<Size, String> {
    let mut total = Size::default();
    for sel in &set.node.items {
        match &sel.node {
            Selection::Field(field) => {
                let inner = size(doc, &field.node.selection_set, memo)?;
                total.add(Size {
                    fields: inner.fields.saturating_add(1),
                    aliases: inner
                        .aliases
                        .saturating_add(usize::from(field.node.alias.is_some())),
                    top: 1,
                });
            }
            // Fragments merge into this level: their top-level fields are ours.
            Selection::InlineFragment(inline) => {
                total.add(size(doc, &inline.node.selection_set, memo)?)
            }
            Selection::FragmentSpread(spread) => {
                total.add(fragment(doc, &spread.node.fragment_name.node, memo)?)
            }
        }
    }
    Ok(total)
}

fn fragment<'a>(
    doc: &'a ExecutableDocument,
    name: &'a Name,
    memo: &mut HashMap<&'a Name, Memo>,
) -> Result<Size, String> {
    match memo.get(name) {
        Some(Memo::Done(s)) => return Ok(*s),
        Some(Memo::InProgress) => return Err(format!("fragment {name} spreads itself")),
        None => {}
    }
    // An unknown fragment is left for validation to report; it selects nothing here.
    let Some(def) = doc.fragments.get(name) else {
        return Ok(Size::default());
    };
    memo.insert(name, Memo::InProgress);
    let s = size(doc, &def.node.selection_set, memo)?;
    memo.insert(name, Memo::Done(s));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn shape(q: &str) -> Shape {
        measure(&parse_query(q).expect("parses")).expect("measures")
    }

    #[test]
    fn counts_fields_aliases_and_roots() {
        let s = shape("{ a b: c { d e } ...F } fragment F on Query { f g: h }");
        assert_eq!(
            s,
            Shape {
                expanded_fields: 6,
                aliases: 2,
                root_fields: 4
            }
        );
    }

    #[test]
    fn doubling_fragments_are_measured_in_linear_time() {
        // F0 → 2×F1 → 4×F2 … : 2^40 fields once expanded, measured instantly.
        let mut q = String::from("query { ...F0 }");
        for i in 0..40 {
            q.push_str(&format!(
                " fragment F{i} on Query {{ __typename ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        q.push_str(" fragment F40 on Query { __typename }");
        let started = std::time::Instant::now();
        let s = shape(&q);
        assert!(s.expanded_fields > 1 << 40, "{s:?}");
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
    }

    #[test]
    fn fragment_cycles_are_refused() {
        let doc = parse_query("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
            .expect("parses");
        assert!(measure(&doc).is_err());
    }
}
