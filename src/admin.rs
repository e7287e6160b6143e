//! The administration commands: `qa-hub user …` and `qa-hub token …`. They run against the
//! database directly (migrating it first, like `serve`), through the same service layer as
//! the server, so an account made here is the same as one made on the sign-up page. Each
//! prints what it made as the last line of stdout, for scripts to take.

use std::{io::BufRead, sync::Arc};

use crate::{
    broker::local::LocalBroker,
    config::{Config, TokenCommand, UserCommand},
    domain::{Handle, Name, Password, Role},
    metrics::Metrics,
    realtime::Hub,
    service::{AuthSettings, Services},
    store::Store,
};

async fn services(config: &Config) -> anyhow::Result<(Services, Store)> {
    let store = Store::connect(&config.database.database_url, 1, true).await?;
    store.migrate().await?;
    let services = Services::new(
        store.clone(),
        LocalBroker::new(Hub::new()),
        Arc::new(Metrics::new()),
        AuthSettings::default(),
    );
    Ok((services, store))
}

fn handle(raw: &str) -> anyhow::Result<Handle> {
    Handle::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))
}

pub async fn user(config: &Config, command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create { handle: raw, admin, moderator, name, password_stdin: _ } = command;
    let handle = handle(&raw)?;
    let name = Name::parse(name.unwrap_or_else(|| handle.as_str().to_owned()))
        .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = Password::parse(line.trim_end_matches(['\r', '\n']))
        .map_err(|e| anyhow::anyhow!("the password on stdin: {e}"))?;
    let role = match (admin, moderator) {
        (true, _) => Role::Admin,
        (_, true) => Role::Moderator,
        _ => Role::User,
    };
    let (services, store) = services(config).await?;
    let user =
        services.create_account(handle, name, password, role).await.map_err(|e| anyhow::anyhow!("{e}"));
    store.close().await;
    let user = user?;
    eprintln!(
        "created {} {:?} ({})",
        role.as_str(),
        user.handle.as_deref().unwrap_or_default(),
        user.display_name
    );
    println!("{}", user.id);
    Ok(())
}

pub async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let (services, store) = services(config).await?;
    let outcome = async {
        match command {
            TokenCommand::Create { user, name } => {
                let user_id = services.user_by_handle(&handle(&user)?).await?;
                let (token, listed) = services.create_token(user_id, &name).await?;
                eprintln!("token {} {:?} for {user}; it is shown only this once", listed.id, listed.name);
                println!("{token}");
            }
            TokenCommand::List { user } => {
                let user_id = services.user_by_handle(&handle(&user)?).await?;
                for t in services.tokens(user_id).await? {
                    let state = t
                        .revoked_at
                        .map_or_else(|| "active".to_owned(), |at| format!("revoked {}", at.to_rfc3339()));
                    println!("{}\t{}\t{}\t{state}", t.id, t.name, t.created_at.to_rfc3339());
                }
            }
            TokenCommand::Revoke { user, id } => {
                let user_id = services.user_by_handle(&handle(&user)?).await?;
                services.revoke_token(user_id, id).await?;
                println!("revoked {id}");
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    store.close().await;
    outcome
}
