//! The node-side view: the tables a node holds after kube-proxy's syncs, built-in
//! chains and the jump rules kube-proxy ensures in them included, as restore text or
//! in the normalised form `iptables-save` prints.

use crate::config::IpFamily;
use crate::proxier::SyncOutput;
use crate::restore::parse_restore;
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

    /// All tables the way `iptables-save` (nf_tables flavour) prints them: built-in
    /// chains first, user chains sorted by name, rules normalised (see
    /// [`iptables_save_form`]).
    pub fn to_save(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            out.push('*');
            out.push_str(&t.name);
            out.push('\n');
            let builtins = builtin_chains(&t.name);
            let mut order: Vec<&(String, Vec<String>)> = t.chains.iter().collect();
            let rank = |c: &str| {
                let b = builtins.iter().position(|x| *x == c);
                (b.is_none(), b.unwrap_or(0))
            };
            order.sort_by(|(a, _), (b, _)| {
                rank(a)
                    .cmp(&rank(b))
                    .then_with(|| a.as_str().cmp(b.as_str()))
            });
            for (c, _) in &order {
                if builtins.contains(&c.as_str()) {
                    out.push_str(&format!(":{c} ACCEPT [0:0]\n"));
                } else {
                    out.push_str(&format!(":{c} - [0:0]\n"));
                }
            }
            for (c, rules) in &order {
                for r in rules {
                    out.push_str(&save_rule(c, r, self.family));
                    out.push('\n');
                }
            }
            out.push_str("COMMIT\n");
        }
        out
    }
}

/// Replays syncs (in order, the first one full) into the ruleset the node holds,
/// in `iptables-save` form.
pub fn node_ruleset(syncs: &[SyncOutput]) -> String {
    let family = syncs.first().map(|s| s.family).unwrap_or_default();
    let mut t = NodeTables::new(family);
    for s in syncs {
        t.apply(s);
    }
    t.to_save()
}

/// Splits a rule into arguments, honouring double quotes (which are removed).
fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut has = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if in_q => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_q = !in_q;
                has = true;
            }
            c if c.is_whitespace() && !in_q => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn hex_norm(v: &str) -> String {
    let parse = |x: &str| {
        x.strip_prefix("0x")
            .or_else(|| x.strip_prefix("0X"))
            .map(|h| u32::from_str_radix(h, 16).ok())
            .unwrap_or_else(|| x.parse::<u32>().ok())
    };
    match parse(v) {
        Some(n) => format!("0x{n:x}"),
        None => v.to_string(),
    }
}

fn mark_norm(v: &str) -> String {
    match v.split_once('/') {
        Some((a, b)) => format!("{}/{}", hex_norm(a), hex_norm(b)),
        None => hex_norm(v),
    }
}

fn addr_norm(a: &str, family: IpFamily) -> String {
    if a.contains('/') {
        return a.to_string();
    }
    match family {
        IpFamily::V4 => format!("{a}/32"),
        IpFamily::V6 => format!("{a}/128"),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The probability `iptables-save` prints for `--probability p`: the kernel keeps
/// `round(p * 2^31)` and it is printed back with eleven decimals.
pub fn saved_probability(p: &str) -> String {
    match p.parse::<f64>() {
        Ok(v) => {
            let fixed = (v * 2147483648.0).round();
            format!("{:.11}", fixed / 2147483648.0)
        }
        Err(_) => p.to_string(),
    }
}

fn ctstate_norm(v: &str) -> String {
    const ORDER: [&str; 7] = [
        "INVALID",
        "NEW",
        "RELATED",
        "ESTABLISHED",
        "UNTRACKED",
        "SNAT",
        "DNAT",
    ];
    let states: Vec<&str> = v.split(',').collect();
    let mut out: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|s| states.contains(s))
        .collect();
    for s in states {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out.join(",")
}

fn save_match(name: &str, args: &[(bool, String, Vec<String>)], family: IpFamily) -> String {
    let mut out = format!("-m {name}");
    let opt = |o: &str| args.iter().find(|(_, k, _)| k == o);
    let push = |out: &mut String, neg: bool, k: &str, vals: &[String]| {
        if neg {
            out.push_str(" !");
        }
        out.push(' ');
        out.push_str(k);
        for v in vals {
            out.push(' ');
            out.push_str(v);
        }
    };
    match name {
        "comment" => {
            for (_, _, v) in args {
                out.push_str(" --comment ");
                out.push_str(&quote(v.first().map(String::as_str).unwrap_or_default()));
            }
        }
        "nfacct" => {
            // iptables-save prints two blanks between `--nfacct-name` and the name.
            for (neg, k, v) in args {
                let vals: Vec<String> = v.iter().map(|x| format!(" {x}")).collect();
                push(&mut out, *neg, k, &vals);
            }
        }
        "mark" => {
            for (neg, k, v) in args {
                let vals: Vec<String> = v.iter().map(|x| mark_norm(x)).collect();
                push(&mut out, *neg, k, &vals);
            }
        }
        "conntrack" => {
            for (neg, k, v) in args {
                let vals: Vec<String> = if k == "--ctstate" {
                    v.iter().map(|x| ctstate_norm(x)).collect()
                } else {
                    v.clone()
                };
                push(&mut out, *neg, k, &vals);
            }
        }
        "statistic" => {
            for (neg, k, v) in args {
                let vals: Vec<String> = if k == "--probability" {
                    v.iter().map(|x| saved_probability(x)).collect()
                } else {
                    v.clone()
                };
                push(&mut out, *neg, k, &vals);
            }
        }
        "recent" => {
            let neg = args.iter().any(|(n, _, _)| *n);
            if neg {
                out.push_str(" !");
            }
            for flag in ["--set", "--rcheck", "--update", "--remove"] {
                if opt(flag).is_some() {
                    out.push(' ');
                    out.push_str(flag);
                }
            }
            if let Some((_, _, v)) = opt("--seconds") {
                push(&mut out, false, "--seconds", v);
            }
            if opt("--reap").is_some() {
                out.push_str(" --reap");
            }
            if let Some((_, _, v)) = opt("--hitcount") {
                push(&mut out, false, "--hitcount", v);
            }
            if opt("--rttl").is_some() {
                out.push_str(" --rttl");
            }
            let name = opt("--name")
                .and_then(|(_, _, v)| v.first().cloned())
                .unwrap_or_else(|| "DEFAULT".into());
            out.push_str(&format!(" --name {name}"));
            let mask = opt("--mask")
                .and_then(|(_, _, v)| v.first().cloned())
                .unwrap_or_else(|| match family {
                    IpFamily::V4 => "255.255.255.255".into(),
                    IpFamily::V6 => "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".into(),
                });
            out.push_str(&format!(" --mask {mask}"));
            out.push_str(if opt("--rdest").is_some() {
                " --rdest"
            } else {
                " --rsource"
            });
        }
        _ => {
            for (neg, k, v) in args {
                push(&mut out, *neg, k, v);
            }
        }
    }
    out
}

/// Options that take no value in the matches and targets kube-proxy uses.
fn is_flag(opt: &str) -> bool {
    matches!(
        opt,
        "--set"
            | "--rcheck"
            | "--update"
            | "--remove"
            | "--reap"
            | "--rttl"
            | "--rsource"
            | "--rdest"
            | "--random-fully"
            | "--random"
            | "--persistent"
    )
}

fn save_rule(chain: &str, rule: &str, family: IpFamily) -> String {
    let toks = tokenize(rule);
    let mut src = None;
    let mut dst = None;
    let mut iif = None;
    let mut oif = None;
    let mut proto = None;
    type Opt = (bool, String, Vec<String>);
    let mut matches: Vec<(String, Vec<Opt>)> = Vec::new();
    let mut target: Option<(String, Vec<Opt>)> = None;
    let mut neg = false;
    let mut i = 0;
    while let Some(t) = toks.get(i) {
        let next = toks.get(i + 1).cloned().unwrap_or_default();
        match t.as_str() {
            "!" => {
                neg = true;
                i += 1;
                continue;
            }
            "-s" | "--source" => {
                src = Some((neg, addr_norm(&next, family)));
                i += 2;
            }
            "-d" | "--destination" => {
                dst = Some((neg, addr_norm(&next, family)));
                i += 2;
            }
            "-i" | "--in-interface" => {
                iif = Some((neg, next));
                i += 2;
            }
            "-o" | "--out-interface" => {
                oif = Some((neg, next));
                i += 2;
            }
            "-p" | "--protocol" => {
                proto = Some((neg, next));
                i += 2;
            }
            "-m" | "--match" => {
                matches.push((next, Vec::new()));
                i += 2;
            }
            "-j" | "--jump" => {
                target = Some((next, Vec::new()));
                i += 2;
            }
            o if o.starts_with("--") => {
                let mut vals = Vec::new();
                let mut j = i + 1;
                if !is_flag(o)
                    && let Some(v) = toks.get(j)
                    && v != "!"
                    && !(v.starts_with('-') && v.len() > 1)
                {
                    vals.push(v.clone());
                    j += 1;
                }
                let entry = (neg, o.to_string(), vals);
                if let Some((_, opts)) = target.as_mut() {
                    opts.push(entry);
                } else if let Some((_, opts)) = matches.last_mut() {
                    opts.push(entry);
                }
                i = j;
            }
            _ => i += 1,
        }
        neg = false;
    }
    let mut out = format!("-A {chain}");
    let mut general = |flag: &str, v: &Option<(bool, String)>| {
        if let Some((n, a)) = v {
            if *n {
                out.push_str(" !");
            }
            out.push_str(&format!(" {flag} {a}"));
        }
    };
    general("-s", &src);
    general("-d", &dst);
    general("-i", &iif);
    general("-o", &oif);
    general("-p", &proto);
    for (name, args) in &matches {
        out.push(' ');
        out.push_str(&save_match(name, args, family));
    }
    if let Some((name, args)) = &target {
        out.push_str(" -j ");
        out.push_str(name);
        let val = |o: &str| {
            args.iter()
                .find(|(_, k, _)| k == o)
                .and_then(|(_, _, v)| v.first().cloned())
        };
        match name.as_str() {
            "MARK" => {
                if let Some(m) = val("--or-mark") {
                    out.push_str(&format!(" --set-xmark {0}/{0}", hex_norm(&m)));
                } else if let Some(m) = val("--xor-mark") {
                    out.push_str(&format!(" --set-xmark {}/0x0", hex_norm(&m)));
                } else if let Some(m) = val("--and-mark") {
                    let v = m
                        .strip_prefix("0x")
                        .and_then(|h| u32::from_str_radix(h, 16).ok());
                    out.push_str(&format!(" --set-xmark 0x0/0x{:x}", !v.unwrap_or(0)));
                } else if let Some(m) = val("--set-mark") {
                    out.push_str(&format!(" --set-xmark {}/0xffffffff", hex_norm(&m)));
                } else if let Some(m) = val("--set-xmark") {
                    out.push_str(&format!(" --set-xmark {}", mark_norm(&m)));
                }
            }
            "REJECT" => {
                let with = val("--reject-with").unwrap_or_else(|| match family {
                    IpFamily::V4 => "icmp-port-unreachable".into(),
                    IpFamily::V6 => "icmp6-port-unreachable".into(),
                });
                out.push_str(&format!(" --reject-with {with}"));
            }
            _ => {
                for (n, k, v) in args {
                    if *n {
                        out.push_str(" !");
                    }
                    out.push(' ');
                    out.push_str(k);
                    for x in v {
                        out.push(' ');
                        out.push_str(x);
                    }
                }
            }
        }
    }
    out
}

/// Rewrites the `-A` rules of restore text into the normalised form `iptables-save`
/// prints (general options first, `/32`//`/128` prefixes, quoted comments, hex marks
/// without padding, probabilities as stored by the kernel, `MARK --set-xmark`,
/// `REJECT --reject-with`, `recent` defaults). Other lines are kept.
pub fn iptables_save_form(restore: &str, family: IpFamily) -> String {
    let mut out = String::with_capacity(restore.len());
    for line in restore.lines() {
        if let Some(rest) = line.strip_prefix("-A ") {
            let (chain, rule) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str(&save_rule(chain, rule, family));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn probability_as_saved() {
        assert_eq!(saved_probability("0.5000000000"), "0.50000000000");
        assert_eq!(saved_probability("0.3333333333"), "0.33333333349");
    }

    #[test]
    fn tokenize_quotes() {
        assert_eq!(
            tokenize(r#"-m comment --comment "a b" -j X"#),
            vec!["-m", "comment", "--comment", "a b", "-j", "X"]
        );
    }
}
