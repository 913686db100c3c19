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
}
