//! Lists `playground/*.graphql` (with their `.json` variables) for the GraphiQL page,
//! which embeds them as its default tabs: a new playground file needs no code change.
//! Also tells cargo to rebuild when a migration file is added.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // The manifest directory as cargo passes it when the script *runs*, not `env!` at its
    // compile time: a moved checkout or target directory reuses the compiled script, which
    // would then list a directory that no longer exists.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("playground");
    println!("cargo:rerun-if-changed={}", dir.display());
    // `sqlx::migrate!` embeds the migration folders, but cargo does not see a *new* file
    // there: without this, a build after adding a migration kept the old list.
    println!("cargo:rerun-if-changed=migrations");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
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
