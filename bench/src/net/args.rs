//! The command line of the tokio peers: `--addr HOST:PORT` and `--threads N`, and the
//! runtime `--threads` asks for.

use std::io;

/// What a peer server was asked for.
#[derive(Debug)]
pub struct ServerArgs {
    pub addr: String,
    /// Worker threads: 1 runs tokio's `current_thread` runtime, more a `multi_thread`
    /// one with that many workers (like the examples' `--threads N` hubs).
    pub threads: usize,
}

/// `--addr HOST:PORT` (default `default_addr`) and `--threads N` (default 1, at least 1)
/// from the command line; exits with status 2 on anything else.
pub fn server_args(default_addr: &str) -> ServerArgs {
    parse(std::env::args().skip(1), default_addr).unwrap_or_else(|problem| {
        eprintln!("{problem}\nusage: [--addr HOST:PORT] [--threads N]");
        std::process::exit(2)
    })
}

fn parse(args: impl IntoIterator<Item = String>, default_addr: &str) -> Result<ServerArgs, String> {
    let mut out = ServerArgs {
        addr: default_addr.to_string(),
        threads: 1,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--addr" => out.addr = value()?,
            "--threads" => {
                let v = value()?;
                out.threads = match v.parse::<usize>() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(format!("bad --threads {v:?}: a whole number, at least 1")),
                };
            }
            _ => return Err(format!("unknown argument {flag:?}")),
        }
    }
    Ok(out)
}

/// tokio's `current_thread` runtime for one thread, `multi_thread` with `threads`
/// workers otherwise; I/O and timers enabled either way.
pub fn tokio_runtime(threads: usize) -> io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<ServerArgs, String> {
        parse(list.iter().map(|s| s.to_string()), "127.0.0.1:1")
    }

    #[test]
    fn reads_addr_and_threads() {
        let a = args(&["--addr", "127.0.0.1:0", "--threads=4"]).unwrap();
        assert_eq!((a.addr.as_str(), a.threads), ("127.0.0.1:0", 4));
        let a = args(&[]).unwrap();
        assert_eq!((a.addr.as_str(), a.threads), ("127.0.0.1:1", 1));
    }

    #[test]
    fn rejects_bad_threads_and_unknown_flags() {
        assert!(args(&["--threads", "0"]).unwrap_err().contains("--threads"));
        assert!(args(&["--threads", "x"]).is_err());
        assert!(args(&["--threads"]).unwrap_err().contains("needs a value"));
        assert!(args(&["--port", "1"]).unwrap_err().contains("unknown"));
    }

    #[test]
    fn builds_both_runtimes() {
        for threads in [1, 3] {
            let rt = tokio_runtime(threads).unwrap();
            assert_eq!(rt.metrics().num_workers(), threads);
            assert_eq!(rt.block_on(async { 6 * 7 }), 42);
        }
    }
}
