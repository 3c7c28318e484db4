//! The `status`, `threads` and `stop` command lines through the built binary: bad
//! arguments exit 2 with one line naming the argument, good ones get past validation,
//! and `--help` documents every option.

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_primecluster");

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run primecluster");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_exit_2_naming_the_argument() {
    let cases: &[(&[&str], &str)] = &[
        (&["status"], "not provided: HOST:PORT"),
        (&["status", "nohost"], "'nohost' is not HOST:PORT"),
        (&["status", ":7878"], "':7878' is not HOST:PORT"),
        (&["status", "host:99999"], "'host:99999'"),
        (&["status", "host:port"], "'host:port'"),
        (&["stop", "host"], "'host'"),
        (&["threads", "127.0.0.1:7878"], "not provided: N"),
        (&["threads", "127.0.0.1:7878", "0"], "N: '0'"),
        (&["threads", "127.0.0.1:7878", "1025"], "N: '1025'"),
        (&["threads", "127.0.0.1:7878", "four"], "N: 'four'"),
        (
            &["threads", "127.0.0.1:7878", "99999999999"],
            "'99999999999'",
        ),
        (&["threads", "127.0.0.1:7878", "-1"], "-1"),
        (
            &["threads", "127.0.0.1:7878", "4", "--worker", ""],
            "--worker",
        ),
        (&["threads", "nohost", "4"], "'nohost'"),
        (
            &[
                "stop",
                "127.0.0.1:7878",
                "--token-file",
                "/nonexistent/token",
            ],
            "--token-file /nonexistent/token",
        ),
        (
            &["status", "127.0.0.1:7878", "--token-file", "/"],
            "--token-file /",
        ),
        (&["status", "127.0.0.1:7878", "--jsn"], "--jsn"),
    ];
    for (args, named) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(named),
            "{args:?}: {err:?} should name {named:?}"
        );
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    // N's error says what is allowed.
    let (_, _, err) = run(&["threads", "127.0.0.1:7878", "0"]);
    assert!(err.contains("1 to 1024"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// Valid arguments pass validation: the command gets as far as connecting, which fails
/// for a port where nothing listens (status 1, not 2).
#[test]
fn valid_arguments_get_to_the_connection() {
    let token = std::env::temp_dir().join(format!("control_cli_{}.token", std::process::id()));
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    // Private, so no permission warning precedes the connection error on stderr.
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let t = token.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["status", "127.0.0.1:1"],
        &["status", "127.0.0.1:1", "--json", "--token-file", t],
        &["status", "[::1]:1"],
        &["status", "localhost:1"],
        &["threads", "127.0.0.1:1", "1"],
        &["threads", "127.0.0.1:1", "1024", "--worker", "pi3"],
        &[
            "threads",
            "127.0.0.1:1",
            "8",
            "--worker",
            "7",
            "--token-file",
            t,
        ],
        &["stop", "127.0.0.1:1", "--token-file", t],
    ];
    for args in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(
            err.starts_with("primecluster: connecting to "),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_file(&token);
}

#[test]
fn help_documents_the_options() {
    for (cmd, words) in [
        (
            "status",
            &["HOST:PORT", "--json", "--token-file", "workers"][..],
        ),
        (
            "threads",
            &[
                "HOST:PORT",
                "--worker",
                "--token-file",
                "1 to 1024",
                "cores",
            ],
        ),
        (
            "stop",
            &["HOST:PORT", "--token-file", "--resume", "checkpoint"],
        ),
    ] {
        let (code, out, _) = run(&[cmd, "--help"]);
        assert_eq!(code, Some(0), "{cmd}");
        for w in words {
            assert!(out.contains(w), "{cmd} --help lacks {w:?}:\n{out}");
        }
    }
    let (_, out, _) = run(&["--help"]);
    for cmd in ["status", "threads", "stop"] {
        assert!(out.contains(cmd), "{out}");
    }
}
