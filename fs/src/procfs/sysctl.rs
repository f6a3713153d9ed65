//! Recorded sysctls under `/proc/sys`: the keys the provider lists
//! (`ProcProvider::sysctls`, from the OCI config's `linux.sysctl`) appear
//! as files at their dotted key with dots as slashes
//! (`net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`), with the
//! directories on the way made up as needed.
//!
//! A node names a path by (index of a key, number of components): the
//! *lowest* index whose key starts with the path, so each path has one
//! node (and one inode number). The provider's key list must therefore
//! keep its order (it is fixed when the sandbox is built). Static procfs
//! entries win over recorded ones of the same path.

use super::Node;

/// A recorded key's path components, or None if a component could not be
/// a file name (empty, ".", "..", or holding '/' or NUL) or there are more
/// than 255 of them.
pub(super) fn components(key: &str) -> Option<Vec<&str>> {
    let c: Vec<&str> = key.split('.').collect();
    if c.len() > u8::MAX as usize {
        return None;
    }
    let bad = |s: &&str| s.is_empty() || *s == "." || *s == ".." || s.len() > 255 || s.bytes().any(|b| b == b'/' || b == 0);
    if c.iter().any(bad) {
        return None;
    }
    Some(c)
}

/// The usable keys (index, components), at most `u16::MAX` of them.
fn usable(keys: &[(String, String)]) -> impl Iterator<Item = (u16, Vec<&str>)> {
    keys.iter().take(u16::MAX as usize).enumerate().filter_map(|(i, (k, _))| Some((i as u16, components(k)?)))
}

fn starts_with(comps: &[&str], path: &[&[u8]]) -> bool {
    comps.len() >= path.len() && comps.iter().zip(path).all(|(c, p)| c.as_bytes() == *p)
}

/// The node for `path` (components under /proc/sys, at least one).
pub(super) fn node_for(keys: &[(String, String)], path: &[&[u8]]) -> Option<Node> {
    if path.is_empty() {
        return None;
    }
    let (idx, comps) = usable(keys).find(|(_, c)| starts_with(c, path))?;
    Some(if comps.len() == path.len() { Node::SysctlFile(idx) } else { Node::SysctlDir(idx, path.len() as u8) })
}

/// The path a recorded node names; None if the key list no longer has it.
pub(super) fn path_of(keys: &[(String, String)], n: Node) -> Option<Vec<Vec<u8>>> {
    let (idx, depth) = match n {
        Node::SysctlFile(i) => (i, None),
        Node::SysctlDir(i, d) => (i, Some(d as usize)),
        _ => return None,
    };
    let comps = components(&keys.get(idx as usize)?.0)?;
    let depth = depth.unwrap_or(comps.len());
    if depth == 0 || depth > comps.len() {
        return None;
    }
    Some(comps[..depth].iter().map(|c| c.as_bytes().to_vec()).collect())
}

/// Recorded children of the directory at `path`, sorted by name, without
/// the names in `shadowed` (static entries).
pub(super) fn children(keys: &[(String, String)], path: &[&[u8]], shadowed: &[&str]) -> Vec<(Vec<u8>, Node)> {
    let mut out: Vec<(Vec<u8>, Node)> = Vec::new();
    for (_, comps) in usable(keys) {
        if comps.len() <= path.len() || !starts_with(&comps, path) {
            continue;
        }
        let name = comps[path.len()];
        if shadowed.contains(&name) || out.iter().any(|(n, _)| n == name.as_bytes()) {
            continue;
        }
        let mut child: Vec<&[u8]> = path.to_vec();
        child.push(name.as_bytes());
        if let Some(node) = node_for(keys, &child) {
            out.push((name.as_bytes().to_vec(), node));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The value of the key a file node names.
pub(super) fn value(keys: &[(String, String)], n: Node) -> Option<(String, String)> {
    match n {
        Node::SysctlFile(i) => keys.get(i as usize).cloned(),
        _ => None,
    }
}
