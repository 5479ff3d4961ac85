//! `-m recent` lists: the addresses each named list holds, given as input and updated as the
//! packets of a trace pass `--set`, `--update` and `--remove` rules.
//!
//! Input text: a line `[NAME]` starts a list; each following line is an address, or a line
//! of `/proc/net/xt_recent/NAME` (`src=ADDRESS ttl: … last_seen: …`).
//!
//! ```
//! use chainwalk_netfilter::recent::RecentLists;
//!
//! let r = RecentLists::parse("[SSH]\nsrc=10.0.0.9 ttl: 64 last_seen: 4295 oldest_pkt: 1 4295\n").unwrap();
//! assert!(r.contains("SSH", "10.0.0.9".parse().unwrap()));
//! ```

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Every recent list, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecentLists {
    /// The lists and their addresses.
    pub lists: BTreeMap<String, Vec<IpAddr>>,
}

impl RecentLists {
    /// Parses the input text described in the module documentation.
    pub fn parse(text: &str) -> Result<RecentLists, String> {
        let mut out = RecentLists::default();
        let mut current: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if let Some(name) = l.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                out.lists.entry(name.to_string()).or_default();
                current = Some(name.to_string());
                continue;
            }
            let addr = l
                .split_whitespace()
                .next()
                .map(|w| w.strip_prefix("src=").unwrap_or(w))
                .and_then(|a| a.parse::<IpAddr>().ok())
                .ok_or_else(|| format!("line {}: `{l}` is not an address", n + 1))?;
            let name = current
                .clone()
                .ok_or_else(|| format!("line {}: an address before any `[LIST]` line", n + 1))?;
            out.lists.entry(name).or_default().push(addr);
        }
        Ok(out)
    }

    /// Whether list `name` holds `addr`.
    pub fn contains(&self, name: &str, addr: IpAddr) -> bool {
        self.lists.get(name).is_some_and(|l| l.contains(&addr))
    }

    /// Adds `addr` to list `name`.
    pub fn insert(&mut self, name: &str, addr: IpAddr) {
        let l = self.lists.entry(name.to_string()).or_default();
        if !l.contains(&addr) {
            l.push(addr);
        }
    }

    /// Removes `addr` from list `name`.
    pub fn remove(&mut self, name: &str, addr: IpAddr) {
        if let Some(l) = self.lists.get_mut(name) {
            l.retain(|a| *a != addr);
        }
    }
}
