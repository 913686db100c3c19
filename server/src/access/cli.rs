//! `cairn user add | list | passwd | remove`: who may sign in, from a shell (the Admin
//! page does the same in the browser). Every change is in the audit log.

use anyhow::Context;
use app::db::audit::AuditLine;
use clap::Subcommand;
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is asked for on a terminal, or read from standard input
    /// with --password-stdin.
    Add {
        name: String,
        /// admin (everything), analyst (read, search, export, investigations) or viewer
        /// (read only).
        #[arg(long, value_parser = ["admin", "analyst", "viewer"])]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users and their roles.
    List,
    /// Set a user's password (their sessions end). A user who signs in through the
    /// identity provider can be given one too: the way back in when the provider fails.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user (the last admin cannot be removed).
    Remove { name: String },
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for a password on: pass --password-stdin");
    }
    let first = rpassword::prompt_password("Password: ").context("reading the password")?;
    let again = rpassword::prompt_password("Password again: ").context("reading the password")?;
    if first != again {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

/// Whether this environment turns password sign-in off for `cairn serve`.
fn password_login_off() -> bool {
    std::env::var("CAIRN_PASSWORD_LOGIN").is_ok_and(|v| v.trim().eq_ignore_ascii_case("off"))
}

/// Who a change made from the shell is by, in the audit log: `shell:$USER`.
pub fn shell_actor() -> String {
    format!(
        "shell:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

pub async fn user_command(db: &std::path::Path, command: UserCommand) -> anyhow::Result<ExitCode> {
    use crate::access::users;
    let pool = crate::db::connect(db).await?;
    let shell_actor = shell_actor();
    // Changes made from the shell are in the audit log too, as `shell:$USER`.
    let shell = AuditLine::new(Some(&shell_actor), "", "shell");
    let result = match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let role = app::auth::Role::parse(&role).context("unknown role")?;
            let password = read_password(password_stdin)?;
            let detail = format!("role {role}");
            let line = shell.action("user.add").target(&name).detail(&detail);
            users::create(&pool, &name, role, &password, &line)
                .await
                .map(|u| println!("added {} ({})", u.name, u.role))
        }
        UserCommand::List => {
            let list = app::db::users::list(&pool).await?;
            if list.is_empty() {
                println!(
                    "no users yet: add the first admin with `cairn user add NAME --role admin`"
                );
            }
            for u in list {
                let last = u
                    .last_login_at
                    .map(app::fmt::time)
                    .unwrap_or_else(|| "never signed in".into());
                let how = if u.single_sign_on { "single sign-on" } else { "password" };
                println!("{:<24} {:<8} {:<15} {}", u.name, u.role, how, last);
            }
            pool.close().await;
            return Ok(ExitCode::SUCCESS);
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let line = shell
                .action("user.password")
                .target(&name)
                .detail("password reset");
            users::set_password(&pool, &name, &password, &line)
                .await
                .map(|()| println!("password set for {name}; their sessions have ended"))
        }
        UserCommand::Remove { name } => {
            let line = shell.action("user.remove").target(&name);
            users::remove(&pool, &name, &line)
                .await
                .map(|()| println!("removed {name}"))
        }
    };
    let code = match result {
        Ok(()) if password_login_off() => {
            eprintln!(
                "note: CAIRN_PASSWORD_LOGIN=off here; the dashboard refuses passwords until \
                 `cairn serve` runs with --password-login on"
            );
            ExitCode::SUCCESS
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ (users::UserError::Db(_) | users::UserError::Hash(_))) => return Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    };
    pool.close().await;
    Ok(code)
}

/// `cairn audit`: the dashboard's own audit log (sign-ins, refusals, user and role
/// changes, and every change made through the dashboard), newest first.
pub async fn audit_command(db: &std::path::Path, limit: i64, json: bool) -> anyhow::Result<ExitCode> {
    let pool = crate::db::connect(db).await?;
    let lines = app::db::audit::read_lines(&pool, None, limit.clamp(1, 1_000_000)).await?;
    pool.close().await;
    for l in lines {
        if json {
            println!("{}", serde_json::to_string(&l)?);
        } else {
            let field = |f: &Option<String>| f.clone().unwrap_or_else(|| "-".into());
            println!(
                "{}  {:<20} {:<16} {:<24} {}  ({})",
                app::fmt::time(l.at),
                field(&l.actor),
                l.action,
                field(&l.target),
                field(&l.detail),
                field(&l.client)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
