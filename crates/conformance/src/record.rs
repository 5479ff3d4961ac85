//! What is compared: an engine-independent record of one packet's way through a node.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use chainwalk_host::kernel::PacketSpec;

/// Where in a chain a step happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum At {
    /// The rule at this 1-based position (as `iptables-save` lists the chain) matched.
    Rule(u32),
    /// The built-in chain's policy decided.
    Policy,
    /// The end of a user chain was reached; back to the caller.
    Return,
}

/// A step's verdict, as the kernel reports it: DNAT, SNAT, MASQUERADE and REDIRECT are
/// `Accept`, REJECT is `Drop`, a rule without a terminal target (MARK, CONNMARK, no
/// target) is `Continue`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// `accept`.
    Accept,
    /// `drop`.
    Drop,
    /// `continue`: on to the next rule.
    Continue,
    /// `return` (a `-j RETURN` rule).
    Return,
    /// `jump CHAIN`.
    Jump(String),
    /// `goto CHAIN`.
    Goto(String),
    /// Anything else, as the kernel spells it.
    Other(String),
}

impl Verdict {
    /// Reads the kernel's spelling (`accept`, `jump KUBE-SERVICES`, ...).
    pub fn from_kernel(text: &str) -> Verdict {
        match text {
            "accept" => Verdict::Accept,
            "drop" => Verdict::Drop,
            "continue" => Verdict::Continue,
            "return" => Verdict::Return,
            t => match (t.strip_prefix("jump "), t.strip_prefix("goto ")) {
                (Some(c), _) => Verdict::Jump(c.to_string()),
                (_, Some(c)) => Verdict::Goto(c.to_string()),
                _ => Verdict::Other(t.to_string()),
            },
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Continue => f.write_str("continue"),
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(c) => write!(f, "jump {c}"),
            Verdict::Goto(c) => write!(f, "goto {c}"),
            Verdict::Other(t) => f.write_str(t),
        }
    }
}

/// One step of the path: a matching rule, a policy, or the end of a user chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    /// Hook: `PREROUTING`, `INPUT`, `FORWARD`, `OUTPUT`, `POSTROUTING`.
    pub hook: String,
    /// Table: `raw`, `mangle`, `nat`, `filter`, `security`.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// Rule position, policy or end of chain.
    pub at: At,
    /// The verdict of the step.
    pub verdict: Verdict,
}

/// What became of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Passed INPUT: delivered to the node itself.
    Delivered,
    /// Came in on an interface and left through POSTROUTING.
    Forwarded,
    /// Generated on the node and left through POSTROUTING.
    Sent,
    /// Dropped by a DROP rule or a DROP policy.
    Dropped,
    /// Dropped by a REJECT rule (which answers with an error).
    Rejected,
    /// Netfilter did not decide: dropped outside netfilter (routing, forwarding off).
    Unknown,
}

/// A port in the final headers or a conntrack tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Port {
    /// This port.
    Exact(u16),
    /// Chosen at random by the kernel (`--random-fully`, `--random`): any value agrees.
    Randomised(u16),
}

impl Port {
    /// The port number actually seen.
    pub fn value(self) -> u16 {
        match self {
            Port::Exact(p) | Port::Randomised(p) => p,
        }
    }

    /// Marks the port as randomised (keeps the value for flows built on it).
    pub fn randomised(self) -> Port {
        Port::Randomised(self.value())
    }

    /// Equality that treats a randomised port on either side as equal to any port.
    pub fn agrees(self, other: Port) -> bool {
        match (self, other) {
            (Port::Exact(a), Port::Exact(b)) => a == b,
            _ => true,
        }
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Port::Exact(p) => write!(f, "{p}"),
            Port::Randomised(p) => write!(f, "random({p})"),
        }
    }
}

fn port_agrees(a: Option<Port>, b: Option<Port>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.agrees(y),
        (None, None) => true,
        _ => false,
    }
}

fn opt_port(p: Option<Port>) -> String {
    p.map(|p| p.to_string()).unwrap_or_else(|| "-".into())
}

/// Headers of a packet as it leaves the node (captured behind the output interface), or
/// as it is delivered (after INPUT).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FinalHeaders {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number.
    pub proto: u8,
    /// TCP/UDP source port.
    pub sport: Option<Port>,
    /// TCP/UDP destination port.
    pub dport: Option<Port>,
    /// TCP flags.
    pub tcp_flags: Option<u8>,
    /// ICMP type.
    pub icmp_type: Option<u8>,
    /// IPv4 TTL / IPv6 hop limit.
    pub ttl: u8,
}

impl FinalHeaders {
    /// Equal, with randomised ports agreeing with anything.
    pub fn agrees(&self, o: &FinalHeaders) -> bool {
        self.src == o.src
            && self.dst == o.dst
            && self.proto == o.proto
            && port_agrees(self.sport, o.sport)
            && port_agrees(self.dport, o.dport)
            && self.tcp_flags == o.tcp_flags
            && self.icmp_type == o.icmp_type
            && self.ttl == o.ttl
    }
}

impl std::fmt::Display for FinalHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proto={} {}:{} -> {}:{} ttl={}",
            self.proto,
            self.src,
            opt_port(self.sport),
            self.dst,
            opt_port(self.dport),
            self.ttl
        )?;
        if let Some(fl) = self.tcp_flags {
            write!(f, " flags={}", crate::case::flags_text(fl))?;
        }
        if let Some(t) = self.icmp_type {
            write!(f, " icmp-type={t}")?;
        }
        Ok(())
    }
}

/// One direction of a conntrack entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CtTuple {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (TCP/UDP).
    pub sport: Option<Port>,
    /// Destination port (TCP/UDP).
    pub dport: Option<Port>,
    /// ICMP echo identifier.
    pub icmp_id: Option<u16>,
}

impl CtTuple {
    fn agrees(&self, o: &CtTuple) -> bool {
        self.src == o.src
            && self.dst == o.dst
            && port_agrees(self.sport, o.sport)
            && port_agrees(self.dport, o.dport)
            && self.icmp_id == o.icmp_id
    }
}

impl std::fmt::Display for CtTuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "src={} dst={}", self.src, self.dst)?;
        if self.sport.is_some() || self.dport.is_some() {
            write!(
                f,
                " sport={} dport={}",
                opt_port(self.sport),
                opt_port(self.dport)
            )?;
        }
        if let Some(id) = self.icmp_id {
            write!(f, " id={id}")?;
        }
        Ok(())
    }
}

/// The conntrack entry a packet belongs to after it passed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CtEntry {
    /// IP protocol number.
    pub proto: u8,
    /// Original direction.
    pub orig: CtTuple,
    /// Reply direction (shows NAT: the un-NAT of answers).
    pub reply: CtTuple,
    /// Connection mark.
    pub mark: u32,
}

impl CtEntry {
    /// Equal, with randomised ports agreeing with anything.
    pub fn agrees(&self, o: &CtEntry) -> bool {
        self.proto == o.proto
            && self.orig.agrees(&o.orig)
            && self.reply.agrees(&o.reply)
            && self.mark == o.mark
    }

    /// Parses one `conntrack -L` line.
    pub fn parse(line: &str) -> Option<CtEntry> {
        let mut words = line.split_whitespace();
        let _name = words.next()?;
        let proto: u8 = words.next()?.parse().ok()?;
        let mut tuples: Vec<CtTuple> = Vec::new();
        let mut mark = 0u32;
        for w in words {
            let Some((k, v)) = w.split_once('=') else {
                continue;
            };
            match k {
                "src" => tuples.push(CtTuple {
                    src: v.parse().ok()?,
                    dst: v.parse().ok()?,
                    sport: None,
                    dport: None,
                    icmp_id: None,
                }),
                "dst" => tuples.last_mut()?.dst = v.parse().ok()?,
                "sport" => tuples.last_mut()?.sport = Some(Port::Exact(v.parse().ok()?)),
                "dport" => tuples.last_mut()?.dport = Some(Port::Exact(v.parse().ok()?)),
                "id" => tuples.last_mut()?.icmp_id = Some(v.parse().ok()?),
                "mark" => mark = v.parse().ok()?,
                _ => {}
            }
        }
        let mut it = tuples.into_iter();
        let orig = it.next()?;
        let reply = it.next()?;
        Some(CtEntry {
            proto,
            orig,
            reply,
            mark,
        })
    }

    /// Whether `p` (as sent) belongs to this entry, in either direction.
    pub fn holds(&self, p: &PacketSpec) -> bool {
        if self.proto != p.proto.number() {
            return false;
        }
        let fits = |t: &CtTuple| {
            t.src == p.src
                && t.dst == p.dst
                && match (t.sport, t.dport, t.icmp_id) {
                    (Some(s), Some(d), _) => s.value() == p.sport && d.value() == p.dport,
                    (_, _, Some(id)) => id == p.sport,
                    _ => true,
                }
        };
        fits(&self.orig) || fits(&self.reply)
    }
}

impl std::fmt::Display for CtEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proto={} orig[{}] reply[{}] mark={:#x}",
            self.proto, self.orig, self.reply, self.mark
        )
    }
}

/// Everything compared about one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The packet as it was sent.
    pub packet: PacketSpec,
    /// The path through tables and chains.
    pub steps: Vec<Step>,
    /// The fate.
    pub fate: Fate,
    /// Output interface (forwarded or sent packets; `lo` for local traffic looped back).
    pub out_iface: Option<String>,
    /// Headers as the packet leaves (forwarded, sent) or is delivered; `None` otherwise.
    pub headers: Option<FinalHeaders>,
    /// The conntrack entry of the packet's flow after it passed; `None` when conntrack
    /// holds none (no ruleset needs conntrack, or the packet was dropped before
    /// confirmation).
    pub conntrack: Option<CtEntry>,
    /// When the packet was sent, counted from the moment the case's first packet was sent
    /// (measured for the kernel's records, not compared; `None` where not measured).
    pub sent_at: Option<std::time::Duration>,
}

impl Record {
    /// The record as compared: ports that a `--random-fully`/`--random` source NAT rule
    /// on the path chose are marked [`Port::Randomised`] (and the reply's ICMP echo
    /// identifier, which such a rule also picks at random, is dropped).
    pub fn normalized(&self, rules: &RuleIndex) -> Record {
        let mut r = self.clone();
        let random = r.steps.iter().any(|s| match s.at {
            At::Rule(pos) => rules.rule(&s.table, &s.chain, pos).is_some_and(|text| {
                let t = format!(" {text} ");
                (t.contains(" -j MASQUERADE ") || t.contains(" -j SNAT "))
                    && (t.contains(" --random-fully ") || t.contains(" --random "))
            }),
            _ => false,
        });
        if random {
            if let Some(h) = &mut r.headers {
                h.sport = h.sport.map(Port::randomised);
            }
            if let Some(ct) = &mut r.conntrack {
                ct.reply.dport = ct.reply.dport.map(Port::randomised);
                // The ICMP echo identifier is the "port" of ICMP: randomised as well.
                ct.reply.icmp_id = None;
            }
        }
        r
    }

    /// A readable listing: path, fate, headers, conntrack; rule texts from `rules`.
    pub fn describe(&self, rules: &RuleIndex) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "packet: {}", crate::case::packet_text(&self.packet));
        if let Some(t) = self.sent_at {
            let _ = writeln!(s, "sent at: {:.6} s", t.as_secs_f64());
        }
        for st in &self.steps {
            let (at, text) = match st.at {
                At::Rule(p) => (
                    format!("rule {p}"),
                    rules
                        .rule(&st.table, &st.chain, p)
                        .map(|t| format!("   # -A {} {t}", st.chain))
                        .unwrap_or_default(),
                ),
                At::Policy => ("policy".to_string(), String::new()),
                At::Return => ("end".to_string(), String::new()),
            };
            let _ = writeln!(
                s,
                "  {:<11} {:<8} {:<24} {:<8} {:<22}{text}",
                st.hook,
                st.table,
                st.chain,
                at,
                st.verdict.to_string()
            );
        }
        let _ = writeln!(
            s,
            "fate: {:?} out={}",
            self.fate,
            self.out_iface.as_deref().unwrap_or("-")
        );
        match &self.headers {
            Some(h) => _ = writeln!(s, "headers: {h}"),
            None => _ = writeln!(s, "headers: -"),
        }
        match &self.conntrack {
            Some(c) => _ = writeln!(s, "conntrack: {c}"),
            None => _ = writeln!(s, "conntrack: -"),
        }
        s
    }
}

/// The rules of a ruleset by table, chain and 1-based position, from its
/// `iptables-save` text (the positions the kernel's trace reports).
#[derive(Debug, Clone, Default)]
pub struct RuleIndex {
    rules: HashMap<(String, String), Vec<String>>,
}

impl RuleIndex {
    /// Reads `*table` and `-A CHAIN ...` lines.
    pub fn parse(text: &str) -> RuleIndex {
        let mut rules: HashMap<(String, String), Vec<String>> = HashMap::new();
        let mut table = String::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(t) = line.strip_prefix('*') {
                table = t.trim().to_string();
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let (chain, body) = rest.split_once(' ').unwrap_or((rest, ""));
                rules
                    .entry((table.clone(), chain.to_string()))
                    .or_default()
                    .push(body.to_string());
            }
        }
        RuleIndex { rules }
    }

    /// The text of a rule (everything after `-A CHAIN`).
    pub fn rule(&self, table: &str, chain: &str, position: u32) -> Option<&str> {
        let i = usize::try_from(position).ok()?.checked_sub(1)?;
        self.rules
            .get(&(table.to_string(), chain.to_string()))?
            .get(i)
            .map(String::as_str)
    }

    /// The rule's target (`-j X` or `-g X`), if any.
    pub fn target(&self, table: &str, chain: &str, position: u32) -> Option<&str> {
        let text = self.rule(table, chain, position)?;
        let mut words = text.split_whitespace();
        while let Some(w) = words.next() {
            if w == "-j" || w == "-g" {
                return words.next();
            }
        }
        None
    }
}
