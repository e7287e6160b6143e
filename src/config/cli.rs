//! The command line: the subcommands, and the settings every one of them takes (global
//! flags, so `qa-hub migrate --database-url …` works as `qa-hub --database-url … migrate`).

use clap::{Parser, Subcommand};

use super::{Config, parse};

/// qa-hub: a self-hosted real-time notification hub for Q&A sites.
///
/// Stores questions and answers (SQLite or Postgres) behind a REST API and pushes every new
/// answer to the WebSocket clients watching its question.
#[derive(Debug, Parser)]
#[command(name = "qa-hub", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub config: Config,
}

impl Cli {
    /// The command line and the environment, parsed. A value that breaks its flag's rule is an
    /// error that names the flag and its variable, like every other start-up error; anything
    /// else clap does not accept (an unknown flag, `--help`) is clap's to print, and exits.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::try_parse().or_else(|error| match parse::one_line(&error) {
            Some(line) => Err(anyhow::anyhow!(line)),
            None => error.exit(),
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API, the WebSocket hub and the web pages (the default).
    Serve,
    /// Run the database migrations, then exit.
    Migrate,
    /// GET /healthz on the address of `--bind`; exit 0 if it answers 200 (for container
    /// HEALTHCHECKs in images without curl).
    Healthcheck,
    /// Manage accounts (the first admin, for one).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage service tokens, for REST clients such as a site's backend.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints the new user's id as the last line.
    Create {
        /// 3 to 32 letters, digits, `_`, `-` or `.`; unique whatever its case.
        handle: String,
        /// Make the user an admin.
        #[arg(long, conflicts_with = "moderator")]
        admin: bool,
        /// Make the user a moderator.
        #[arg(long)]
        moderator: bool,
        /// The name their posts show (default: the handle).
        #[arg(long)]
        name: Option<String>,
        /// Read the password (8 to 1,024 characters) from the first line of stdin. Required:
        /// a password on the command line would show in `ps` and shell history.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a service token for a user; prints the token (shown only this once) as the last
    /// line.
    Create {
        /// Whose token it is: posts made with it are theirs.
        #[arg(long)]
        user: String,
        /// What the token is for, e.g. `site backend`.
        #[arg(long)]
        name: String,
    },
    /// List a user's tokens: id, name, created, and revoked (or `active`), tab-separated.
    List {
        #[arg(long)]
        user: String,
    },
    /// Revoke one of a user's tokens; it stops working at once, on every node.
    Revoke {
        #[arg(long)]
        user: String,
        /// The token's id (from `token list`).
        id: uuid::Uuid,
    },
}
