//! The configuration reference (`vigie config reference`, committed as
//! `docs/configuration.md`): every key of the configuration file, every environment variable
//! and every command-line flag, read from the code (the file's schema with its doc comments,
//! the command line's definition), so it cannot drift; a test compares the committed file.

use crate::cli::Cli;
use crate::config::{ENV_ONLY, FileConfig};
use clap::CommandFactory;
use serde_json::Value;
use std::fmt::Write as _;

/// The reference, as Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the code by `vigie config reference` (a test fails when this file \
         differs: regenerate it with `cargo run -p vigie-tileserver -- config reference > \
         docs/configuration.md`).\n\n\
         Precedence: built-in defaults < configuration file (`--config FILE`) < command-line \
         flags. Secrets come from the environment only. Check a file without starting the \
         server with `vigie config check FILE`.\n\n",
    );
    out.push_str("## Configuration file (TOML)\n\nUnknown keys are refused with their name, line and column.\n\n");
    let schema = schemars::schema_for!(FileConfig);
    let root = schema.as_value();
    let defs = root.get("$defs").cloned().unwrap_or(Value::Null);
    table(&mut out, "", root, &defs);
    out.push_str("## Environment variables\n\n| Variable | Meaning |\n|---|---|\n");
    let mut env: Vec<(String, String)> = Vec::new();
    each_command(&Cli::command(), &mut |_, arg| {
        if let (Some(var), Some(long)) = (arg.get_env(), arg.get_long()) {
            let var = var.to_string_lossy().into_owned();
            if !env.iter().any(|(v, _)| *v == var) {
                env.push((var, format!("as `--{long}`: {}", one_line(&help(arg)))));
            }
        }
    });
    env.extend(ENV_ONLY.iter().map(|(v, m)| ((*v).to_owned(), (*m).to_owned())));
    env.sort();
    for (var, meaning) in env {
        let _ = writeln!(out, "| `{var}` | {meaning} |");
    }
    out.push_str("\n## Command line\n\n");
    let cli = Cli::command();
    let serve: Vec<String> = cli
        .find_subcommand("serve")
        .map(|c| c.get_arguments().map(|a| a.get_id().to_string()).collect())
        .unwrap_or_default();
    commands(&mut out, &cli, "vigie", &serve);
    out
}

/// Visits every argument of `cmd` and of its subcommands, with the command's path.
fn each_command(cmd: &clap::Command, visit: &mut dyn FnMut(&str, &clap::Arg)) {
    for arg in cmd.get_arguments() {
        visit(cmd.get_name(), arg);
    }
    for sub in cmd.get_subcommands() {
        each_command(sub, visit);
    }
}

fn help(arg: &clap::Arg) -> String {
    arg.get_long_help().or_else(|| arg.get_help()).map(ToString::to_string).unwrap_or_default()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// The flags of `cmd` (a section), then its subcommands'. The flags of `vigie serve` (ids in
/// `serve`) that other commands take to find the store are listed once, under `vigie serve`.
fn commands(out: &mut String, cmd: &clap::Command, path: &str, serve: &[String]) {
    let own = |a: &&clap::Arg| path == "vigie serve" || !serve.iter().any(|id| id == a.get_id().as_str());
    let all: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| {
            !matches!(a.get_id().as_str(), "help" | "version") && !a.is_global_set()
                || path == "vigie" && a.is_global_set()
        })
        .collect();
    let args: Vec<&clap::Arg> = all.iter().copied().filter(|a| own(a)).collect();
    let about = cmd.get_long_about().or_else(|| cmd.get_about()).map(ToString::to_string).unwrap_or_default();
    let _ = writeln!(out, "### `{path}`\n\n{}\n", one_line(&about));
    if args.len() < all.len() {
        out.push_str(
            "Takes the flags of `vigie serve` that name the configuration, store and workspace \
             (`--config`, `--data-dir`, `--workspace`, `DATABASE_URL`...).\n\n",
        );
    }
    if !args.is_empty() {
        out.push_str("| Argument | Environment | Meaning |\n|---|---|---|\n");
        for arg in args {
            let name = match (arg.get_long(), arg.get_short()) {
                (Some(l), Some(s)) => format!("`-{s}`, `--{l}`"),
                (Some(l), None) => format!("`--{l}`"),
                _ => format!("`{}`", arg.get_value_names().and_then(|n| n.first()).map_or("ARG", |n| n.as_str())),
            };
            let env = arg.get_env().map_or_else(String::new, |v| format!("`{}`", v.to_string_lossy()));
            let defaults: Vec<String> =
                arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
            let mut meaning = one_line(&help(arg));
            if !defaults.is_empty() && !meaning.contains("[default") {
                let _ = write!(meaning, " [default: {}]", defaults.join(", "));
            }
            if arg.is_global_set() {
                meaning.push_str(" (any subcommand)");
            }
            let _ = writeln!(out, "| {name} | {env} | {meaning} |");
        }
        out.push('\n');
    }
    for sub in cmd.get_subcommands() {
        commands(out, sub, &format!("{path} {}", sub.get_name()), serve);
    }
}

/// The keys of one table of the file (`prefix` is its dotted name), then its sub-tables.
fn table(out: &mut String, prefix: &str, schema: &Value, defs: &Value) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
    if !prefix.is_empty() {
        let _ = writeln!(out, "### `[{prefix}]`\n");
        if let Some(d) = schema.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", one_line(d));
        }
    }
    out.push_str("| Key | Type | Meaning |\n|---|---|---|\n");
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map_or_else(Vec::new, |r| r.iter().filter_map(Value::as_str).collect());
    let mut tables = Vec::new();
    for (key, prop) in props {
        let resolved = resolve(prop, defs);
        let description = prop.get("description").or_else(|| resolved.get("description")).and_then(Value::as_str);
        let full = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        if resolved.get("properties").is_some() {
            let _ = writeln!(out, "| `{full}` | table | {} (see `[{full}]`) |", one_line(description.unwrap_or("")));
            tables.push((full, resolved));
        } else {
            let needed = if required.contains(&key.as_str()) { " (required)" } else { "" };
            let _ = writeln!(
                out,
                "| `{full}` | {}{needed} | {} |",
                kind(resolved, defs),
                one_line(description.unwrap_or(""))
            );
        }
    }
    out.push('\n');
    for (name, t) in tables {
        table(out, &name, t, defs);
    }
}

/// The schema behind a reference, or the non-null member of an optional value.
fn resolve<'a>(schema: &'a Value, defs: &'a Value) -> &'a Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or("");
        return defs.get(name).map_or(schema, |d| resolve(d, defs));
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array)
        && let [one] =
            any.iter().filter(|s| s.get("type").and_then(Value::as_str) != Some("null")).collect::<Vec<_>>()[..]
    {
        return resolve(one, defs);
    }
    schema
}

/// A value's type, in words.
fn kind(schema: &Value, defs: &Value) -> String {
    let schema = resolve(schema, defs);
    let choices: Vec<String> = match (schema.get("enum"), schema.get("oneOf")) {
        (Some(Value::Array(values)), _) => {
            values.iter().filter(|v| !v.is_null()).map(|v| format!("`{}`", text(v))).collect()
        }
        (_, Some(Value::Array(options))) => options
            .iter()
            .filter_map(|o| o.get("const").or_else(|| o.get("enum").and_then(|e| e.get(0))))
            .map(|v| format!("`{}`", text(v)))
            .collect(),
        _ => Vec::new(),
    };
    if !choices.is_empty() {
        return format!("one of {}", choices.join(", "));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => Vec::new(),
    };
    match (types.first().copied(), schema.get("format").and_then(Value::as_str)) {
        (Some("array"), _) => format!("list of {}", schema.get("items").map_or("values".into(), |i| kind(i, defs))),
        (Some("integer"), _) => "integer".into(),
        (Some("number"), _) => "number".into(),
        (Some("boolean"), _) => "boolean".into(),
        (Some("string"), Some("ip")) => "IP address".into(),
        (Some("string"), _) => "string".into(),
        _ => "value".into(),
    }
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_reference_is_the_code_s() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/configuration.md is out of date: run `cargo run -p vigie-tileserver -- config reference > docs/configuration.md`"
        );
    }

    #[test]
    fn every_key_flag_and_variable_is_listed() {
        let md = markdown();
        for needle in [
            "| `listen` | string |",
            "| `cache_size_mb` | integer |",
            "| `sqlite_synchronous` | one of `normal`, `full` |",
            "| `auth.anonymous_role` | one of `reader`, `contributor`, `analyst`, `editor`, `staffing_manager`, `admin` |",
            "| `auth.oidc.issuer` | string (required) |",
            "| `auth.trusted_proxies` | list of IP address |",
            "| `shutdown_grace_ms` | integer |",
            "### `[workspace_sources]`",
            "| `DATABASE_URL` |",
            "| `VIGIE_OIDC_CLIENT_SECRET` |",
            "| `VIGIE_LOG_FORMAT` |",
            "### `vigie serve`",
            "| `--shutdown-grace-ms` |",
            "### `vigie config check`",
        ] {
            assert!(md.contains(needle), "{needle} missing from the reference");
        }
    }

    #[test]
    fn the_defaults_it_states_are_the_code_s() {
        let c = crate::config::Config::resolve(FileConfig::default(), &crate::config::ServeArgs::default()).unwrap();
        let md = markdown();
        let line = |key: &str| md.lines().find(|l| l.starts_with(&format!("| `{key}` |"))).unwrap_or("").to_owned();
        for (key, value) in [
            ("listen", c.listen.to_string()),
            ("data_dir", c.data_dir.display().to_string()),
            ("workspace", c.workspace.clone()),
            ("cache_size_mb", (c.cache_size_bytes / 1024 / 1024).to_string()),
            ("max_body_bytes", c.max_body_bytes.to_string()),
            ("stall_after_ms", c.stall_after_ms.to_string()),
            ("render_wait_ms", c.render_wait_ms.to_string()),
            ("tile_max_features", c.tile_budget.features.to_string()),
            ("tile_max_bytes", c.tile_budget.bytes.to_string()),
            ("raw_tile_max_bytes", c.tile_budget.ceiling.to_string()),
            ("shutdown_delay_ms", c.shutdown_delay_ms.to_string()),
            ("shutdown_grace_ms", c.shutdown_grace_ms.to_string()),
            ("header_read_timeout_ms", c.header_read_timeout_ms.to_string()),
            ("body_read_timeout_ms", c.limits.body_read_timeout.as_millis().to_string()),
            ("writes_per_second", c.limits.writes_per_second.to_string()),
            ("write_burst", c.limits.write_burst.to_string()),
            ("event_streams_per_identity", c.limits.event_streams.to_string()),
            ("database.pool_size", c.pool_size.to_string()),
            ("database.statement_timeout_ms", c.statement_timeout_ms.to_string()),
            ("database.commits_in_flight", c.commits_in_flight.to_string()),
            ("demo.seed", c.demo_seed.to_string()),
            ("demo.entries", c.demo_entries.to_string()),
        ] {
            let l = line(key);
            assert!(l.contains(&format!("[default: {value}")), "{key}: the reference says {l:?}, the code {value}");
        }
    }
}
