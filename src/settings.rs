//! Where each setting comes from: flags, then environment, then the config file
//! (`ttpgraph.toml`), then defaults. clap already does flags > environment > defaults and
//! tells, per argument, which one gave the value; the file is slotted in under the first
//! two by handing its values to clap as extra flags for every argument that neither a
//! flag nor a variable set. So the file accepts every flag (by its long name, `-` or `_`),
//! and is checked by the same parsers as the command line.
//!
//! `ttpgraph config` prints the outcome for `serve`, each value with its source, secrets
//! redacted; the output is itself a valid `ttpgraph.toml`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::Cli;
use crate::config::{DEFAULT_DATABASE_URL, redact_url};

/// The file read when neither `--config` nor `TTPGRAPH_CONFIG` names one (if it exists).
pub const DEFAULT_CONFIG_FILE: &str = "ttpgraph.toml";

/// Arguments that the file cannot set.
const NOT_IN_FILE: &[&str] = &["config", "help", "version"];

/// Arguments whose value is a secret: printed as `***`.
const SECRETS: &[&str] = &["jwt_secret", "metrics_token"];

/// The parsed command line with the file applied.
pub struct Loaded {
    pub cli: Cli,
    /// The final matches (for `ttpgraph config`).
    pub matches: ArgMatches,
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// Argument ids whose value came from the file.
    pub from_file: BTreeSet<String>,
}

/// Why the command line could not be loaded.
pub enum LoadError {
    /// clap's own answer (`--help`, `--version`, a bad flag): print and exit as clap does.
    Clap(clap::Error),
    /// A config file problem, with the file named.
    File(String),
}

/// Parses `argv`, reads the config file and applies it under flags and environment.
pub fn load(argv: Vec<OsString>) -> Result<Loaded, LoadError> {
    let cmd = Cli::command();
    let first = cmd
        .clone()
        .try_get_matches_from(&argv)
        .map_err(LoadError::Clap)?;
    let Some(path) = config_path(&first).map_err(LoadError::File)? else {
        let cli = Cli::from_arg_matches(&first).map_err(LoadError::Clap)?;
        return Ok(Loaded {
            cli,
            matches: first,
            file: None,
            from_file: BTreeSet::new(),
        });
    };
    let in_file = |e: String| LoadError::File(format!("config file {}: {e}", path.display()));
    let table = read_table(&path).map_err(in_file)?;
    check_keys(&cmd, &table).map_err(in_file)?;
    warn_if_readable(&path, &table);

    let mut extra = Vec::new();
    let mut from_file = BTreeSet::new();
    // Global arguments are matched at the top; each subcommand's own at its level.
    apply(&cmd, &first, &table, true, &mut extra, &mut from_file).map_err(in_file)?;
    let (mut c, mut m) = (&cmd, &first);
    while let Some((name, sub)) = m.subcommand() {
        let Some(sc) = c.find_subcommand(name) else {
            break;
        };
        apply(sc, sub, &table, false, &mut extra, &mut from_file).map_err(in_file)?;
        (c, m) = (sc, sub);
    }
    let matches = if extra.is_empty() {
        first
    } else {
        let mut all = argv;
        all.extend(extra);
        cmd.try_get_matches_from(all)
            .map_err(|e| in_file(e.render().to_string()))?
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| in_file(e.to_string()))?;
    Ok(Loaded {
        cli,
        matches,
        file: Some(path),
        from_file,
    })
}

/// `--config` / `TTPGRAPH_CONFIG` (which must exist), else `./ttpgraph.toml` if present.
fn config_path(m: &ArgMatches) -> Result<Option<PathBuf>, String> {
    if let Some(p) = m.get_one::<PathBuf>("config") {
        if !p.is_file() {
            return Err(format!(
                "config file {} does not exist (set by --config or TTPGRAPH_CONFIG)",
                p.display()
            ));
        }
        return Ok(Some(p.clone()));
    }
    let default = PathBuf::from(DEFAULT_CONFIG_FILE);
    Ok(default.is_file().then_some(default))
}

fn read_table(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("not valid TOML: {e}"))
}

/// The file key of an argument: its long flag name.
fn key_of(arg: &clap::Arg) -> Option<&str> {
    let long = arg.get_long()?;
    (!NOT_IN_FILE.contains(&arg.get_id().as_str())).then_some(long)
}

/// Every key the file may hold: the long flags of every command.
fn known_keys(cmd: &clap::Command, out: &mut BTreeSet<String>) {
    out.extend(cmd.get_arguments().filter_map(key_of).map(str::to_owned));
    for sc in cmd.get_subcommands() {
        known_keys(sc, out);
    }
}

/// Unknown keys and sections are errors naming the key (a typo must not be ignored).
fn check_keys(cmd: &clap::Command, table: &toml::Table) -> Result<(), String> {
    let mut known = BTreeSet::new();
    known_keys(cmd, &mut known);
    for (key, value) in table {
        if value.is_table() {
            return Err(format!(
                "[{key}]: sections are not supported; write every setting at the top level"
            ));
        }
        if !known.contains(&key.replace('_', "-")) {
            return Err(format!(
                "unknown setting {key:?}; the settings are the long flags of `ttpgraph \
                 <command> --help` without their dashes (`ttpgraph config` prints them)"
            ));
        }
    }
    Ok(())
}

/// Adds, for each argument of `cmd` that the file sets and neither a flag nor the
/// environment did, the equivalent `--flag=value`s to `extra`.
fn apply(
    cmd: &clap::Command,
    m: &ArgMatches,
    table: &toml::Table,
    globals: bool,
    extra: &mut Vec<OsString>,
    from_file: &mut BTreeSet<String>,
) -> Result<(), String> {
    for arg in cmd.get_arguments() {
        if arg.is_global_set() != globals {
            continue;
        }
        let Some(long) = key_of(arg) else { continue };
        let Some(value) = table
            .get(long)
            .or_else(|| table.get(&long.replace('-', "_")))
        else {
            continue;
        };
        let id = arg.get_id().as_str();
        let set = matches!(
            m.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if set || fallback_env(id).is_some() {
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Result<_, _>>()?,
            v => vec![scalar(v)?],
        };
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            match values.as_slice() {
                [v] if v == "true" => extra.push(format!("--{long}").into()),
                [v] if v == "false" => {}
                _ => return Err(format!("{long} is true or false")),
            }
        } else {
            extra.extend(values.iter().map(|v| format!("--{long}={v}").into()));
        }
        from_file.insert(id.to_owned());
    }
    Ok(())
}

fn scalar(v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            Err("nested arrays and tables are not settings".into())
        }
    }
}

/// The older variables read after a flag's own (`config.rs`): set, they are the
/// environment, and so beat the file.
fn fallback_env(id: &str) -> Option<(&'static str, String)> {
    let name = match id {
        "database_url" => "DATABASE_URL",
        "jwt_secret" => "DECNET_JWT_SECRET",
        _ => return None,
    };
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| (name, v))
}

/// A file holding a secret should not be readable by every user.
fn warn_if_readable(path: &Path, table: &toml::Table) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let secret = SECRETS
            .iter()
            .any(|s| table.contains_key(&s.replace('_', "-")) || table.contains_key(*s))
            || ["database-url", "database_url"].iter().any(|k| {
                table
                    .get(*k)
                    .and_then(|v| v.as_str())
                    .is_some_and(|u| redact_url(u) != u)
            });
        let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode());
        if secret && mode & 0o004 != 0 {
            eprintln!(
                "warning: {} holds a secret and every user can read it: chmod 600 (or 640 \
                 with the service's group)",
                path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, table);
}

/// Where one value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(String),
    File,
    Default,
    Unset,
}

/// `ttpgraph config`: every setting of `serve` (the `config` command takes the same
/// arguments) and the global ones, as TOML, each with its source.
pub fn report(loaded: &Loaded) -> String {
    let cmd = Cli::command();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# ttpgraph's effective configuration for `serve`\n\
         # precedence: flags > environment > config file > defaults"
    );
    let _ = match &loaded.file {
        Some(p) => writeln!(out, "# config file: {}", p.display()),
        None => writeln!(
            out,
            "# config file: none (--config, TTPGRAPH_CONFIG or ./{DEFAULT_CONFIG_FILE})"
        ),
    };
    let Some(("config", sub)) = loaded.matches.subcommand() else {
        return out;
    };
    let Some(sc) = cmd.find_subcommand("config") else {
        return out;
    };
    let globals = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| (a, &loaded.matches));
    let own = sc
        .get_arguments()
        .filter(|a| !a.is_global_set())
        .map(|a| (a, sub));
    let mut rows = Vec::new();
    for (arg, m) in globals.chain(own) {
        let Some(key) = arg.get_long() else { continue };
        let id = arg.get_id().as_str();
        if NOT_IN_FILE.contains(&id) {
            continue;
        }
        let (value, source) = value_and_source(arg, m, &loaded.from_file);
        rows.push((key.to_owned(), value, source));
    }
    let width = rows
        .iter()
        .map(|(k, v, _)| k.len() + v.as_ref().map_or(0, String::len) + 3)
        .max()
        .unwrap_or(0);
    for (key, value, source) in rows {
        let source = match source {
            Source::Flag => "flag".to_owned(),
            Source::Env(name) => format!("env {name}"),
            Source::File => "config file".to_owned(),
            Source::Default => "default".to_owned(),
            Source::Unset => "unset".to_owned(),
        };
        let line = match value {
            Some(v) => format!("{key} = {v}"),
            None => format!("# {key}"),
        };
        let _ = writeln!(out, "{line:width$}  # {source}");
    }
    out
}

fn value_and_source(
    arg: &clap::Arg,
    m: &ArgMatches,
    from_file: &BTreeSet<String>,
) -> (Option<String>, Source) {
    let id = arg.get_id().as_str();
    let raw: Option<Vec<String>> = m
        .get_raw(id)
        .map(|vs| vs.map(|v| v.to_string_lossy().into_owned()).collect());
    let mut source = match m.value_source(id) {
        _ if from_file.contains(id) => Source::File,
        Some(ValueSource::CommandLine) => Source::Flag,
        Some(ValueSource::EnvVariable) => Source::Env(
            arg.get_env()
                .map(|e| e.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        Some(ValueSource::DefaultValue) => Source::Default,
        _ => Source::Unset,
    };
    // Addresses as parsed (`8081` is 127.0.0.1:8081); everything else as given.
    let mut values = match m.try_get_one::<std::net::SocketAddr>(id) {
        Ok(Some(addr)) => vec![addr.to_string()],
        _ => raw.unwrap_or_default(),
    };
    if source == Source::Unset {
        if let Some((name, v)) = fallback_env(id) {
            source = Source::Env(name.to_owned());
            values = vec![v];
        } else if id == "database_url" {
            source = Source::Default;
            values = vec![DEFAULT_DATABASE_URL.to_owned()];
        }
    }
    let flag = matches!(arg.get_action(), ArgAction::SetTrue);
    let rendered = if flag {
        Some(m.get_flag(id).to_string())
    } else if values.is_empty() {
        if matches!(arg.get_action(), ArgAction::Append) {
            Some("[]".to_owned())
        } else {
            None
        }
    } else {
        let shown: Vec<String> = values.iter().map(|v| toml_value(&redact(id, v))).collect();
        if matches!(arg.get_action(), ArgAction::Append) {
            Some(format!("[{}]", shown.join(", ")))
        } else {
            shown.into_iter().next()
        }
    };
    (rendered, source)
}

fn redact(id: &str, v: &str) -> String {
    if SECRETS.contains(&id) {
        "***".to_owned()
    } else if id == "database_url" {
        redact_url(v)
    } else {
        v.to_owned()
    }
}

/// A bare integer, or a quoted string (JSON string escapes are valid TOML).
fn toml_value(v: &str) -> String {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && v.len() < 19 {
        v.to_owned()
    } else {
        serde_json::to_string(v).unwrap_or_else(|_| "\"?\"".to_owned())
    }
}
