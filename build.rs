//! Lists `playground/*.graphql` (with their `.json` variables) for the GraphiQL page,
//! which embeds them as its default tabs: a new playground file needs no code change.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playground");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
                .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut out = String::from("&[\n");
    for name in names {
        let query = dir.join(format!("{name}.graphql"));
        let vars = dir.join(format!("{name}.json"));
        let vars = if vars.exists() {
            format!("Some(include_str!({:?}))", vars.display().to_string())
        } else {
            "None".to_owned()
        };
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?}), {vars}),",
            query.display().to_string()
        );
    }
    out.push(']');
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("playground.rs");
    std::fs::write(dest, out).expect("write playground.rs");
}
