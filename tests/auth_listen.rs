//! The listening policy of `auth::check_listen`: a master without a token may listen on
//! loopback only, unless `--insecure`; the refusal names the address, `--token-file`
//! and `--insecure`.

use primecluster::auth::{check_listen, AuthError};
use std::net::SocketAddr;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn loopback_needs_no_token() {
    for a in [
        "127.0.0.1:7878",
        "127.1.2.3:0",
        "[::1]:7878",
        "[::ffff:127.0.0.1]:7878",
    ] {
        assert_eq!(check_listen(&addr(a), false, false), Ok(()), "{a}");
    }
}

#[test]
fn other_addresses_need_a_token_or_insecure() {
    for a in [
        "0.0.0.0:7878",
        "192.168.1.10:7878",
        "[::]:7878",
        "[fe80::1]:7878",
        "[::ffff:10.0.0.1]:7878",
    ] {
        let err = check_listen(&addr(a), false, false).unwrap_err();
        assert_eq!(err, AuthError::InsecureListen { addr: addr(a) });
        let msg = err.to_string();
        assert!(msg.contains(&addr(a).to_string()), "{msg}");
        assert!(
            msg.contains("--token-file") && msg.contains("--insecure"),
            "{msg}"
        );
        assert_eq!(
            check_listen(&addr(a), true, false),
            Ok(()),
            "{a} with a token"
        );
        assert_eq!(
            check_listen(&addr(a), false, true),
            Ok(()),
            "{a} --insecure"
        );
    }
}
