//! Seeded random cases: a node with two or three interfaces, a ruleset across all five
//! tables and hooks, and packets aimed at the ruleset's own addresses, ports and
//! interfaces so that a good share of rules match.
//!
//! The same `(seed, index)` always gives the same case ([`ChaCha8Rng`]). Every ruleset
//! is one the kernel loads: targets only where the kernel allows them (DNAT and REDIRECT
//! in nat PREROUTING/OUTPUT, SNAT in nat POSTROUTING/INPUT, MASQUERADE in nat
//! POSTROUTING, REJECT in filter INPUT/FORWARD/OUTPUT, CONNMARK in mangle, no DROP in
//! nat), `-i` only on hooks with an input interface and `-o` only on hooks with an output
//! interface, and user chains called only from chains before them (no loops).
//!
//! Cases are deterministic: `-m statistic` is used in `nth` mode only, and rules with
//! state that a packet the node answers itself (a TCP reset, an ICMP error, an echo
//! reply) could change — `nth` counters and CONNMARK — sit only in chains that no
//! locally generated packet reaches (reached from PREROUTING, INPUT and FORWARD only).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use chainwalk_host::kernel::{
    Family, Ingress, InterfaceKind, LabHost, LabInterface, LabRoute, Neighbor, PacketSpec,
    tcp_flags,
};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

use crate::case::{Case, CasePacket, PacketTemplate};

/// A netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Hook {
    Pre,
    In,
    Fwd,
    Out,
    Post,
}

impl Hook {
    fn chain(self) -> &'static str {
        match self {
            Hook::Pre => "PREROUTING",
            Hook::In => "INPUT",
            Hook::Fwd => "FORWARD",
            Hook::Out => "OUTPUT",
            Hook::Post => "POSTROUTING",
        }
    }
}

const TABLES: [(&str, &[Hook]); 5] = [
    ("raw", &[Hook::Pre, Hook::Out]),
    (
        "mangle",
        &[Hook::Pre, Hook::In, Hook::Fwd, Hook::Out, Hook::Post],
    ),
    ("nat", &[Hook::Pre, Hook::In, Hook::Out, Hook::Post]),
    ("filter", &[Hook::In, Hook::Fwd, Hook::Out]),
    ("security", &[Hook::In, Hook::Fwd, Hook::Out]),
];

/// Random helpers over ChaCha8.
struct R(ChaCha8Rng);

impl R {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.0.next_u64() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi_incl: usize) -> usize {
        lo + self.below(hi_incl.saturating_sub(lo) + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.below(items.len());
        items.get(i)
    }
    fn pick_or<T: Clone>(&mut self, items: &[T], fallback: T) -> T {
        self.pick(items).cloned().unwrap_or(fallback)
    }
}

/// An interface of the generated node.
#[derive(Debug, Clone)]
struct Iface {
    name: String,
    /// Wildcards that cover the name (`eth+`, `e+`).
    wildcards: Vec<String>,
    addr: IpAddr,
    /// Prefix length of its address.
    plen: u8,
    prefix: String,
    /// Neighbours behind it.
    neighbors: Vec<IpAddr>,
}

/// Everything the rules and packets draw from.
#[derive(Debug, Clone)]
struct World {
    family: Family,
    ifaces: Vec<Iface>,
    /// Addresses beyond the uplink gateway.
    remotes: Vec<IpAddr>,
    /// Service addresses that exist only in DNAT rules.
    vips: Vec<IpAddr>,
    dports: Vec<u16>,
    sports: Vec<u16>,
    marks: Vec<u32>,
}

impl World {
    fn pick_iface(&self, r: &mut R) -> Iface {
        let fallback = Iface {
            name: "lo".into(),
            wildcards: vec!["l+".into()],
            addr: self.fallback(),
            plen: 8,
            prefix: "127.0.0.0/8".into(),
            neighbors: Vec::new(),
        };
        r.pick_or(&self.ifaces, fallback)
    }
    /// An address of the world's family for fallbacks that never happen.
    fn fallback(&self) -> IpAddr {
        match self.family {
            Family::Ipv4 => v4(10, 0, 0, 1),
            Family::Ipv6 => v6(0xfd00, 0, 0, 1),
        }
    }
    fn full_len(&self) -> u32 {
        if self.family == Family::Ipv4 { 32 } else { 128 }
    }
    fn node_addrs(&self) -> Vec<IpAddr> {
        self.ifaces.iter().map(|i| i.addr).collect()
    }
    fn neighbors(&self) -> Vec<IpAddr> {
        self.ifaces
            .iter()
            .flat_map(|i| i.neighbors.iter().copied())
            .collect()
    }
    /// Endpoints behind the non-uplink interfaces (DNAT targets).
    fn backends(&self) -> Vec<IpAddr> {
        self.ifaces
            .iter()
            .skip(1)
            .flat_map(|i| i.neighbors.iter().copied())
            .collect()
    }
    fn any_addr(&self, r: &mut R) -> IpAddr {
        let pools = [
            self.node_addrs(),
            self.neighbors(),
            self.remotes.clone(),
            self.vips.clone(),
        ];
        let pool = r.pick_or(&pools, Vec::new());
        r.pick_or(&pool, self.fallback())
    }
}

/// An IPv4 address.
fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// An IPv6 address `prefix:x:y::host` of the documentation and ULA ranges.
fn v6(p0: u16, p1: u16, p2: u16, host: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(p0, p1, p2, 0, 0, 0, 0, host))
}

fn build_world(r: &mut R, family: Family) -> World {
    let up_name = r.pick_or(&["eth0", "ens3"], "eth0").to_string();
    let lan_name = r.pick_or(&["eth1", "enp1s0"], "eth1").to_string();
    let br_name = r.pick_or(&["br0", "cni0"], "br0").to_string();
    let x = r.range(1, 250) as u8;
    let y = r.range(1, 250) as u8;
    let z = r.range(1, 250) as u8;
    let wild = |name: &str| -> Vec<String> {
        let mut w = vec![format!("{}+", &name[..name.len() - 1])];
        w.push(format!("{}+", &name[..1]));
        w
    };
    let bridge = r.chance(0.6);
    let v = r.range(0, 255) as u8;
    let (a, b) = (r.range(1, 250) as u8, r.range(1, 250) as u8);
    let (x6, y6, z6, v6n) = (u16::from(x), u16::from(y), u16::from(z), u16::from(v));
    let v6_world = family == Family::Ipv6;
    let mut ifaces = vec![
        Iface {
            wildcards: wild(&up_name),
            name: up_name,
            addr: if v6_world {
                v6(0x2001, 0xdb8, x6, 2)
            } else {
                v4(192, 168, x, 2)
            },
            plen: if v6_world { 64 } else { 24 },
            prefix: if v6_world {
                format!("2001:db8:{x6:x}::/64")
            } else {
                format!("192.168.{x}.0/24")
            },
            neighbors: vec![if v6_world {
                v6(0x2001, 0xdb8, x6, 1)
            } else {
                v4(192, 168, x, 1)
            }],
        },
        Iface {
            wildcards: wild(&lan_name),
            name: lan_name,
            addr: if v6_world {
                v6(0xfd00, y6, 1, 1)
            } else {
                v4(10, y, 1, 1)
            },
            plen: if v6_world { 64 } else { 24 },
            prefix: if v6_world {
                format!("fd00:{y6:x}:1::/64")
            } else {
                format!("10.{y}.1.0/24")
            },
            neighbors: if v6_world {
                vec![v6(0xfd00, y6, 1, 0x10), v6(0xfd00, y6, 1, 0x11)]
            } else {
                vec![v4(10, y, 1, 10), v4(10, y, 1, 11)]
            },
        },
    ];
    if bridge {
        ifaces.push(Iface {
            wildcards: wild(&br_name),
            name: br_name,
            addr: if v6_world {
                v6(0xfd00, 0x244, z6, 1)
            } else {
                v4(10, 244, z, 1)
            },
            plen: if v6_world { 64 } else { 24 },
            prefix: if v6_world {
                format!("fd00:244:{z6:x}::/64")
            } else {
                format!("10.244.{z}.0/24")
            },
            neighbors: if v6_world {
                vec![
                    v6(0xfd00, 0x244, z6, 5),
                    v6(0xfd00, 0x244, z6, 6),
                    v6(0xfd00, 0x244, z6, 7),
                ]
            } else {
                vec![v4(10, 244, z, 5), v4(10, 244, z, 6), v4(10, 244, z, 7)]
            },
        });
    }
    World {
        family,
        ifaces,
        remotes: if v6_world {
            vec![
                v6(0x2001, 0xdb8, 0xff00, u16::from(a)),
                v6(0x2001, 0xdb8, 0xfe00, u16::from(b)),
            ]
        } else {
            vec![v4(203, 0, 113, a), v4(198, 51, 100, b)]
        },
        vips: if v6_world {
            vec![v6(0xfd00, 0x96, v6n, 0x10), v6(0xfd00, 0x96, v6n, 0x20)]
        } else {
            vec![v4(10, 96, v, 10), v4(10, 96, v, 20)]
        },
        dports: vec![22, 53, 80, 443, 8080],
        sports: vec![40000, 40001, 40002, 50000, 33333],
        marks: vec![0x1, 0x2, 0x10, 0x4000],
    }
}

fn host_of(w: &World) -> (LabHost, Vec<Neighbor>) {
    let mut interfaces = vec![LabInterface {
        name: "lo".into(),
        addresses: vec!["127.0.0.1/8".into()],
        kind: InterfaceKind::Loopback,
    }];
    let mut neighbors = Vec::new();
    for (i, f) in w.ifaces.iter().enumerate() {
        interfaces.push(LabInterface {
            name: f.name.clone(),
            addresses: vec![format!("{}/{}", f.addr, f.plen)],
            kind: if i == 2 {
                InterfaceKind::Bridge { ports: vec![] }
            } else {
                InterfaceKind::Veth
            },
        });
        for n in &f.neighbors {
            neighbors.push(Neighbor::new(&f.name, *n));
        }
    }
    let up = w.ifaces.first();
    let routes = up
        .map(|u| {
            vec![LabRoute {
                to: "default".into(),
                via: u.neighbors.first().map(|g| g.to_string()),
                dev: u.name.clone(),
            }]
        })
        .unwrap_or_default();
    (
        LabHost {
            forwarding_v4: true,
            forwarding_v6: true,
            interfaces,
            routes,
            bridge_nf_call_iptables: false,
        },
        neighbors,
    )
}

/// A chain being generated.
struct ChainPlan {
    name: String,
    builtin: bool,
    /// Hooks that reach it.
    hooks: Vec<Hook>,
    /// Chains it calls: (callee index, goto).
    calls: Vec<(usize, bool)>,
}

fn subset(hooks: &[Hook], allowed: &[Hook]) -> bool {
    !hooks.is_empty() && hooks.iter().all(|h| allowed.contains(h))
}

const INBOUND: [Hook; 3] = [Hook::Pre, Hook::In, Hook::Fwd];
const HAS_IN: [Hook; 3] = [Hook::Pre, Hook::In, Hook::Fwd];
const HAS_OUT: [Hook; 3] = [Hook::Fwd, Hook::Out, Hook::Post];

fn addr_match(r: &mut R, w: &World, flag: &str) -> String {
    let neg = if r.chance(0.15) { "! " } else { "" };
    let half = w.full_len() / 2;
    let a = match r.below(4) {
        0 => w.pick_iface(r).prefix,
        1 => format!("{}/{half}", mask_addr(w.any_addr(r), half)),
        _ => format!("{}/{}", w.any_addr(r), w.full_len()),
    };
    format!("{neg}{flag} {a}")
}

fn mask_addr(a: IpAddr, len: u32) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len.min(32))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(v) & m))
        }
        IpAddr::V6(v) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(v) & m))
        }
    }
}

/// `a` moved by `delta` (saturating), within its family.
fn offset(a: IpAddr, delta: i64) -> IpAddr {
    match a {
        IpAddr::V4(v) => {
            let x = i64::from(u32::from(v))
                .saturating_add(delta)
                .clamp(0, i64::from(u32::MAX));
            IpAddr::V4(Ipv4Addr::from(x as u32))
        }
        IpAddr::V6(v) => {
            let x = u128::from(v);
            let y = if delta < 0 {
                x.saturating_sub(delta.unsigned_abs().into())
            } else {
                x.saturating_add(delta as u128)
            };
            IpAddr::V6(Ipv6Addr::from(y))
        }
    }
}

fn iface_match(r: &mut R, w: &World, flag: &str) -> String {
    let neg = if r.chance(0.15) { "! " } else { "" };
    let f = w.pick_iface(r);
    let name = if r.chance(0.3) {
        r.pick_or(&f.wildcards, f.name.clone())
    } else {
        f.name.clone()
    };
    format!("{neg}{flag} {name}")
}

fn ports_text(r: &mut R, pool: &[u16]) -> String {
    let p = r.pick_or(pool, 80);
    match r.below(5) {
        0 => format!(
            "{}:{}",
            p.saturating_sub(r.range(0, 3) as u16),
            p + r.range(0, 3) as u16
        ),
        _ => p.to_string(),
    }
}

/// A protocol match with an optional layer-4 part; returns (text, proto if positive).
fn proto_match(r: &mut R, w: &World, need: Need) -> (String, Option<&'static str>) {
    let force_tcp_udp = need != Need::Nothing;
    let proto = if need == Need::Tcp {
        "tcp"
    } else if force_tcp_udp {
        r.pick_or(&["tcp", "udp"], "tcp")
    } else {
        r.pick_or(&["tcp", "tcp", "udp", "icmp"], "tcp")
    };
    if !force_tcp_udp && r.chance(0.1) {
        let name = if proto == "icmp" && w.family == Family::Ipv6 {
            "ipv6-icmp"
        } else {
            proto
        };
        return (format!("! -p {name}"), None);
    }
    let mut s = format!("-p {proto}");
    let neg = |r: &mut R| if r.chance(0.15) { "! " } else { "" };
    match proto {
        "tcp" | "udp" => match r.below(6) {
            0 | 1 => {
                let n = neg(r);
                let _ = write!(s, " -m {proto} {n}--dport {}", ports_text(r, &w.dports));
            }
            2 => {
                let n = neg(r);
                let _ = write!(s, " -m {proto} {n}--sport {}", ports_text(r, &w.sports));
            }
            3 => {
                let (flag, pool) = match r.below(3) {
                    0 => ("--dports", &w.dports),
                    1 => ("--sports", &w.sports),
                    _ => ("--ports", &w.dports),
                };
                let mut ps: Vec<u16> = (0..r.range(1, 3)).map(|_| r.pick_or(pool, 80)).collect();
                ps.sort_unstable();
                ps.dedup();
                let list: Vec<String> = ps.iter().map(u16::to_string).collect();
                let n = neg(r);
                let _ = write!(s, " -m multiport {n}{flag} {}", list.join(","));
            }
            4 if proto == "tcp" => {
                let n = neg(r);
                match r.below(3) {
                    0 => _ = write!(s, " -m tcp {n}--syn"),
                    1 => _ = write!(s, " -m tcp {n}--tcp-flags SYN,RST,ACK,FIN SYN"),
                    _ => _ = write!(s, " -m tcp {n}--tcp-flags ACK ACK"),
                }
            }
            _ => {}
        },
        _ => {
            if w.family == Family::Ipv6 {
                s = "-p ipv6-icmp".to_string();
                if r.chance(0.6) {
                    let n = neg(r);
                    let t = r.pick_or(&[128u8, 129, 1], 128);
                    let _ = write!(s, " -m icmp6 {n}--icmpv6-type {t}");
                }
            } else if r.chance(0.6) {
                let n = neg(r);
                let t = r.pick_or(&[8u8, 0, 3], 8);
                let _ = write!(s, " -m icmp {n}--icmp-type {t}");
            }
        }
    }
    (s, Some(proto))
}

/// Matches of one rule. `need` forces a positive `-p tcp|udp` or `-p tcp` (targets with
/// ports, TCP resets).
fn matches(r: &mut R, w: &World, hooks: &[Hook], need: Need) -> (String, Option<&'static str>) {
    let need_proto = need != Need::Nothing;
    let mut parts: Vec<String> = Vec::new();
    let mut proto = None;
    let n = r.range(0, 3);
    let mut kinds: Vec<usize> = (0..n).map(|_| r.below(12)).collect();
    kinds.sort_unstable();
    kinds.dedup();
    if need_proto && !kinds.contains(&3) {
        kinds.push(3);
        kinds.sort_unstable();
    }
    for k in kinds {
        match k {
            0 => parts.push(addr_match(r, w, "-s")),
            1 => parts.push(addr_match(r, w, "-d")),
            2 => {
                if subset(hooks, &HAS_IN) {
                    parts.push(iface_match(r, w, "-i"));
                } else if subset(hooks, &HAS_OUT) {
                    parts.push(iface_match(r, w, "-o"));
                }
            }
            3 => {
                let (t, p) = proto_match(r, w, need);
                parts.push(t);
                proto = p;
            }
            4 => {
                let neg = if r.chance(0.2) { "! " } else { "" };
                let m = r.pick_or(&w.marks, 1);
                let mask = r.pick_or(&["", "/0xff", "/0xffff"], "");
                parts.push(format!("-m mark {neg}--mark {m:#x}{mask}"));
            }
            5 => {
                let neg = if r.chance(0.2) { "! " } else { "" };
                let s = r.pick_or(
                    &[
                        "NEW",
                        "ESTABLISHED",
                        "RELATED,ESTABLISHED",
                        "INVALID",
                        "DNAT",
                        "SNAT",
                        "NEW,UNTRACKED",
                    ],
                    "NEW",
                );
                parts.push(format!("-m conntrack {neg}--ctstate {s}"));
            }
            6 => {
                let neg = if r.chance(0.3) { "! " } else { "" };
                let (dir, t) = match r.below(4) {
                    0 => ("--src-type", "LOCAL"),
                    1 => ("--dst-type", "UNICAST"),
                    _ => ("--dst-type", "LOCAL"),
                };
                parts.push(format!("-m addrtype {neg}{dir} {t}"));
            }
            7 => {
                let c = r.below(1000);
                parts.push(format!("-m comment --comment \"case rule {c}\""));
            }
            8 if subset(hooks, &INBOUND) => {
                let every = r.range(2, 3);
                let packet = r.below(every);
                parts.push(format!(
                    "-m statistic --mode nth --every {every} --packet {packet}"
                ));
            }
            9 => {
                let neg = if r.chance(0.2) { "! " } else { "" };
                let a = w.any_addr(r);
                let lo = offset(a, -(r.range(0, 4) as i64));
                let hi = offset(a, r.range(0, 4) as i64);
                let dir = r.pick_or(&["--src-range", "--dst-range"], "--dst-range");
                parts.push(format!("-m iprange {neg}{dir} {lo}-{hi}"));
            }
            10 => {
                let m = r.pick_or(&w.marks, 1);
                parts.push(format!("-m connmark --mark {m:#x}/0xffff"));
            }
            _ => {
                // Aimed at a packet kind: a destination port of the pool with -p tcp.
                if !parts.iter().any(|p| p.contains("-p ")) {
                    let d = r.pick_or(&w.dports, 80);
                    parts.push(format!("-p tcp -m tcp --dport {d}"));
                    proto = Some("tcp");
                }
            }
        }
    }
    (parts.join(" "), proto)
}

/// What protocol match a target needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    TcpOrUdp,
    Tcp,
}

/// Picks a target for a rule in `table` reached from `hooks`.
fn target(
    r: &mut R,
    w: &World,
    table: &str,
    hooks: &[Hook],
    builtin: bool,
) -> (Option<String>, Need) {
    // (weight, name)
    let mut opts: Vec<(u32, &str)> = vec![(2, "none"), (3, "ACCEPT"), (2, "MARK")];
    if table != "nat" {
        opts.push((1, "DROP"));
    }
    opts.push((if builtin { 1 } else { 3 }, "RETURN"));
    if table == "filter" && subset(hooks, &[Hook::In, Hook::Fwd, Hook::Out]) {
        opts.push((1, "REJECT"));
    }
    if table == "mangle" && subset(hooks, &INBOUND) {
        opts.push((2, "CONNMARK"));
    }
    if table == "nat" {
        if subset(hooks, &[Hook::Pre, Hook::Out]) {
            opts.push((6, "DNAT"));
            opts.push((2, "REDIRECT"));
        }
        if subset(hooks, &[Hook::Post, Hook::In]) {
            opts.push((3, "SNAT"));
        }
        if subset(hooks, &[Hook::Post]) {
            opts.push((4, "MASQUERADE"));
        }
    }
    let total: u32 = opts.iter().map(|o| o.0).sum();
    let mut x = r.below(total as usize) as u32;
    let mut name = "none";
    for (wgt, n) in &opts {
        if x < *wgt {
            name = n;
            break;
        }
        x -= wgt;
    }
    let m = r.pick_or(&w.marks, 1);
    let t = match name {
        "none" => return (None, Need::Nothing),
        "ACCEPT" | "DROP" | "RETURN" => (name.to_string(), Need::Nothing),
        "MARK" => match r.below(3) {
            0 => (format!("MARK --set-mark {m:#x}"), Need::Nothing),
            1 => (format!("MARK --set-xmark {m:#x}/0xff"), Need::Nothing),
            _ => (format!("MARK --or-mark {m:#x}"), Need::Nothing),
        },
        "CONNMARK" => match r.below(3) {
            0 => (format!("CONNMARK --set-xmark {m:#x}/0xffff"), Need::Nothing),
            1 => (
                "CONNMARK --save-mark --nfmask 0xffff --ctmask 0xffff".into(),
                Need::Nothing,
            ),
            _ => (
                "CONNMARK --restore-mark --nfmask 0xffff --ctmask 0xffff".into(),
                Need::Nothing,
            ),
        },
        "REJECT" => {
            if r.chance(0.4) {
                ("REJECT --reject-with tcp-reset".into(), Need::Tcp)
            } else {
                let with = if w.family == Family::Ipv6 {
                    r.pick_or(
                        &[
                            "icmp6-port-unreachable",
                            "icmp6-adm-prohibited",
                            "icmp6-no-route",
                        ],
                        "icmp6-port-unreachable",
                    )
                } else {
                    r.pick_or(
                        &[
                            "icmp-port-unreachable",
                            "icmp-host-prohibited",
                            "icmp-net-unreachable",
                        ],
                        "icmp-port-unreachable",
                    )
                };
                (format!("REJECT --reject-with {with}"), Need::Nothing)
            }
        }
        "DNAT" => {
            let pool: Vec<IpAddr> = if r.chance(0.85) {
                w.backends()
            } else {
                w.node_addrs()
            };
            let to = r.pick_or(&pool, w.fallback());
            if r.chance(0.5) {
                let p = r.pick_or(&w.dports, 80);
                let to = match to {
                    IpAddr::V6(_) => format!("[{to}]"),
                    IpAddr::V4(_) => to.to_string(),
                };
                (format!("DNAT --to-destination {to}:{p}"), Need::TcpOrUdp)
            } else {
                (format!("DNAT --to-destination {to}"), Need::Nothing)
            }
        }
        "REDIRECT" => {
            let p = r.pick_or(&w.dports, 80);
            (format!("REDIRECT --to-ports {p}"), Need::TcpOrUdp)
        }
        "SNAT" => {
            let a = r.pick_or(&w.node_addrs(), w.fallback());
            let rf = if r.chance(0.2) { " --random-fully" } else { "" };
            (format!("SNAT --to-source {a}{rf}"), Need::Nothing)
        }
        _ => {
            let rf = if r.chance(0.3) { " --random-fully" } else { "" };
            (format!("MASQUERADE{rf}"), Need::Nothing)
        }
    };
    (Some(t.0), t.1)
}

fn rule_line(chain: &str, matches: &str, target: Option<&str>, goto: bool) -> String {
    let mut s = format!("-A {chain}");
    if !matches.is_empty() {
        s.push(' ');
        s.push_str(matches);
    }
    if let Some(t) = target {
        s.push_str(if goto { " -g " } else { " -j " });
        s.push_str(t);
    }
    s.push('\n');
    s
}

fn table_text(r: &mut R, w: &World, table: &str, hooks: &[Hook], prefix: &str) -> String {
    let mut chains: Vec<ChainPlan> = hooks
        .iter()
        .map(|h| ChainPlan {
            name: h.chain().to_string(),
            builtin: true,
            hooks: vec![*h],
            calls: Vec::new(),
        })
        .collect();
    let users = r.range(0, if table == "nat" { 4 } else { 3 });
    for u in 0..users {
        let idx = chains.len();
        let mut hs: Vec<Hook> = Vec::new();
        for _ in 0..r.range(1, 2) {
            let caller = r.below(idx);
            let goto = r.chance(0.25);
            if let Some(c) = chains.get_mut(caller) {
                c.calls.push((idx, goto));
                hs.extend(c.hooks.iter().copied());
            }
        }
        hs.sort_unstable();
        hs.dedup();
        chains.push(ChainPlan {
            name: format!("{prefix}-{u}"),
            builtin: false,
            hooks: hs,
            calls: Vec::new(),
        });
    }
    let mut s = format!("*{table}\n");
    for c in &chains {
        let policy = if !c.builtin {
            "-"
        } else if table != "nat" && r.chance(if table == "filter" { 0.08 } else { 0.02 }) {
            "DROP"
        } else {
            "ACCEPT"
        };
        let _ = writeln!(s, ":{} {policy} [0:0]", c.name);
    }
    for c in &chains {
        // Ordinary rules and the calls, interleaved.
        let n = if c.builtin {
            r.range(0, 4)
        } else {
            r.range(1, 4)
        };
        let mut items: Vec<Option<(usize, bool)>> = vec![None; n];
        for call in &c.calls {
            let at = r.range(0, items.len());
            items.insert(at, Some(*call));
        }
        for item in items {
            match item {
                Some((callee, goto)) => {
                    let (m, _) = matches(r, w, &c.hooks, Need::Nothing);
                    let name = chains.get(callee).map(|x| x.name.as_str()).unwrap_or("");
                    s.push_str(&rule_line(&c.name, &m, Some(name), goto));
                }
                None => {
                    let (t, need) = target(r, w, table, &c.hooks, c.builtin);
                    let (mut m, _) = matches(r, w, &c.hooks, need);
                    // A rule that ends every packet gets a match, so that it is not the
                    // end of every case.
                    if m.is_empty()
                        && t.as_deref()
                            .is_some_and(|t| t == "DROP" || t.starts_with("REJECT"))
                    {
                        while m.is_empty() {
                            m = matches(r, w, &c.hooks, need).0;
                        }
                    }
                    s.push_str(&rule_line(&c.name, &m, t.as_deref(), false));
                }
            }
        }
    }
    s.push_str("COMMIT\n");
    s
}

fn ruleset(r: &mut R, w: &World) -> String {
    let mut out = String::new();
    let probs = [0.4, 0.6, 0.8, 0.9, 0.3];
    let mut any = false;
    for ((table, hooks), p) in TABLES.iter().zip(probs) {
        if r.chance(p) {
            any = true;
            let prefix = match *table {
                "raw" => "RAW",
                "mangle" => "MGL",
                "nat" => "NAT",
                "filter" => "FLT",
                _ => "SEC",
            };
            out.push_str(&table_text(r, w, table, hooks, prefix));
        }
    }
    if !any {
        out.push_str(&table_text(
            r,
            w,
            "filter",
            &[Hook::In, Hook::Fwd, Hook::Out],
            "FLT",
        ));
    }
    out
}

fn flags(r: &mut R) -> u8 {
    match r.below(20) {
        0..=13 => tcp_flags::SYN,
        14..=16 => tcp_flags::ACK,
        17 => tcp_flags::SYN | tcp_flags::ACK,
        18 => tcp_flags::FIN | tcp_flags::ACK,
        _ => tcp_flags::RST,
    }
}

/// A packet aimed at the world's addresses.
fn packet(r: &mut R, w: &World) -> PacketSpec {
    let local = r.chance(0.25);
    let (src, ingress) = if local {
        (r.pick_or(&w.node_addrs(), w.fallback()), Ingress::Local)
    } else {
        let i = r.below(w.ifaces.len());
        let f = match w.ifaces.get(i) {
            Some(f) => f.clone(),
            None => w.pick_iface(r),
        };
        let src = if i == 0 && r.chance(0.7) {
            r.pick_or(&w.remotes, w.fallback())
        } else {
            r.pick_or(&f.neighbors, w.fallback())
        };
        (src, Ingress::Interface(f.name.clone()))
    };
    let mut dst = match r.below(10) {
        0..=2 => r.pick_or(&w.vips, w.fallback()),
        3..=4 => r.pick_or(&w.node_addrs(), w.fallback()),
        5..=7 => r.pick_or(&w.neighbors(), w.fallback()),
        _ => r.pick_or(&w.remotes, w.fallback()),
    };
    if dst == src {
        dst = r.pick_or(&w.remotes, w.fallback());
    }
    let sport = if r.chance(0.8) {
        r.pick_or(&w.sports, 40000)
    } else {
        r.range(1024, 65000) as u16
    };
    let dport = r.pick_or(&w.dports, 80);
    let s = SocketAddr::new(src, sport);
    let d = SocketAddr::new(dst, dport);
    let mut p = match r.below(20) {
        0..=11 => PacketSpec::tcp(s, d, flags(r), ingress),
        12..=16 => PacketSpec::udp(s, d, ingress),
        _ => {
            let mut e = PacketSpec::echo_request(src, dst, sport, ingress);
            if r.chance(0.2) && w.family == Family::Ipv4 {
                e.icmp_type = 13;
            }
            e
        }
    };
    if local && r.chance(0.2) {
        p.mark = r.pick_or(&w.marks, 1);
    }
    p
}

fn seeded(seed: u64, index: u64, stream: u64) -> R {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index.wrapping_mul(4).wrapping_add(stream));
    R(rng)
}

/// The random case `index` of `seed`: independent packets (conntrack flushed before
/// each); about 30 % of the cases are IPv6 (`ip6tables-restore`, ICMPv6), the others IPv4.
pub fn random_case(seed: u64, index: u64) -> Case {
    let mut r = seeded(seed, index, 0);
    let family = if r.chance(0.3) {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let w = build_world(&mut r, family);
    let (host, neighbors) = host_of(&w);
    let rules = ruleset(&mut r, &w);
    let n = r.range(2, 5);
    let packets = (0..n)
        .map(|_| CasePacket {
            flush_conntrack: true,
            packet: PacketTemplate::Fixed(packet(&mut r, &w)),
        })
        .collect();
    Case {
        name: format!("seed-{seed}-case-{index}"),
        host,
        neighbors,
        family,
        rules,
        packets,
    }
}

/// `count` random cases of `seed`: [`random_case`] for indexes `0..count`.
pub fn random_cases(seed: u64, count: u64) -> Vec<Case> {
    (0..count).map(|i| random_case(seed, i)).collect()
}

/// The flow case `index` of `seed`: a service address DNATed to a backend, masqueraded
/// or not, with random extra rules, and a flow through it: a TCP handshake (SYN, the
/// backend's SYN-ACK, the client's ACK, a retransmitted SYN-ACK) or a UDP request, its
/// response and a second request. Conntrack is flushed only before the first packet.
pub fn flow_case(seed: u64, index: u64) -> Case {
    let mut r = seeded(seed, index, 1);
    let w = build_world(&mut r, Family::Ipv4);
    let (host, neighbors) = host_of(&w);
    let vip = r.pick_or(&w.vips, w.fallback());
    let backend = r.pick_or(&w.backends(), w.fallback());
    let tcp = r.chance(0.6);
    let (proto, dport) = if tcp { ("tcp", 80u16) } else { ("udp", 53u16) };
    let bport = if r.chance(0.5) { 8080 } else { dport };
    let masq = match r.below(3) {
        0 => String::new(),
        1 => "-A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE\n".to_string(),
        _ => {
            "-A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE --random-fully\n".to_string()
        }
    };
    let mut rules = ruleset(&mut r, &w);
    // Replace (or add) the nat table with the service's, keeping random extras after it.
    let mut service = format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:SVC - [0:0]\n\
         -A PREROUTING -d {vip}/32 -p {proto} -m {proto} --dport {dport} -j SVC\n\
         -A OUTPUT -d {vip}/32 -p {proto} -m {proto} --dport {dport} -j SVC\n\
         -A SVC -p {proto} -j DNAT --to-destination {backend}:{bport}\n{masq}COMMIT\n"
    );
    if let Some(start) = rules.find("*nat\n") {
        let end = rules[start..]
            .find("COMMIT\n")
            .map(|e| start + e + 7)
            .unwrap_or(rules.len());
        rules.replace_range(start..end, "");
    }
    // Filter: established traffic passes first, anything else as generated.
    if let Some(start) = rules.find("*filter\n") {
        let end = rules[start..]
            .find("COMMIT\n")
            .map(|e| start + e)
            .unwrap_or(rules.len());
        let at = rules[start..end]
            .find("\n-A ")
            .map(|e| start + e + 1)
            .unwrap_or(end);
        rules.insert_str(
            at,
            "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n",
        );
    }
    service.push_str(&rules);
    let client_if = w.ifaces.first().map(|f| f.name.clone()).unwrap_or_default();
    let client = if r.chance(0.5) {
        r.pick_or(&w.remotes, w.fallback())
    } else {
        w.ifaces
            .first()
            .and_then(|f| f.neighbors.first().copied())
            .unwrap_or(w.fallback())
    };
    let sport = r.pick_or(&w.sports, 40000);
    let local = r.chance(0.2);
    let (src, ingress) = if local {
        (
            w.ifaces.first().map(|f| f.addr).unwrap_or(client),
            Ingress::Local,
        )
    } else {
        (client, Ingress::Interface(client_if))
    };
    let s = SocketAddr::new(src, sport);
    let d = SocketAddr::new(vip, dport);
    let fixed = |p: PacketSpec, flush: bool| CasePacket {
        flush_conntrack: flush,
        packet: PacketTemplate::Fixed(p),
    };
    let tmpl = |t: PacketTemplate| CasePacket {
        flush_conntrack: false,
        packet: t,
    };
    let packets = if tcp {
        vec![
            fixed(PacketSpec::tcp_syn(s, d, ingress), true),
            tmpl(PacketTemplate::Reply {
                to: 0,
                tcp_flags: tcp_flags::SYN | tcp_flags::ACK,
            }),
            tmpl(PacketTemplate::Again {
                of: 0,
                tcp_flags: tcp_flags::ACK,
            }),
            tmpl(PacketTemplate::Reply {
                to: 0,
                tcp_flags: tcp_flags::ACK | tcp_flags::PSH,
            }),
        ]
    } else {
        vec![
            fixed(PacketSpec::udp(s, d, ingress), true),
            tmpl(PacketTemplate::Reply {
                to: 0,
                tcp_flags: 0,
            }),
            tmpl(PacketTemplate::Again {
                of: 0,
                tcp_flags: 0,
            }),
        ]
    };
    Case {
        name: format!("seed-{seed}-flow-{index}"),
        host,
        neighbors,
        family: Family::Ipv4,
        rules: service,
        packets,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn same_seed_same_case() {
        assert_eq!(random_case(3, 9), random_case(3, 9));
        assert_ne!(random_case(3, 9).rules, random_case(3, 10).rules);
        assert_ne!(random_case(3, 9).rules, random_case(4, 9).rules);
        assert_eq!(flow_case(3, 2), flow_case(3, 2));
    }

    /// Per table: chain → hooks reaching it, and the rule lines of each chain; computed
    /// from the text alone.
    type Reach = (
        String,
        BTreeMap<String, BTreeSet<String>>,
        Vec<(String, String)>,
    );

    fn reach(rules: &str) -> Vec<Reach> {
        let mut out = Vec::new();
        for block in rules.split("COMMIT\n").filter(|b| b.starts_with('*')) {
            let table = block
                .lines()
                .next()
                .unwrap()
                .trim_start_matches('*')
                .to_string();
            let mut order: Vec<String> = Vec::new();
            let mut lines: Vec<(String, String)> = Vec::new();
            for l in block.lines() {
                if let Some(c) = l.strip_prefix(':') {
                    order.push(c.split_whitespace().next().unwrap().to_string());
                }
                if let Some(r) = l.strip_prefix("-A ") {
                    let (c, body) = r.split_once(' ').unwrap_or((r, ""));
                    lines.push((c.to_string(), body.to_string()));
                }
            }
            let mut hooks: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for c in &order {
                if c.chars().all(|ch| ch.is_ascii_uppercase()) {
                    hooks.entry(c.clone()).or_default().insert(c.clone());
                }
            }
            // Calls only go forward, so one pass in declaration order suffices.
            for c in &order {
                let from = hooks.get(c).cloned().unwrap_or_default();
                for (chain, body) in &lines {
                    if chain != c {
                        continue;
                    }
                    let words: Vec<&str> = body.split_whitespace().collect();
                    for w in words.windows(2) {
                        if (w[0] == "-j" || w[0] == "-g") && order.iter().any(|o| o == w[1]) {
                            let callee = w[1].to_string();
                            let ci = order.iter().position(|o| *o == callee).unwrap();
                            let cc = order.iter().position(|o| o == c).unwrap();
                            assert!(ci > cc, "backward call {c} -> {callee}");
                            hooks
                                .entry(callee)
                                .or_default()
                                .extend(from.iter().cloned());
                        }
                    }
                }
            }
            out.push((table, hooks, lines));
        }
        out
    }

    #[test]
    fn cases_cover_every_match_target_table_and_hook() {
        let mut text = String::new();
        let mut tables_hooks: BTreeSet<(String, String)> = BTreeSet::new();
        let mut ingress = BTreeSet::new();
        let mut protos = BTreeSet::new();
        let mut aimed = 0;
        let mut packets = 0;
        for i in 0..300 {
            let c = random_case(1, i);
            text.push_str(&c.rules);
            for (table, hooks, lines) in reach(&c.rules) {
                for (chain, body) in &lines {
                    let hs = hooks.get(chain).cloned().unwrap_or_default();
                    assert!(!hs.is_empty(), "{chain} unreachable in {}", c.name);
                    if chain.chars().all(|ch| ch.is_ascii_uppercase()) {
                        tables_hooks.insert((table.clone(), chain.clone()));
                    }
                    // Rules with state a node's own answers could change stay inbound.
                    if body.contains("--mode nth") || body.contains("-j CONNMARK") {
                        assert!(
                            hs.iter()
                                .all(|h| ["PREROUTING", "INPUT", "FORWARD"].contains(&h.as_str())),
                            "{}: {chain} reached from {hs:?}: {body}",
                            c.name
                        );
                    }
                    if body.contains("-j DNAT") || body.contains("-j REDIRECT") {
                        assert!(
                            hs.iter().all(|h| h == "PREROUTING" || h == "OUTPUT"),
                            "{body}"
                        );
                    }
                    if body.contains("-j MASQUERADE") {
                        assert!(hs.iter().all(|h| h == "POSTROUTING"), "{body}");
                    }
                    if body.contains("-i ") {
                        assert!(
                            !hs.contains("OUTPUT") && !hs.contains("POSTROUTING"),
                            "{body}"
                        );
                    }
                    if body.contains("-o ") {
                        assert!(
                            !hs.contains("PREROUTING") && !hs.contains("INPUT"),
                            "{body}"
                        );
                    }
                }
            }
            for p in &c.packets {
                let PacketTemplate::Fixed(p) = &p.packet else {
                    panic!("random cases hold fixed packets")
                };
                packets += 1;
                ingress.insert(
                    format!("{:?}", p.ingress)
                        .split('(')
                        .next()
                        .unwrap()
                        .to_string(),
                );
                protos.insert(p.proto.number());
                if c.rules.contains(&format!("{}/", p.dst))
                    || c.rules.contains(&format!("--dport {}", p.dport))
                {
                    aimed += 1;
                }
            }
        }
        for needle in [
            "-j ACCEPT",
            "-j DROP",
            "-j REJECT",
            "-j RETURN",
            "-j MARK",
            "-j CONNMARK",
            "-j DNAT",
            "-j SNAT",
            "-j MASQUERADE",
            "-j REDIRECT",
            " -g ",
            "--random-fully",
            "tcp-reset",
            "-s ",
            "! -s ",
            "-d ",
            "! -d ",
            "-i ",
            "! -i ",
            "-o ",
            "+ ",
            "-p tcp",
            "-p udp",
            "-p icmp",
            "! -p ",
            "--dport",
            "--sport",
            "! --dport",
            "--tcp-flags",
            "--syn",
            "-m multiport",
            "--dports",
            "--sports",
            "--ports",
            "-m mark",
            "! --mark",
            "-m connmark",
            "--ctstate",
            "! --ctstate",
            "-m addrtype",
            "--src-type",
            "! --dst-type",
            "-m comment",
            "--mode nth",
            "-m iprange",
            "--src-range",
            "--dst-range",
            "--icmp-type",
            "--save-mark",
            "--restore-mark",
            "/24 ",
            "/16 ",
            "/32 ",
            "/64 ",
            "/128 ",
            "-p ipv6-icmp",
            "--icmpv6-type",
            "icmp6-",
            "--to-destination [",
            ":PREROUTING DROP",
            ":FORWARD DROP",
        ] {
            assert!(text.contains(needle), "no generated rule has {needle:?}");
        }
        for (table, hooks) in TABLES {
            for h in hooks {
                assert!(
                    tables_hooks.contains(&(table.to_string(), h.chain().to_string())),
                    "no rule in {table} {}",
                    h.chain()
                );
            }
        }
        assert_eq!(ingress.len(), 2, "{ingress:?}");
        assert_eq!(protos, BTreeSet::from([1, 6, 17, 58]));
        assert!(
            aimed * 2 > packets,
            "only {aimed} of {packets} packets aimed at rules"
        );
    }
}
