//! `struct sockaddr_un`: parsing bind/connect addresses and encoding the
//! names getsockname/getpeername/recvfrom return, with Linux's lengths.

use abi::{Errno, SysResult};

/// offsetof(struct sockaddr_un, sun_path).
pub const PATH_OFF: usize = 2;
/// sizeof(struct sockaddr_un).
pub const SUN_LEN: usize = 110;

/// What a unix address names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnixAddr {
    /// Only the family (bind: autobind; connect: EINVAL).
    Unnamed,
    /// A filesystem path (without the NUL).
    Path(Vec<u8>),
    /// An abstract name: the bytes after the leading NUL (exact length).
    Abstract(Vec<u8>),
}

/// unix_validate_addr + unix_mkname.
pub fn parse(b: &[u8]) -> SysResult<UnixAddr> {
    if b.len() < PATH_OFF || b.len() > SUN_LEN {
        return Err(Errno::EINVAL);
    }
    if u16::from_ne_bytes([b[0], b[1]]) != libc::AF_UNIX as u16 {
        return Err(Errno::EINVAL);
    }
    let path = &b[PATH_OFF..];
    if path.is_empty() {
        return Ok(UnixAddr::Unnamed);
    }
    if path[0] == 0 {
        return Ok(UnixAddr::Abstract(path[1..].to_vec()));
    }
    let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
    Ok(UnixAddr::Path(path[..end].to_vec()))
}

/// The sockaddr_un bytes of a name (None = unbound: just the family).
/// Path names include the NUL (offsetof + strlen + 1, as Linux stores
/// them); abstract names are exact.
pub fn encode(a: Option<&UnixAddr>) -> Vec<u8> {
    let mut v = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    match a {
        None | Some(UnixAddr::Unnamed) => {}
        Some(UnixAddr::Path(p)) => {
            v.extend_from_slice(p);
            v.push(0);
        }
        Some(UnixAddr::Abstract(n)) => {
            v.push(0);
            v.extend_from_slice(n);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(path: &[u8]) -> Vec<u8> {
        let mut v = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(path);
        v
    }

    #[test]
    fn parse_kinds_and_errors() {
        assert_eq!(parse(&sa(b"")), Ok(UnixAddr::Unnamed));
        assert_eq!(parse(&sa(b"/tmp/x\0junk")), Ok(UnixAddr::Path(b"/tmp/x".to_vec())));
        assert_eq!(parse(&sa(b"rel")), Ok(UnixAddr::Path(b"rel".to_vec())));
        assert_eq!(parse(&sa(b"\0ab\0c")), Ok(UnixAddr::Abstract(b"ab\0c".to_vec())));
        assert_eq!(parse(&[1]), Err(Errno::EINVAL));
        assert_eq!(parse(&sa(&[b'a'; 109])), Err(Errno::EINVAL));
        assert!(parse(&sa(&[b'a'; 108])).is_ok());
        assert_eq!(parse(&[2, 0, b'a']), Err(Errno::EINVAL));
    }

    #[test]
    fn encode_lengths() {
        assert_eq!(encode(None).len(), 2);
        assert_eq!(encode(Some(&UnixAddr::Path(b"/a/b".to_vec()))).len(), 2 + 4 + 1);
        assert_eq!(encode(Some(&UnixAddr::Abstract(b"xyz".to_vec()))).len(), 2 + 1 + 3);
        let a = UnixAddr::Abstract(b"q".to_vec());
        assert_eq!(parse(&encode(Some(&a))), Ok(a));
    }
}
