//! The node-side view: the tables a node holds after kube-proxy's syncs, built-in
//! chains and the jump rules kube-proxy ensures in them included, as restore text or
//! in the normalised form `iptables-save` prints.

use crate::config::IpFamily;
use crate::proxier::SyncOutput;
use crate::restore::parse_restore;
use chainwalk_netfilter::model::Family;
use chainwalk_netfilter::syntax::{Severity, parse_save, print_save};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// Jump rules kube-proxy ensures (prepends, if missing) at every full sync:
/// (table, target chain, built-in chain, comment, extra match arguments).
const JUMPS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "filter",
        "KUBE-EXTERNAL-SERVICES",
        "INPUT",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-EXTERNAL-SERVICES",
        "FORWARD",
        "kubernetes externally-visible service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-NODEPORTS",
        "INPUT",
        "kubernetes health check service ports",
        "",
    ),
    (
        "filter",
        "KUBE-SERVICES",
        "FORWARD",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-SERVICES",
        "OUTPUT",
        "kubernetes service portals",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-FORWARD",
        "FORWARD",
        "kubernetes forwarding rules",
        "",
    ),
    (
        "filter",
        "KUBE-PROXY-FIREWALL",
        "INPUT",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-PROXY-FIREWALL",
        "OUTPUT",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "filter",
        "KUBE-PROXY-FIREWALL",
        "FORWARD",
        "kubernetes load balancer firewall",
        "-m conntrack --ctstate NEW",
    ),
    (
        "nat",
        "KUBE-SERVICES",
        "OUTPUT",
        "kubernetes service portals",
        "",
    ),
    (
        "nat",
        "KUBE-SERVICES",
        "PREROUTING",
        "kubernetes service portals",
        "",
    ),
    (
        "nat",
        "KUBE-POSTROUTING",
        "POSTROUTING",
        "kubernetes postrouting rules",
        "",
    ),
    // kubelet's firewall chain, which kube-proxy also ensures
    ("filter", "KUBE-FIREWALL", "INPUT", "", ""),
    ("filter", "KUBE-FIREWALL", "OUTPUT", "", ""),
];

/// One jump rule kube-proxy ensures in a built-in chain at full syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JumpRule {
    /// Table (`filter` or `nat`).
    pub table: &'static str,
    /// Built-in chain the rule is prepended to.
    pub chain: &'static str,
    /// kube-proxy chain jumped to (created if missing).
    pub target: &'static str,
    /// Comment (empty for kubelet's `KUBE-FIREWALL` jumps).
    pub comment: &'static str,
    /// Match arguments before the comment, space separated (may be empty).
    pub extra: &'static str,
}

impl JumpRule {
    /// The rule's arguments, one per element (comment unquoted), as given to `iptables`.
    pub fn args(&self) -> Vec<&'static str> {
        let mut a: Vec<&'static str> = self.extra.split_whitespace().collect();
        if !self.comment.is_empty() {
            a.extend(["-m", "comment", "--comment", self.comment]);
        }
        a.extend(["-j", self.target]);
        a
    }
}

/// The jump rules kube-proxy ensures, in the order it ensures (prepends) them.
pub fn jump_rules() -> Vec<JumpRule> {
    JUMPS
        .iter()
        .map(|&(table, target, chain, comment, extra)| JumpRule {
            table,
            chain,
            target,
            comment,
            extra,
        })
        .collect()
}

/// The canary chain kube-proxy creates in these tables to notice flushes.
pub const CANARY: &str = "KUBE-PROXY-CANARY";

fn builtin_chains(table: &str) -> &'static [&'static str] {
    match table {
        "filter" => &["INPUT", "FORWARD", "OUTPUT"],
        "nat" => &["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
        "mangle" => &["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"],
        "raw" => &["PREROUTING", "OUTPUT"],
        _ => &[],
    }
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    /// (chain, rules as the text after `-A CHAIN `); built-ins first.
    chains: Vec<(String, Vec<String>)>,
    /// Position of each chain in `chains`.
    index: HashMap<String, usize>,
}

impl Table {
    fn new(name: &str) -> Table {
        let chains: Vec<(String, Vec<String>)> = builtin_chains(name)
            .iter()
            .map(|c| (c.to_string(), Vec::new()))
            .collect();
        let mut t = Table {
            name: name.to_string(),
            chains,
            index: HashMap::default(),
        };
        t.reindex();
        t
    }
    fn reindex(&mut self) {
        self.index = self
            .chains
            .iter()
            .enumerate()
            .map(|(i, (c, _))| (c.clone(), i))
            .collect();
    }
    fn chain_mut(&mut self, name: &str) -> &mut Vec<String> {
        let i = match self.index.get(name) {
            Some(&i) => i,
            None => {
                self.chains.push((name.to_string(), Vec::new()));
                let i = self.chains.len() - 1;
                self.index.insert(name.to_string(), i);
                i
            }
        };
        // `i` is in bounds: the index only holds positions of `chains`.
        &mut self.chains[i].1
    }
    fn delete_chains(&mut self, names: &HashSet<&str>) {
        if names.is_empty() {
            return;
        }
        self.chains.retain(|(n, _)| !names.contains(n.as_str()));
        self.reindex();
    }
}

/// The tables of one family on a node, fed with kube-proxy's syncs in order.
#[derive(Debug, Clone)]
pub struct NodeTables {
    family: IpFamily,
    tables: Vec<Table>,
}

impl NodeTables {
    /// Empty tables (a node before kube-proxy started).
    pub fn new(family: IpFamily) -> NodeTables {
        NodeTables {
            family,
            tables: ["mangle", "filter", "nat"]
                .iter()
                .map(|t| Table::new(t))
                .collect(),
        }
    }

    fn table_mut(&mut self, name: &str) -> &mut Table {
        let i = match self.tables.iter().position(|t| t.name == name) {
            Some(i) => i,
            None => {
                self.tables.push(Table::new(name));
                self.tables.len() - 1
            }
        };
        // `i` is in bounds: it was just found or pushed.
        &mut self.tables[i]
    }

    /// Applies one sync: on a full sync first the canary chains and the jump rules
    /// kube-proxy ensures in built-in chains, then the restore input with
    /// `--noflush` semantics (declared chains are flushed and refilled, `-X` deletes).
    pub fn apply(&mut self, sync: &SyncOutput) {
        if sync.full_sync {
            for t in ["mangle", "nat", "filter"] {
                self.table_mut(t).chain_mut(CANARY);
            }
            for (table, dst, src, comment, extra) in JUMPS {
                let t = self.table_mut(table);
                t.chain_mut(dst);
                let mut rule = String::new();
                if !extra.is_empty() {
                    rule.push_str(extra);
                    rule.push(' ');
                }
                if !comment.is_empty() {
                    rule.push_str(&format!("-m comment --comment \"{comment}\" "));
                }
                rule.push_str("-j ");
                rule.push_str(dst);
                let chain = t.chain_mut(src);
                if !chain.contains(&rule) {
                    chain.insert(0, rule);
                }
            }
        }
        self.apply_restore(&sync.restore);
    }

    /// Applies restore text with `--noflush` semantics.
    pub fn apply_restore(&mut self, restore: &str) {
        for (name, t) in parse_restore(restore) {
            let table = self.table_mut(&name);
            for (c, _) in &t.chains {
                table.chain_mut(c).clear();
            }
            for (c, line) in &t.rules {
                let prefix = 3 + c.len() + 1;
                let rest = line.get(prefix..).unwrap_or_default().to_string();
                table.chain_mut(c).push(rest);
            }
            let deletes: HashSet<&str> = t.deletes.iter().map(String::as_str).collect();
            table.delete_chains(&deletes);
        }
    }

    /// All tables as restore text, rules in the argument order they were written.
    pub fn to_restore(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            out.push('*');
            out.push_str(&t.name);
            out.push('\n');
            let builtins = builtin_chains(&t.name);
            for (c, _) in &t.chains {
                if builtins.contains(&c.as_str()) {
                    out.push_str(&format!(":{c} ACCEPT [0:0]\n"));
                } else {
                    out.push_str(&format!(":{c} - [0:0]\n"));
                }
            }
            for (c, rules) in &t.chains {
                for r in rules {
                    out.push_str(&format!("-A {c} {r}\n"));
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }

    /// All tables the way `iptables-save` (nf_tables flavour) prints them after
    /// `iptables-restore` of [`NodeTables::to_restore`]: read and printed back by
    /// chainwalk's canonical printer (built-in chains first, user chains in byte order,
    /// every option in the kernel's spelling).
    pub fn to_save(&self) -> Result<String, SaveError> {
        let family = match self.family {
            IpFamily::V4 => Family::Ipv4,
            IpFamily::V6 => Family::Ipv6,
        };
        let text = self.to_restore();
        let parsed = parse_save(&text, Some(family));
        let errors: Vec<String> = parsed
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.render("node rules", &text))
            .collect();
        if errors.is_empty() {
            Ok(print_save(&parsed.ruleset))
        } else {
            Err(SaveError(errors.join("\n")))
        }
    }
}

/// The node's tables hold text the kernel would refuse (a rule that does not parse);
/// `iptables-restore` would reject the whole sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the node's rules do not parse:\n{0}")]
pub struct SaveError(String);

/// Replays syncs (in order, the first one full) into the ruleset the node holds,
/// in `iptables-save` form.
pub fn node_ruleset(syncs: &[SyncOutput]) -> Result<String, SaveError> {
    let family = syncs.first().map(|s| s.family).unwrap_or_default();
    let mut t = NodeTables::new(family);
    for s in syncs {
        t.apply(s);
    }
    t.to_save()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn save_form_is_what_the_kernel_prints() {
        let mut node = NodeTables::new(IpFamily::V4);
        node.apply_restore(
            "*nat\n:KUBE-SVC-X - [0:0]\n\
             -A KUBE-SVC-X -m comment --comment \"ns/a:p\" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-Y\n\
             -A KUBE-SVC-X -d 10.0.0.1 -j MARK --or-mark 0x4000\n\
             COMMIT\n",
        );
        let save = node.to_save().unwrap();
        // iptables 1.8.9 stores the probability as a 31-bit fraction and prints 11 decimals,
        // adds the prefix length, quotes comments, and spells `--or-mark` as `--set-xmark`.
        assert!(
            save.contains("-A KUBE-SVC-X -m comment --comment \"ns/a:p\" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-Y\n"),
            "{save}"
        );
        assert!(
            save.contains("-A KUBE-SVC-X -d 10.0.0.1/32 -j MARK --set-xmark 0x4000/0x4000\n"),
            "{save}"
        );
    }

    #[test]
    fn rules_that_do_not_parse_are_an_error() {
        let mut node = NodeTables::new(IpFamily::V4);
        node.apply_restore(
            "*nat\n:KUBE-SVC-X - [0:0]\n-A KUBE-SVC-X -d 10.0.0.300 -j ACCEPT\nCOMMIT\n",
        );
        let err = node.to_save().unwrap_err().to_string();
        assert!(err.contains("10.0.0.300"), "{err}");
    }
}
