//! The control protocol between the CLI and a sandbox process: one JSON
//! request per connection on `<root>/<id>/control.sock`, a newline, and
//! one JSON reply line. Host fds (exec's stdio) ride with the request as
//! SCM_RIGHTS.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::sys;

/// A new process for `exec`.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct ExecSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub no_new_privs: bool,
    /// (RLIMIT_* number, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Is the first process started?
    Status,
    /// Run the first process.
    Start,
    /// Signal a process (`pid` None: init), or every process.
    Signal { pid: Option<i32>, sig: i32, all: bool },
    /// Start a new process; stdio comes as 3 fds.
    Exec { spec: ExecSpec },
    /// Wait for a process started by exec; its wait status.
    WaitPid { pid: i32 },
    Ps,
    Stats,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub state: char,
    pub cmd: String,
}

#[derive(Serialize, Deserialize, Debug, Default)]
pub struct Reply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procs: Option<Vec<Proc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

impl Reply {
    pub fn err(e: impl std::fmt::Display) -> Reply {
        Reply { error: Some(e.to_string()), ..Default::default() }
    }
}

/// Send one request (with `fds`) and read the reply.
pub fn call(sock_path: &Path, req: &Request, fds: &[OwnedFd]) -> Result<Reply> {
    let sock = sys::with_short_sock_path(sock_path, |p| UnixStream::connect(p)).with_context(|| format!("connecting to the sandbox at {}", sock_path.display()))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    let raw: Vec<i32> = fds.iter().map(|f| f.as_raw_fd()).collect();
    sys::send_with_fds(&sock, &line, &raw).context("sending to the sandbox")?;
    let mut r = BufReader::new(&sock);
    let mut resp = String::new();
    r.read_line(&mut resp).context("reading the sandbox's reply")?;
    if resp.is_empty() {
        bail!("the sandbox closed the connection without replying");
    }
    let reply: Reply = serde_json::from_str(&resp).context("decoding the sandbox's reply")?;
    if let Some(e) = reply.error {
        return Err(anyhow!(e));
    }
    Ok(reply)
}

/// Server side: read one request and its fds.
pub fn read_request(sock: &UnixStream) -> Result<(Request, Vec<OwnedFd>)> {
    let mut data = Vec::new();
    let mut fds = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    while !data.contains(&b'\n') {
        let (n, mut f) = sys::recv_with_fds(sock, &mut buf)?;
        fds.append(&mut f);
        if n == 0 {
            bail!("connection closed before a full request");
        }
        data.extend_from_slice(&buf[..n]);
        if data.len() > 16 << 20 {
            bail!("request too large");
        }
    }
    let end = data.iter().position(|&c| c == b'\n').unwrap_or(data.len());
    Ok((serde_json::from_slice(&data[..end])?, fds))
}

pub fn write_reply(mut sock: &UnixStream, r: &Reply) -> Result<()> {
    let mut line = serde_json::to_vec(r)?;
    line.push(b'\n');
    sock.write_all(&line)?;
    Ok(())
}
