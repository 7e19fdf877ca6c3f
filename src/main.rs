//! The `ttpgraph` binary: everything lives in the library; see `ttpgraph --help`.

fn main() -> std::process::ExitCode {
    ttpgraph::cli::main()
}
