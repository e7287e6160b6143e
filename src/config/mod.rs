//! Configuration: every option is a command-line flag that also reads an environment variable,
//! so the same binary is configured by hand, by compose files and by tests alike.
//!
//! The settings are parsed once, here, at the edge: clap checks each value as it reads it
//! ([`parse`]: ranges, lengths, origin and host lists) and hands over typed values grouped by
//! concern ([`groups`]), which `app` only wires into the layers. What a rule across several
//! flags needs (an issuer with a JWT key, a broker that fits the database) is checked by the
//! group that owns the flags, once, at start ([`Identity::host_tokens`],
//! [`Cluster::broker_kind`]). This module depends on nothing above `domain`.

mod cli;
pub mod groups;
mod origins;
pub mod parse;

use clap::Args;

pub use cli::{Cli, Command, TokenCommand, UserCommand};
pub use groups::{
    BrokerKind, Cluster, Database, Durability, Identity, Limits, Metrics, Realtime, Server, Webhooks,
};
pub use origins::AllowedOrigins;

/// Everything the server needs to start; tests build one with [`Config::for_tests`] and
/// change what they test (`config.realtime.max_subscriptions = 2`). A value set here in code
/// skips the flags' checks: the code that sets it is trusted to keep to them.
#[derive(Debug, Clone, Args)]
pub struct Config {
    #[command(flatten)]
    pub server: Server,
    #[command(flatten)]
    pub metrics: Metrics,
    #[command(flatten)]
    pub identity: Identity,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub webhooks: Webhooks,
    #[command(flatten)]
    pub database: Database,
    #[command(flatten)]
    pub realtime: Realtime,
    #[command(flatten)]
    pub cluster: Cluster,
}

impl Config {
    /// Defaults suitable for an in-process test server on an ephemeral port.
    pub fn for_tests(database_url: impl Into<String>) -> Self {
        use clap::Parser;
        let mut config = Cli::parse_from(["qa-hub"]).config;
        config.server.bind = "127.0.0.1:0".into();
        config.server.workers = 2;
        config.database.database_url = database_url.into();
        config.metrics.metrics_bind = Some("127.0.0.1:0".into());
        // Tests post and subscribe as fast as they can from one address; the rate-limit
        // tests set the limits they test.
        config.limits.posts_per_minute = 0;
        config.realtime.ws_requests_per_second = 0;
        config.limits.signups_per_hour = 0;
        config.limits.login_attempts_per_minute = 0;
        // Most tests are about what happens to posts, not who makes them; the identity tests
        // turn this off.
        config.identity.anonymous_writes = true;
        config
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    fn config_of(args: &[&str]) -> Result<Config, clap::Error> {
        let args = ["qa-hub"].iter().chain(args);
        Cli::try_parse_from(args).map(|cli| cli.config)
    }

    /// The line a start-up error would print for `args`.
    fn refused(args: &[&str]) -> String {
        let error = config_of(args).unwrap_err();
        parse::one_line(&error).unwrap_or_else(|| panic!("not a setting's rule: {error}"))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
        let config = config_of(&[]).unwrap();
        assert_eq!(config.server.allowed_origins, AllowedOrigins::Own);
        assert!(config.webhooks.webhook_allow.is_empty());
    }

    #[test]
    fn a_value_out_of_range_names_its_flag_and_variable() {
        assert_eq!(refused(&["--db-pool", "0"]), "--db-pool (QA_HUB_DB_POOL) must be at least 1");
        assert_eq!(
            refused(&["--max-frame-bytes", "255"]),
            "--max-frame-bytes (QA_HUB_MAX_FRAME_BYTES) must be at least 256"
        );
        assert_eq!(config_of(&["--max-frame-bytes", "256"]).unwrap().realtime.max_frame_bytes, 256);
        assert_eq!(
            refused(&["--metrics-token", "short"]),
            "--metrics-token (QA_HUB_METRICS_TOKEN) must be at least 16 characters"
        );
        assert!(refused(&["--node-id", "a b"]).starts_with("--node-id (QA_HUB_NODE_ID) must be 1 to 40"));
        assert_eq!(
            refused(&["--allowed-origins", "self,https://a.example/x"]),
            "--allowed-origins (QA_HUB_ALLOWED_ORIGINS): \"https://a.example/x\" is not an origin like \
             https://example.com (or `self`, or `*` alone)"
        );
        assert!(
            refused(&["--webhook-allow", "x/y"])
                .starts_with("--webhook-allow (QA_HUB_WEBHOOK_ALLOW): \"x/y\"")
        );
        // Not a number at all: clap's own usage error, as before.
        assert!(parse::one_line(&config_of(&["--db-pool", "many"]).unwrap_err()).is_none());
    }

    #[test]
    fn lists_are_parsed_into_their_types() {
        let config = config_of(&[
            "--allowed-origins",
            "https://a.example, https://B.example",
            "--webhook-allow",
            "x.example,,10.0.0.1",
        ])
        .unwrap();
        assert_eq!(
            config.server.allowed_origins,
            AllowedOrigins::List(vec!["https://a.example".into(), "https://b.example".into()])
        );
        assert_eq!(config.webhooks.webhook_allow, "x.example, 10.0.0.1".parse().unwrap());
    }

    fn broker(args: &[&str]) -> Result<Option<BrokerKind>, clap::Error> {
        config_of(args).map(|config| config.cluster.broker)
    }

    #[test]
    fn broker_is_local_postgres_or_a_nats_url() {
        assert_eq!(broker(&[]).unwrap(), None);
        assert_eq!(broker(&["--broker", "local"]).unwrap(), Some(BrokerKind::Local));
        assert_eq!(broker(&["--broker", "postgres"]).unwrap(), Some(BrokerKind::Postgres));
        let url = "nats://127.0.0.1:4222";
        assert_eq!(broker(&["--broker", url]).unwrap(), Some(BrokerKind::Nats(url.into())));
        for bad in ["redis", "nats://", "nats:127.0.0.1", "http://127.0.0.1:4222"] {
            let error = broker(&["--broker", bad]).unwrap_err().to_string();
            assert!(error.contains("--broker") && error.contains("QA_HUB_BROKER"), "{bad}: {error}");
        }
    }

    #[test]
    fn nats_needs_postgres() {
        let mut config = Config::for_tests("sqlite://x.db");
        config.cluster.broker = Some(BrokerKind::Nats("nats://127.0.0.1:4222".into()));
        let error = config.cluster.broker_kind("sqlite").unwrap_err().to_string();
        assert!(error.contains("QA_HUB_BROKER") && error.contains("postgres://"), "{error}");
        assert!(matches!(config.cluster.broker_kind("postgres"), Ok(BrokerKind::Nats(_))));
    }
}
