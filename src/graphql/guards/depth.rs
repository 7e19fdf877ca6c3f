//! Selection depth, with introspection measured by its own rule.
//!
//! The standard introspection queries (GraphiQL's docs pane, Apollo's rover, codegen's
//! URL loader) nest 13–15 fields deep through the `TypeRef` fragment's `ofType` chain, past
//! the default `max_depth`, yet what makes introspection costly is fan-out and repetition,
//! not depth: `ofType` is one object per level, while lists of types × fields × args
//! multiply. So under a root `__schema` or `__type` field:
//! - depth may reach [`INTROSPECTION_MAX_DEPTH`] (the standard queries need 15);
//! - at most [`MAX_INTROSPECTION_LISTS`] list fields nest on one path (`types { fields
//!   { args } }` is 3; `types { fields { type { fields { type { fields …` is refused);
//! - an operation has at most [`MAX_INTROSPECTION_ROOTS`] `__schema`/`__type` fields, so
//!   aliasing the whole schema twenty times is refused too.
//!
//! Every other root field keeps `max_depth`. async-graphql's own depth limit is set to
//! the larger of the two (it cannot tell them apart) and this guard, which runs first,
//! enforces the split. Depth is counted as async-graphql counts it (one per field,
//! fragments inlined), memoised per fragment so doubling fragments stay linear.

use std::collections::HashMap;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned};

/// Deepest selection under `__schema`/`__type`.
pub const INTROSPECTION_MAX_DEPTH: usize = 20;
/// List-valued introspection fields nested on one path.
pub const MAX_INTROSPECTION_LISTS: usize = 3;
/// `__schema`/`__type` fields (aliases included) in one operation.
pub const MAX_INTROSPECTION_ROOTS: usize = 3;

/// The introspection fields that return lists (of types, fields, arguments, …).
const LIST_FIELDS: [&str; 8] = [
    "types",
    "fields",
    "args",
    "inputFields",
    "interfaces",
    "possibleTypes",
    "enumValues",
    "directives",
];

/// What a document asks for, per the measures above (the worst of its operations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Deepest path outside introspection.
    pub regular: usize,
    /// Deepest path under `__schema`/`__type`.
    pub introspection: usize,
    /// Most list fields nested on one introspection path.
    pub introspection_lists: usize,
    /// Most `__schema`/`__type` fields in one operation.
    pub introspection_roots: usize,
}

impl Depth {
    /// Whether the document introspects at all (`__typename` does not count).
    pub fn introspects(&self) -> bool {
        self.introspection_roots > 0
    }

    /// The first rule the document breaks, as a client-facing message.
    pub fn check(&self, max_depth: usize) -> Result<(), String> {
        if self.regular > max_depth {
            return Err(format!(
                "the query is nested too deep: {} levels; the limit is {max_depth}",
                self.regular
            ));
        }
        if self.introspection_roots > MAX_INTROSPECTION_ROOTS {
            return Err(format!(
                "an operation may select __schema or __type at most {MAX_INTROSPECTION_ROOTS} times, got {}",
                self.introspection_roots
            ));
        }
        if self.introspection > INTROSPECTION_MAX_DEPTH {
            return Err(format!(
                "the introspection query is nested too deep: {} levels; the limit is {INTROSPECTION_MAX_DEPTH}",
                self.introspection
            ));
        }
        if self.introspection_lists > MAX_INTROSPECTION_LISTS {
            return Err(format!(
                "the introspection query nests {} lists (types, fields, args, …); the limit is {MAX_INTROSPECTION_LISTS}",
                self.introspection_lists
            ));
        }
        Ok(())
    }
}

/// Depth and list nesting of a selection set.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    depth: usize,
    lists: usize,
}

impl Size {
    fn max(self, o: Size) -> Size {
        Size {
            depth: self.depth.max(o.depth),
            lists: self.lists.max(o.lists),
        }
    }
}

/// Memo key: a fragment measured in regular or introspection mode.
type Memo<'a> = HashMap<(&'a Name, bool), Option<Size>>;

/// Measures `doc` (fragment cycles were refused by the fan-out guard before this runs;
/// a cycle met here measures as empty rather than looping).
pub fn measure(doc: &ExecutableDocument) -> Depth {
    let mut memo = Memo::new();
    let mut out = Depth::default();
    for (_, op) in doc.operations.iter() {
        let mut roots = Vec::new();
        root_fields(doc, &op.node.selection_set, &mut roots, 0);
        let mut intro_roots = 0;
        for field in roots {
            let intro = matches!(field.node.name.node.as_str(), "__schema" | "__type");
            let inner = size(doc, &field.node.selection_set, intro, &mut memo);
            if intro {
                intro_roots += 1;
                out.introspection = out.introspection.max(inner.depth + 1);
                out.introspection_lists = out.introspection_lists.max(inner.lists);
            } else {
                out.regular = out.regular.max(inner.depth + 1);
            }
        }
        out.introspection_roots = out.introspection_roots.max(intro_roots);
    }
    out
}

/// The fields of an operation's root level, through inline fragments and spreads.
fn root_fields<'a>(
    doc: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    out: &mut Vec<&'a Positioned<async_graphql::parser::types::Field>>,
    nesting: usize,
) {
    // Bracket nesting was bounded before parsing and spread cycles refused by the fan-out
    // guard; this bound only keeps the walk finite should either change.
    if nesting > 256 {
        return;
    }
    for sel in &set.node.items {
        match &sel.node {
            Selection::Field(f) => out.push(f),
            Selection::InlineFragment(i) => {
                root_fields(doc, &i.node.selection_set, out, nesting + 1)
            }
            Selection::FragmentSpread(s) => {
                if let Some(def) = doc.fragments.get(&s.node.fragment_name.node) {
                    root_fields(doc, &def.node.selection_set, out, nesting + 1);
                }
            }
        }
    }
}

fn size<'a>(
    doc: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    intro: bool,
    memo: &mut Memo<'a>,
) -> Size {
    let mut total = Size::default();
    for sel in &set.node.items {
        let s = match &sel.node {
            Selection::Field(f) => {
                let inner = size(doc, &f.node.selection_set, intro, memo);
                let list = intro && LIST_FIELDS.contains(&f.node.name.node.as_str());
                Size {
                    depth: inner.depth + 1,
                    lists: inner.lists + usize::from(list),
                }
            }
            Selection::InlineFragment(i) => size(doc, &i.node.selection_set, intro, memo),
            Selection::FragmentSpread(s) => fragment(doc, &s.node.fragment_name.node, intro, memo),
        };
        total = total.max(s);
    }
    total
}

fn fragment<'a>(
    doc: &'a ExecutableDocument,
    name: &'a Name,
    intro: bool,
    memo: &mut Memo<'a>,
) -> Size {
    match memo.get(&(name, intro)) {
        Some(Some(s)) => return *s,
        Some(None) => return Size::default(),
        None => {}
    }
    let Some(def) = doc.fragments.get(name) else {
        return Size::default();
    };
    memo.insert((name, intro), None);
    let s = size(doc, &def.node.selection_set, intro, memo);
    memo.insert((name, intro), Some(s));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn depth(q: &str) -> Depth {
        measure(&parse_query(q).expect("parses"))
    }

    #[test]
    fn counts_as_async_graphql_does() {
        assert_eq!(depth("{ a }").regular, 1);
        assert_eq!(depth("{ a { b c { d } } }").regular, 3);
        assert_eq!(
            depth("{ ...F } fragment F on Query { a { ...G } } fragment G on A { b { c } }")
                .regular,
            3
        );
        assert!(!depth("{ __typename a { __typename } }").introspects());
    }

    #[test]
    fn introspection_is_measured_apart() {
        let d = depth(
            "{ a { b } __schema { types { fields { args { type { ...R } } } } } }
             fragment R on __Type { kind ofType { kind ofType { kind } } }",
        );
        assert_eq!(d.regular, 2);
        assert_eq!(d.introspection, 8);
        assert_eq!(d.introspection_lists, 3);
        assert_eq!(d.introspection_roots, 1);
        assert!(d.check(12).is_ok());
        // Fields after a list of fields after a list of fields: fan-out, refused.
        let fan = depth(
            "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
        );
        assert_eq!(fan.introspection_lists, 4);
        assert!(fan.check(12).unwrap_err().contains("lists"));
        // A hostile ofType chain: one object per level, but bounded all the same.
        let chain = format!(
            "{{ __type(name: \"Query\") {{ {} kind {} }} }}",
            "ofType { ".repeat(25),
            "}".repeat(25)
        );
        assert!(
            depth(&chain)
                .check(12)
                .unwrap_err()
                .contains("introspection query is nested too deep")
        );
        let roots = depth(
            "{ a: __schema { __typename } b: __schema { __typename } c: __type(name: \"X\") { name } d: __type(name: \"Y\") { name } }",
        );
        assert!(roots.check(12).unwrap_err().contains("at most 3 times"));
    }

    #[test]
    fn regular_fields_keep_the_regular_limit() {
        let deep = format!("{{ {} x {} }}", "a { ".repeat(12), "}".repeat(12));
        assert_eq!(depth(&deep).regular, 13);
        assert!(depth(&deep).check(12).unwrap_err().contains("too deep"));
    }
}
