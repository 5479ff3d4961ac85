//! The canonical printer: a ruleset as `iptables-save` (1.8.9, nf_tables flavour) prints it
//! after `iptables-restore` of the same input.
//!
//! What "canonical" means here, as the kernel shows it: tables in the order mangle, security,
//! raw, filter, nat; a table only when it declares a chain or holds a rule (restoring an empty
//! `*table`/`COMMIT` section creates nothing); all built-in chains of a printed table, in hook order; user
//! chains in byte order of their names; rules grouped by chain in that same order; every option
//! in its extension's fixed order and spelling.

use crate::model::{Chain, IpMatch, Policy, Rule, Ruleset, Table};

/// Prints the whole ruleset as `iptables-save` would, without `#` lines. Chain and rule counters
/// are printed as held (`[0:0]` when none were read); rule counters only when the input had them.
pub fn print_save(ruleset: &Ruleset) -> String {
    let mut out = String::new();
    let mut tables: Vec<&Table> = ruleset
        .tables
        .iter()
        .filter(|t| table_is_created(t))
        .collect();
    tables.sort_by_key(|t| t.name.save_order());
    for t in tables {
        print_table(t, &mut out);
    }
    out
}

/// Whether restoring this table creates anything the kernel would list: a `*table` section
/// that declares no chain and holds no rule leaves no trace.
pub fn table_is_created(t: &Table) -> bool {
    !t.chains.is_empty()
}

/// The chains of a table in the order `iptables-save` lists them.
pub fn chains_in_save_order(t: &Table) -> Vec<&Chain> {
    let mut builtin: Vec<&Chain> = Vec::new();
    for h in t.name.hooks() {
        if let Some(c) = t.chains.iter().find(|c| c.hook == Some(*h)) {
            builtin.push(c);
        }
    }
    let mut user: Vec<&Chain> = t.chains.iter().filter(|c| !c.is_builtin()).collect();
    user.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    builtin.extend(user);
    builtin
}

fn print_table(t: &Table, out: &mut String) {
    out.push('*');
    out.push_str(t.name.as_str());
    out.push('\n');
    let chains = chains_in_save_order(t);
    for h in t.name.hooks() {
        let c = chains.iter().find(|c| c.hook == Some(*h));
        let policy = c.and_then(|c| c.policy).unwrap_or(Policy::Accept);
        let counters = c.map(|c| c.counters).unwrap_or_default();
        out.push_str(&format!(
            ":{} {} [{}:{}]\n",
            h.chain_name(),
            policy.as_str(),
            counters.packets,
            counters.bytes
        ));
    }
    for c in chains.iter().filter(|c| !c.is_builtin()) {
        out.push_str(&format!(
            ":{} - [{}:{}]\n",
            c.name, c.counters.packets, c.counters.bytes
        ));
    }
    for c in &chains {
        for r in &c.rules {
            if let Some(k) = r.counters.as_deref() {
                out.push_str(&format!("[{}:{}] ", k.packets, k.bytes));
            }
            out.push_str("-A ");
            out.push_str(&c.name);
            print_rule(r, out);
            out.push('\n');
        }
    }
    out.push_str("COMMIT\n");
}

/// Writes a rule's options (everything after `-A CHAIN`), each preceded by a space.
pub fn print_rule(rule: &Rule, out: &mut String) {
    print_ip(&rule.ip, out);
    for m in &rule.matches {
        m.print(out);
    }
    if let Some(t) = &rule.target {
        t.print(out);
    }
}

/// A rule's options as one string (`-s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j ACCEPT`).
pub fn rule_to_string(rule: &Rule) -> String {
    let mut s = String::new();
    print_rule(rule, &mut s);
    s.trim_start().to_string()
}

fn print_ip(ip: &IpMatch, out: &mut String) {
    fn neg(out: &mut String, n: bool) {
        if n {
            out.push_str(" !");
        }
    }
    if let Some(s) = &ip.src {
        neg(out, s.negated);
        out.push_str(&format!(" -s {}", s.value));
    }
    if let Some(d) = &ip.dst {
        neg(out, d.negated);
        out.push_str(&format!(" -d {}", d.value));
    }
    if let Some(i) = ip.in_iface() {
        neg(out, i.negated);
        out.push_str(&format!(" -i {}", i.value));
    }
    if let Some(o) = ip.out_iface() {
        neg(out, o.negated);
        out.push_str(&format!(" -o {}", o.value));
    }
    if let Some(p) = &ip.proto {
        neg(out, p.negated);
        out.push_str(&format!(" -p {}", p.value));
    }
    if let Some(f) = &ip.fragment {
        neg(out, f.negated);
        out.push_str(" -f");
    }
}
