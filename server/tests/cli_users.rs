//! `cairn user ...` from a shell, as an operator runs it.

mod common;

use common::cairn;

#[test]
fn users_are_managed_from_the_shell() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("c.db");
    let (code, out, _) = cairn(&db, &["user", "list"], None);
    assert_eq!(code, 0);
    assert!(out.contains("no users yet"), "{out}");

    let add = |name: &str, role: &str, pw: &str| {
        cairn(
            &db,
            &["user", "add", name, "--role", role, "--password-stdin"],
            Some(pw),
        )
    };
    assert_eq!(add("ops", "admin", "a long enough password\n").0, 0);
    assert_eq!(add("val", "viewer", "another long password\n").0, 0);
    // Refusals are plain and exit 1.
    let (code, _, err) = add("OPS", "viewer", "a long enough password\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("already exists"), "{err}");
    let (code, _, err) = add("short", "viewer", "tiny\n");
    assert_eq!(code, 1);
    assert!(err.contains("10 to 1024"), "{err}");
    let (code, _, err) = cairn(
        &db,
        &["user", "add", "x", "--role", "root", "--password-stdin"],
        Some("a long enough password\n"),
    );
    assert_eq!(code, 2, "unknown role is a usage error: {err}");
    // Without a terminal and without --password-stdin there is nobody to ask.
    let (code, _, err) = cairn(&db, &["user", "add", "y", "--role", "viewer"], None);
    assert_eq!(code, 2, "{err}");

    let (_, out, _) = cairn(&db, &["user", "list"], None);
    assert!(
        out.contains("ops")
            && out.contains("admin")
            && out.contains("val")
            && out.contains("viewer"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.contains(" password ")), "local users sign in with a password: {out}");
    assert!(!out.contains("argon2"), "hashes are never shown");

    assert_eq!(
        cairn(
            &db,
            &["user", "passwd", "val", "--password-stdin"],
            Some("a brand new password\n")
        )
        .0,
        0
    );
    let (code, _, err) = cairn(&db, &["user", "remove", "ops"], None);
    assert_eq!(code, 1, "the last admin stays");
    assert!(err.contains("no admin"), "{err}");
    assert_eq!(cairn(&db, &["user", "remove", "val"], None).0, 0);
    let (code, _, err) = cairn(&db, &["user", "remove", "val"], None);
    assert_eq!(code, 1);
    assert!(err.contains("no user named"), "{err}");

    // The audit log, newest first, as JSON lines: every change above, by the shell.
    let (code, out, _) = cairn(&db, &["audit", "--json", "--limit", "3"], None);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<&str> = lines.iter().map(|l| l["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["user.remove", "user.password", "user.add"], "{out}");
    assert!(lines.iter().all(|l| l["actor"].as_str().unwrap().starts_with("shell:")));
    assert_eq!(lines[0]["target"], "val");
    let (_, text, _) = cairn(&db, &["audit"], None);
    assert!(text.lines().next().unwrap().contains("user.remove"), "{text}");
}
