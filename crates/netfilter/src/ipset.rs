//! ipset contents, as `ipset save` prints them, for `-m set --match-set`.
//!
//! ```
//! use chainwalk_netfilter::ipset::IpSets;
//!
//! let sets = IpSets::parse("create web hash:ip,port family inet\nadd web 10.0.0.5,tcp:80\n").unwrap();
//! assert!(sets.get("web").is_some());
//! ```

use std::net::IpAddr;

use crate::host::IfAddr;
use crate::model::Protocol;

/// One set: its name, type and members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSet {
    /// The set's name.
    pub name: String,
    /// The type, e.g. `hash:ip`, `hash:net,port`, `list:set`.
    pub kind: String,
    /// Members, each as its comma-separated parts (`10.0.0.5`, `tcp:80`).
    pub members: Vec<Member>,
}

/// One member of a set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The parts, one per dimension of the set type.
    pub parts: Vec<String>,
    /// Whether it was added with `nomatch` (an exception inside a net).
    pub nomatch: bool,
}

/// Every set of an `ipset save` dump.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpSets {
    /// The sets, in order.
    pub sets: Vec<IpSet>,
}

/// A problem in `ipset save` text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IpSetError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One value a set dimension is tested with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// An address (ip, net).
    Addr(IpAddr),
    /// A port with its protocol.
    Port(Protocol, u16),
    /// An interface name.
    Iface(String),
    /// The packet mark.
    Mark(u32),
}

impl IpSets {
    /// Parses `ipset save` output (`create` and `add` lines; others are ignored).
    pub fn parse(text: &str) -> Result<IpSets, IpSetError> {
        let mut out = IpSets::default();
        for (i, line) in text.lines().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let err = |m: &str| IpSetError {
                line: i + 1,
                message: m.to_string(),
            };
            match words.first().copied() {
                Some("create") | Some("-N") | Some("-exist") => {
                    let (Some(name), Some(kind)) = (words.get(1), words.get(2)) else {
                        return Err(err("`create` needs a name and a type"));
                    };
                    out.sets.push(IpSet {
                        name: name.to_string(),
                        kind: kind.to_string(),
                        members: Vec::new(),
                    });
                }
                Some("add") | Some("-A") => {
                    let (Some(name), Some(elem)) = (words.get(1), words.get(2)) else {
                        return Err(err("`add` needs a set and an element"));
                    };
                    let set = out
                        .sets
                        .iter_mut()
                        .find(|s| s.name == *name)
                        .ok_or_else(|| err(&format!("set `{name}` is not created before use")))?;
                    set.members.push(Member {
                        parts: elem.split(',').map(str::to_string).collect(),
                        nomatch: words.contains(&"nomatch"),
                    });
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The set with this name.
    pub fn get(&self, name: &str) -> Option<&IpSet> {
        self.sets.iter().find(|s| s.name == name)
    }
}

impl IpSet {
    /// The dimensions of the set type (`ip`, `net`, `port`, `iface`, `mark`, `mac`, `set`).
    pub fn dims(&self) -> Vec<&str> {
        self.kind
            .split_once(':')
            .map(|(_, d)| d.split(',').collect())
            .unwrap_or_default()
    }

    /// Whether the values (one per dimension) are in the set; `None` when the set type cannot
    /// be evaluated (`list:set`, MAC addresses).
    pub fn contains(&self, values: &[Dim]) -> Option<bool> {
        self.lookup(values).map(|l| l == Lookup::Member)
    }

    /// What the set holds for the values (one per dimension); `None` when the set type cannot
    /// be evaluated (`list:set`, MAC addresses). An element added with `nomatch` that covers
    /// the values wins over plain ones.
    pub fn lookup(&self, values: &[Dim]) -> Option<Lookup> {
        if self.kind.starts_with("list:") || self.dims().contains(&"mac") {
            return None;
        }
        let dims = self.dims();
        let mut hit = false;
        for m in &self.members {
            let all = dims.iter().enumerate().all(|(i, d)| {
                let (Some(part), Some(v)) = (m.parts.get(i), values.get(i)) else {
                    return false;
                };
                part_matches(d, part, v)
            });
            if all {
                if m.nomatch {
                    return Some(Lookup::NoMatch);
                }
                hit = true;
            }
        }
        Some(if hit { Lookup::Member } else { Lookup::Absent })
    }

    /// Whether the set type takes `nomatch` elements (the types with a `net` dimension).
    pub fn supports_nomatch(&self) -> bool {
        self.dims().contains(&"net")
    }
}

/// What a set holds for a packet's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No element covers them.
    Absent,
    /// A plain element covers them.
    Member,
    /// An element added with `nomatch` covers them (an exception inside a net).
    NoMatch,
}

fn part_matches(dim: &str, part: &str, v: &Dim) -> bool {
    match (dim, v) {
        ("ip" | "net", Dim::Addr(a)) => {
            if let Some((lo, hi)) = part.split_once('-')
                && let (Ok(lo), Ok(hi)) = (lo.parse::<IpAddr>(), hi.parse::<IpAddr>())
            {
                return lo <= *a && *a <= hi;
            }
            IfAddr::parse(part).is_some_and(|n| n.contains(*a))
        }
        ("port", Dim::Port(proto, port)) => {
            let (p, num) = match part.split_once(':') {
                Some((p, n)) => (Protocol::parse(p), n),
                None => (Some(Protocol::TCP), part),
            };
            let range = match num.split_once('-') {
                Some((a, b)) => a.parse::<u16>().ok().zip(b.parse::<u16>().ok()),
                None => num.parse::<u16>().ok().map(|n| (n, n)),
            };
            p == Some(*proto) && range.is_some_and(|(a, b)| a <= *port && *port <= b)
        }
        ("iface", Dim::Iface(i)) => part == i || part.strip_prefix("physdev:") == Some(i),
        ("mark", Dim::Mark(m)) => crate::syntax::args::parse_u32(part) == Some(*m),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_and_nomatch() {
        let s = IpSets::parse(
            "create nets hash:net family inet\nadd nets 10.0.0.0/8\nadd nets 10.1.0.0/16 nomatch\ncreate ipp hash:ip,port family inet\nadd ipp 10.0.0.5,udp:53\n",
        )
        .unwrap();
        let nets = s.get("nets").unwrap();
        let a = |t: &str| Dim::Addr(t.parse().unwrap());
        assert_eq!(nets.contains(&[a("10.2.3.4")]), Some(true));
        assert_eq!(nets.contains(&[a("10.1.3.4")]), Some(false));
        assert_eq!(nets.contains(&[a("11.0.0.1")]), Some(false));
        let ipp = s.get("ipp").unwrap();
        assert_eq!(
            ipp.contains(&[a("10.0.0.5"), Dim::Port(Protocol::UDP, 53)]),
            Some(true)
        );
        assert_eq!(
            ipp.contains(&[a("10.0.0.5"), Dim::Port(Protocol::TCP, 53)]),
            Some(false)
        );
        assert!(IpSets::parse("add nope 1.2.3.4\n").is_err());
    }
}
