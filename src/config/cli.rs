//! The command line: every flag once. The limits' flags are declared on [`Limits`] and
//! [`ClassConfig`] themselves, with their `Default` as the default, so the binary and
//! `Config::default()` (which the tests run with) cannot disagree.

use std::path::PathBuf;

use clap::Parser;

use super::{Cidr, ClassConfig, Limits, PublicUrl};

/// socketlab: drive real TCP and UDP sockets from a browser dashboard and watch every
/// accept(), recv(), send() and close() live.
#[derive(Debug, Parser)]
#[command(name = "socketlab")]
#[command(version)]
pub struct Cli {
    /// Address the dashboard listens on; port 0 picks a free one.
    #[arg(long, env = "SOCKETLAB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// The access token (default: 192 random bits, printed in the startup URL).
    #[arg(long, env = "SOCKETLAB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve without a token; refused unless listening on a loopback address.
    #[arg(long, conflicts_with = "token")]
    pub no_token: bool,
    /// Another Host name the dashboard answers to, e.g. a lab machine's name (repeatable).
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_host: Vec<String>,
    /// Address block engines may bind in, replacing the loopback default (repeatable).
    #[arg(long = "allow-bind", value_name = "CIDR")]
    pub allow_bind: Vec<Cidr>,
    /// Address block engines may connect or send to, replacing the loopback default (repeatable).
    #[arg(long = "allow-target", value_name = "CIDR")]
    pub allow_target: Vec<Cidr>,
    /// A port below 1024 (or the dashboard's own) engines may use anyway (repeatable).
    #[arg(long = "allow-port", value_name = "PORT")]
    pub allow_port: Vec<u16>,
    /// A reverse proxy whose X-Forwarded-For is believed (repeatable; default loopback).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxy: Vec<Cidr>,
    /// The limits (`--max-engines`, `--history`, ...).
    #[command(flatten)]
    pub limits: Limits,
    /// Where workspaces and their engines are kept across restarts (default: the platform's
    /// data directory, e.g. ~/.local/share/socketlab).
    #[arg(long, env = "SOCKETLAB_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep nothing on disk.
    #[arg(long, conflicts_with = "data_dir")]
    pub no_data_dir: bool,
    /// The URL users reach socketlab by, behind a reverse proxy (https://lab.example.edu/):
    /// its host is allowed, its origin is the one allowed Origin, cookies get Secure.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<PublicUrl>,
    /// Class mode: one server for a whole class, a workspace per student.
    #[arg(long, help_heading = "Class mode")]
    pub class: bool,
    /// A student's workspace's limits and the class's ports (`--ws-max-engines`, ...).
    #[command(flatten)]
    pub class_limits: ClassConfig,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn the_binarys_defaults_are_config_default() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["socketlab"]).unwrap();
        assert_eq!(cli.limits, Limits::default());
        assert_eq!(cli.class_limits, ClassConfig::default());
        assert_eq!(cli.limits, crate::Config::default().limits);
    }

    #[test]
    fn a_flag_sets_its_field_and_a_bad_value_is_named() {
        let cli = Cli::try_parse_from([
            "socketlab",
            "--max-engines",
            "3",
            "--ws-max-files",
            "7",
            "--connect-timeout",
            "0.5",
            "--ports",
            "30000-30099",
            "--idle",
            "10m",
        ])
        .unwrap();
        assert_eq!(cli.limits.max_engines, 3);
        assert_eq!(cli.limits.max_files, 7);
        assert_eq!(
            cli.limits.connect_timeout,
            std::time::Duration::from_millis(500)
        );
        assert_eq!(cli.class_limits.ports, (30000, 30099));
        assert_eq!(cli.class_limits.idle, std::time::Duration::from_secs(600));
        for bad in [
            ["--connect-timeout", "0"],
            ["--connect-timeout", "601"],
            ["--ports", "80-90"],
            ["--ports-per-workspace", "0"],
            ["--preview", "70000"],
        ] {
            let e = Cli::try_parse_from(["socketlab", bad[0], bad[1]]).unwrap_err();
            assert!(e.to_string().contains(bad[0]), "{bad:?}: {e}");
        }
    }
}
