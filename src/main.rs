//! The `ttpgraph` binary: everything lives in the library; see `ttpgraph --help`.

/// mimalloc instead of glibc's malloc: responses and rollups are many small, short-lived
/// allocations, made and freed on different threads. Measured (BENCHMARKS.md,
/// "Profiles"): 1.3–2× the requests/s on SQLite rollups, at some extra peak RSS.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ttpgraph::cli::main()
}
