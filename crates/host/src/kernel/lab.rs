//! A small test network around a "node" namespace, with packets traced by the kernel.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use super::host::{InterfaceKind, LabHost, Neighbor};
use super::netns::{Netns, in_netns, run_command};
use super::packet::{Headers, Ingress, PacketSpec, build_ip};
use super::save::restore_in;
use super::trace::{RawTrace, TRACETYPE_POLICY, TRACETYPE_RETURN, parse_datagram};
use super::{Family, KernelError, sys};

/// Name of the nft table that switches tracing on (priority −500) and marks the end of
/// each hook (priority 1000). Its own events are not reported.
pub(crate) const TRACE_TABLE: &str = "chainwalk_trace";
/// Name of the interface inside every neighbour namespace.
const NEIGHBOR_IFACE: &str = "nic";
/// Longest time one packet is followed.
const PACKET_DEADLINE: Duration = Duration::from_secs(3);
/// Silence after the last event of a packet that ends its observation.
const QUIET: Duration = Duration::from_millis(400);
/// How long to wait for a forwarded packet to show up behind the output interface.
const CAPTURE_WAIT: Duration = Duration::from_millis(1000);
const BUILTIN_CHAINS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];
const HOOKS: [&str; 5] = ["prerouting", "input", "forward", "output", "postrouting"];

static MAC_COUNTER: AtomicU16 = AtomicU16::new(1);

fn new_mac() -> [u8; 6] {
    let n = MAC_COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    [
        0x02,
        (pid >> 8) as u8,
        pid as u8,
        0x77,
        (n >> 8) as u8,
        n as u8,
    ]
}

fn mac_text(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What kind of event of the nf_tables trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceKind {
    /// A rule matched (its verdict is `continue` for non-terminal targets such as MARK;
    /// DNAT/SNAT/MASQUERADE show `accept`).
    Rule,
    /// A built-in chain's policy decided (`accept` or `drop`).
    Policy,
    /// The end of a user chain was reached (verdict `continue`; back to the caller). The
    /// kernel sends this as a rule event without a rule handle.
    Return,
}

/// One step of a packet's path as the kernel traced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEvent {
    /// Hook: `PREROUTING`, `INPUT`, `FORWARD`, `OUTPUT`, `POSTROUTING`.
    pub hook: String,
    /// iptables table: `raw`, `mangle`, `nat`, `filter`, `security`.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// 1-based position of the rule in its chain as iptables-save lists it; `None` for a
    /// policy or the end of a user chain.
    pub rule_position: Option<u32>,
    /// Verdict as nft spells it: `accept`, `drop`, `continue`, `return`, `jump X`, `goto X`.
    pub verdict: String,
    /// Event kind.
    pub kind: TraceKind,
    /// Packet mark at this event.
    pub mark: u32,
}

/// What finally happened to the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FateKind {
    /// Passed INPUT: delivered to the node itself.
    DeliveredLocal,
    /// Arrived on an interface and left through POSTROUTING.
    Forwarded,
    /// Generated locally and left through POSTROUTING.
    Sent,
    /// A rule or policy dropped it (DROP, REJECT, policy DROP).
    Dropped,
    /// Nothing in netfilter decided (dropped outside netfilter, or never reached it).
    Unknown,
}

/// The fate of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fate {
    /// What happened.
    pub kind: FateKind,
    /// Output interface of the node (POSTROUTING's out device).
    pub out_iface: Option<String>,
    /// Headers of the packet as captured leaving, in the neighbour namespace behind the
    /// output interface.
    pub packet_out: Option<Headers>,
    /// Neighbour namespace that received it (the node-side port for a bridge).
    pub out_port: Option<String>,
    /// Headers at the end of the last hook the trace saw (after NAT).
    pub last_header: Option<Headers>,
    /// Why the fate is `Unknown`, when it is.
    pub note: Option<String>,
}

/// Everything the kernel showed about one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelObservation {
    /// The path through the iptables tables and chains.
    pub events: Vec<TraceEvent>,
    /// What became of the packet.
    pub fate: Fate,
    /// `conntrack -L` lines after the packet.
    pub conntrack: Vec<String>,
}

impl KernelObservation {
    /// The chains visited, as `table/CHAIN`, without consecutive repeats.
    pub fn chain_path(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in &self.events {
            let step = format!("{}/{}", e.table, e.chain);
            if out.last() != Some(&step) {
                out.push(step);
            }
        }
        out
    }
}

/// A neighbour namespace while the lab is built: namespace, MAC of its interface, node
/// interface it sits behind, node-side port, its addresses.
type Built = (Netns, [u8; 6], String, String, Vec<IpAddr>);

/// A neighbour namespace behind a node interface.
struct NeighborNs {
    socket: OwnedFd,
    ifindex: i32,
    mac: [u8; 6],
    node_iface: String,
    port: String,
    addresses: Vec<IpAddr>,
    ns: Netns,
}

/// A node namespace built from a [`LabHost`], with neighbour namespaces behind its
/// interfaces. Everything is deleted when the lab is dropped.
pub struct Lab {
    trace: OwnedFd,
    raw_v4: OwnedFd,
    raw_v6: OwnedFd,
    neighbors: Vec<NeighborNs>,
    ifnames: HashMap<u32, String>,
    iface_macs: HashMap<String, [u8; 6]>,
    handles: HashMap<(u8, String, String), Vec<u64>>,
    node: Netns,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("node", &self.node.name())
            .field(
                "neighbors",
                &self
                    .neighbors
                    .iter()
                    .map(|n| n.ns.name())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn ip_n(ns: &Netns, args: &[&str]) -> Result<String, KernelError> {
    let mut full = vec!["ip", "-n", ns.name()];
    full.extend_from_slice(args);
    run_command(&full, None)
}

fn hook_name(chain: &str) -> Option<(&'static str, bool)> {
    let (start, hook) = if let Some(h) = chain.strip_prefix("start_") {
        (true, h)
    } else {
        (false, chain.strip_prefix("end_")?)
    };
    let upper = match hook {
        "prerouting" => "PREROUTING",
        "input" => "INPUT",
        "forward" => "FORWARD",
        "output" => "OUTPUT",
        "postrouting" => "POSTROUTING",
        _ => return None,
    };
    Some((upper, start))
}

impl Lab {
    /// Builds the node namespace from `host` and a neighbour namespace behind each veth
    /// (holding that interface's neighbours and route gateways), and one per neighbour
    /// behind a bridge (a "pod" on its own port). Neighbours get permanent neighbour
    /// entries on the node; they have no IP stack of their own (they never answer).
    pub fn new(host: &LabHost, neighbors: &[Neighbor]) -> Result<Lab, KernelError> {
        super::check_environment()?;
        super::cleanup_stale_namespaces();
        host.validate()?;
        let mut neighbors = neighbors.to_vec();
        for r in &host.routes {
            if let Some(via) = r.via.as_deref().and_then(|v| v.parse::<IpAddr>().ok())
                && !neighbors.iter().any(|n| n.address == via)
            {
                neighbors.push(Neighbor::new(&r.dev, via));
            }
        }
        for n in &neighbors {
            match host.interfaces.iter().find(|i| i.name == n.interface) {
                None => {
                    return Err(KernelError::Host(format!(
                        "neighbour {} behind unknown interface {}",
                        n.address, n.interface
                    )));
                }
                Some(i) if i.kind == InterfaceKind::Loopback => {
                    return Err(KernelError::Host(format!(
                        "neighbour {} cannot sit behind lo",
                        n.address
                    )));
                }
                Some(_) => {}
            }
        }

        let node = Netns::new("node")?;
        let fwd4 = if host.forwarding_v4 { "1" } else { "0" };
        let fwd6 = if host.forwarding_v6 { "1" } else { "0" };
        node.sysctl("net.ipv4.ip_forward", fwd4)?;
        node.sysctl("net.ipv6.conf.all.forwarding", fwd6)?;
        node.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        node.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        let brnf = std::path::Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables").exists();
        match (host.bridge_nf_call_iptables, brnf) {
            (true, false) => {
                return Err(KernelError::Host(
                    "bridge_nf_call_iptables needs the br_netfilter module (modprobe br_netfilter)"
                        .into(),
                ));
            }
            (on, true) => {
                let v = if on { "1" } else { "0" };
                node.sysctl("net.bridge.bridge-nf-call-iptables", v)?;
                node.sysctl("net.bridge.bridge-nf-call-ip6tables", v)?;
            }
            (false, false) => {}
        }

        let mut built: Vec<Built> = Vec::new();
        let mut iface_macs = HashMap::new();
        let mut port_counter = 0usize;
        for iface in &host.interfaces {
            let behind: Vec<IpAddr> = neighbors
                .iter()
                .filter(|n| n.interface == iface.name)
                .map(|n| n.address)
                .collect();
            match &iface.kind {
                InterfaceKind::Loopback => {}
                InterfaceKind::Veth => {
                    let ns = Netns::new(&format!("nb-{}", iface.name))?;
                    let (m, p) = (new_mac(), new_mac());
                    ip_n(
                        &node,
                        &[
                            "link",
                            "add",
                            &iface.name,
                            "address",
                            &mac_text(&m),
                            "type",
                            "veth",
                            "peer",
                            "name",
                            NEIGHBOR_IFACE,
                            "address",
                            &mac_text(&p),
                            "netns",
                            ns.name(),
                        ],
                    )?;
                    ip_n(&node, &["link", "set", &iface.name, "up"])?;
                    iface_macs.insert(iface.name.clone(), m);
                    built.push((ns, p, iface.name.clone(), iface.name.clone(), behind));
                }
                InterfaceKind::Bridge { ports } => {
                    let m = new_mac();
                    ip_n(
                        &node,
                        &[
                            "link",
                            "add",
                            &iface.name,
                            "address",
                            &mac_text(&m),
                            "type",
                            "bridge",
                            // Without snooping the bridge joins no multicast group
                            // (224.0.0.106, ff02::6a), so the node sends no IGMP or MLD
                            // reports, at random times, through the rules under test.
                            "mcast_snooping",
                            "0",
                        ],
                    )?;
                    ip_n(&node, &["link", "set", &iface.name, "up"])?;
                    iface_macs.insert(iface.name.clone(), m);
                    let mut port_list: Vec<(String, Vec<IpAddr>)> =
                        ports.iter().map(|p| (p.clone(), Vec::new())).collect();
                    for a in behind {
                        port_counter += 1;
                        port_list.push((format!("cwport{port_counter}"), vec![a]));
                    }
                    for (port, addrs) in port_list {
                        let ns = Netns::new(&format!("pod-{port}"))?;
                        let p = new_mac();
                        ip_n(
                            &node,
                            &[
                                "link",
                                "add",
                                &port,
                                "type",
                                "veth",
                                "peer",
                                "name",
                                NEIGHBOR_IFACE,
                                "address",
                                &mac_text(&p),
                                "netns",
                                ns.name(),
                            ],
                        )?;
                        ip_n(&node, &["link", "set", &port, "master", &iface.name])?;
                        ip_n(&node, &["link", "set", &port, "up"])?;
                        run_command(
                            &[
                                "bridge",
                                "-n",
                                node.name(),
                                "fdb",
                                "replace",
                                &mac_text(&p),
                                "dev",
                                &port,
                                "master",
                                "static",
                            ],
                            None,
                        )?;
                        built.push((ns, p, iface.name.clone(), port, addrs));
                    }
                }
            }
            for a in &iface.addresses {
                if iface.kind == InterfaceKind::Loopback && (a == "127.0.0.1/8" || a == "::1/128") {
                    continue;
                }
                let mut args = vec!["addr", "add", a.as_str(), "dev", iface.name.as_str()];
                if a.contains(':') {
                    args.push("nodad");
                }
                ip_n(&node, &args)?;
            }
        }
        // Neighbour namespaces: interface up, no IPv6 stack (no noise, no answers).
        for (ns, _, _, _, _) in &built {
            ns.sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
            ns.sysctl("net.ipv6.conf.default.disable_ipv6", "1")?;
            ip_n(ns, &["link", "set", NEIGHBOR_IFACE, "up"])?;
        }
        for r in &host.routes {
            let v6 = r.to.contains(':') || r.via.as_deref().is_some_and(|v| v.contains(':'));
            let mut args = vec![if v6 { "-6" } else { "-4" }, "route", "add", r.to.as_str()];
            if let Some(via) = &r.via {
                args.extend(["via", via.as_str()]);
            }
            args.extend(["dev", r.dev.as_str()]);
            match ip_n(&node, &args) {
                Err(KernelError::Command { stderr, .. }) if stderr.contains("File exists") => {}
                other => {
                    other?;
                }
            }
        }
        for (_, mac, node_iface, _, addrs) in &built {
            for a in addrs {
                ip_n(
                    &node,
                    &[
                        "neigh",
                        "replace",
                        &a.to_string(),
                        "lladdr",
                        &mac_text(mac),
                        "dev",
                        node_iface,
                        "nud",
                        "permanent",
                    ],
                )?;
            }
        }

        let mut script = String::new();
        for fam in ["ip", "ip6"] {
            script.push_str(&format!("table {fam} {TRACE_TABLE} {{\n"));
            for h in HOOKS {
                script.push_str(&format!(
                    "  chain start_{h} {{ type filter hook {h} priority -500; policy accept; meta nftrace set 1; }}\n"
                ));
                script.push_str(&format!(
                    "  chain end_{h} {{ type filter hook {h} priority 1000; policy accept; }}\n"
                ));
            }
            script.push_str("}\n");
        }
        node.exec(&["nft", "-f", "-"], Some(&script))?;

        let mut ifnames = HashMap::new();
        for line in ip_n(&node, &["-o", "link", "show"])?.lines() {
            let mut parts = line.splitn(3, ": ");
            if let (Some(idx), Some(name)) = (parts.next(), parts.next())
                && let Ok(i) = idx.trim().parse::<u32>()
            {
                let name = name.split('@').next().unwrap_or(name);
                ifnames.insert(i, name.to_string());
            }
        }

        let (trace, raw_v4, raw_v6) = in_netns(node.name(), || {
            Ok((
                sys::trace_socket()?,
                sys::raw_ip_socket(false)?,
                sys::raw_ip_socket(true)?,
            ))
        })?;
        let mut neighbor_list = Vec::new();
        for (ns, mac, node_iface, port, addresses) in built {
            let (socket, ifindex) = in_netns(ns.name(), || sys::packet_socket(NEIGHBOR_IFACE))?;
            neighbor_list.push(NeighborNs {
                socket,
                ifindex,
                mac,
                node_iface,
                port,
                addresses,
                ns,
            });
        }
        Ok(Lab {
            trace,
            raw_v4,
            raw_v6,
            neighbors: neighbor_list,
            ifnames,
            iface_macs,
            handles: HashMap::new(),
            node,
        })
    }

    /// Builds a lab from the YAML host description (see [`LabHost::from_yaml`]).
    pub fn from_yaml(yaml: &str, neighbors: &[Neighbor]) -> Result<Lab, KernelError> {
        Lab::new(&LabHost::from_yaml(yaml)?, neighbors)
    }

    /// The node namespace.
    pub fn node(&self) -> &Netns {
        &self.node
    }

    /// Loads a ruleset into the node (`iptables-nft-restore`; ipsets it references are
    /// created first) and learns the rule handles of every table for rule positions.
    pub fn restore(&mut self, rules: &str, family: Family) -> Result<(), KernelError> {
        restore_in(&self.node, rules, family)?;
        self.refresh_handles()
    }

    fn refresh_handles(&mut self) -> Result<(), KernelError> {
        self.handles.clear();
        let tables = self.node.exec(&["nft", "list", "tables"], None)?;
        for line in tables.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [_, fam, name] = words.as_slice() else {
                continue;
            };
            let famno: u8 = match *fam {
                "ip" => libc::AF_INET as u8,
                "ip6" => libc::AF_INET6 as u8,
                _ => continue,
            };
            if *name == TRACE_TABLE {
                continue;
            }
            let listing = self
                .node
                .exec(&["nft", "-a", "list", "table", fam, name], None)?;
            let mut chain: Option<String> = None;
            for l in listing.lines() {
                let t = l.trim();
                if let Some(rest) = t.strip_prefix("chain ") {
                    let cname = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_matches('"');
                    chain = Some(cname.to_string());
                    continue;
                }
                if t == "}" {
                    chain = None;
                    continue;
                }
                let (Some(c), Some((_, h))) = (&chain, t.rsplit_once("# handle ")) else {
                    continue;
                };
                if let Ok(handle) = h.trim().parse::<u64>() {
                    self.handles
                        .entry((famno, (*name).to_string(), c.clone()))
                        .or_default()
                        .push(handle);
                }
            }
        }
        Ok(())
    }

    /// `iptables-save` (with `-c` counters if asked) of the node, `#` lines removed.
    pub fn save(&self, family: Family, counters: bool) -> Result<String, KernelError> {
        let mut args = vec![family.save_cmd()];
        if counters {
            args.push("-c");
        }
        let text = self.node.exec(&args, None)?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect())
    }

    /// Empties the node's conntrack table (`conntrack -F`).
    pub fn flush_conntrack(&self) -> Result<(), KernelError> {
        self.node.exec(&["conntrack", "-F"], None).map(|_| ())
    }

    /// `conntrack -L` lines of the node for one family.
    pub fn conntrack(&self, family: Family) -> Result<Vec<String>, KernelError> {
        let f = match family {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        };
        let out = self.node.exec(&["conntrack", "-L", "-f", f], None)?;
        Ok(out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }

    /// Injects one packet with exactly the headers of `spec` and reports what the kernel
    /// did with it. Conntrack is kept: several packets of one flow can be sent in a row.
    pub fn send(&self, spec: &PacketSpec) -> Result<KernelObservation, KernelError> {
        self.drain_all();
        let local = self.inject(spec)?;
        self.observe(&spec.headers(), false, local, spec.family())
    }

    /// Injects one packet like [`Lab::send`] but does not follow it: for bulk runs (many
    /// packets, counted afterwards with rule counters or conntrack). The trace socket and
    /// the capture sockets are emptied on the next [`Lab::send`].
    pub fn send_untraced(&self, spec: &PacketSpec) -> Result<(), KernelError> {
        self.inject(spec).map(|_| ())
    }

    /// Puts the packet on the wire (or into the local stack); true when it is local.
    fn inject(&self, spec: &PacketSpec) -> Result<bool, KernelError> {
        let bytes = build_ip(spec)?;
        let local = match &spec.ingress {
            Ingress::Interface(name) => {
                if spec.mark != 0 {
                    return Err(KernelError::Packet(
                        "a mark can only be given to local packets".into(),
                    ));
                }
                let nb = self
                    .neighbors
                    .iter()
                    .filter(|n| &n.node_iface == name)
                    .find(|n| n.addresses.contains(&spec.src))
                    .or_else(|| self.neighbors.iter().find(|n| &n.node_iface == name))
                    .ok_or_else(|| {
                        KernelError::Packet(format!("no neighbour behind interface {name}"))
                    })?;
                let dst_mac = self
                    .iface_macs
                    .get(name)
                    .ok_or_else(|| KernelError::Packet(format!("unknown interface {name}")))?;
                let mut frame = Vec::with_capacity(14 + bytes.len());
                frame.extend_from_slice(dst_mac);
                frame.extend_from_slice(&nb.mac);
                let ethertype: u16 = if spec.src.is_ipv4() { 0x0800 } else { 0x86dd };
                frame.extend_from_slice(&ethertype.to_be_bytes());
                frame.extend_from_slice(&bytes);
                sys::send_frame(&nb.socket, nb.ifindex, &frame)?;
                false
            }
            Ingress::Local => {
                let fd = if spec.src.is_ipv4() {
                    &self.raw_v4
                } else {
                    &self.raw_v6
                };
                sys::set_mark(fd, spec.mark)?;
                match sys::send_ip(fd, spec.dst, &bytes) {
                    // A DROP in OUTPUT makes sendmsg fail with EPERM; the trace shows it.
                    Err(KernelError::Io { source, .. })
                        if source.raw_os_error() == Some(libc::EPERM) => {}
                    other => other?,
                }
                true
            }
        };
        Ok(local)
    }

    /// A real `connect()` from a process in the node to `dst` (TCP, with `SO_MARK` if
    /// `mark` is not zero): the kernel picks the source. Reports the first SYN.
    pub fn connect_local(
        &self,
        dst: SocketAddr,
        mark: u32,
    ) -> Result<KernelObservation, KernelError> {
        self.drain_all();
        let socket = in_netns(self.node.name(), move || sys::start_connect(dst, mark))?;
        let pattern = Headers {
            src: dst.ip(),
            dst: dst.ip(),
            proto: 6,
            sport: None,
            dport: Some(dst.port()),
            tcp_flags: Some(super::tcp_flags::SYN),
            icmp_type: None,
            icmp_code: None,
            ttl: 64,
        };
        let obs = self.observe(&pattern, true, true, Family::of(&dst.ip()));
        drop(socket);
        obs
    }

    fn drain_all(&self) {
        sys::drain(&self.trace);
        for n in &self.neighbors {
            sys::drain(&n.socket);
        }
    }

    fn position(&self, t: &RawTrace) -> Option<u32> {
        let handle = t.handle?;
        let list = self
            .handles
            .get(&(t.family, t.table.clone(), t.chain.clone()))?;
        list.iter().position(|h| *h == handle).map(|p| p as u32 + 1)
    }

    /// Follows the trace of the packet matching `pattern` (its source is ignored when
    /// `any_src`) and decides its fate.
    fn observe(
        &self,
        pattern: &Headers,
        any_src: bool,
        local: bool,
        family: Family,
    ) -> Result<KernelObservation, KernelError> {
        let matches = |h: &Headers| {
            let mut p = pattern.clone();
            if any_src {
                p.src = h.src;
            }
            h.same_tuple(&p)
        };
        let start = Instant::now();
        let mut last_event = start;
        let mut id: Option<u32> = None;
        let mut hook = String::new();
        let mut events = Vec::new();
        let mut last_header: Option<Headers> = None;
        let mut kind: Option<FateKind> = None;
        let mut out_iface: Option<String> = None;
        let mut awaiting_reentry = false;
        let mut buf = vec![0u8; 1 << 16];
        'outer: while start.elapsed() < PACKET_DEADLINE {
            if id.is_some() && last_event.elapsed() > QUIET {
                break;
            }
            if !sys::wait_readable(&self.trace, Duration::from_millis(50))? {
                continue;
            }
            while let Some((n, _)) = sys::recv(&self.trace, &mut buf)? {
                for t in parse_datagram(buf.get(..n).unwrap_or(&[])) {
                    let header = t
                        .network_header
                        .as_deref()
                        .and_then(|nh| Headers::parse(nh, t.transport_header.as_deref()));
                    if t.table == TRACE_TABLE {
                        let Some((h, is_start)) = hook_name(&t.chain) else {
                            continue;
                        };
                        if is_start {
                            let adopt = match id {
                                None => header.as_ref().is_some_and(&matches),
                                Some(cur) if cur != t.id && awaiting_reentry => {
                                    h == "PREROUTING"
                                        && header.is_some()
                                        && header.as_ref().map(|x| (x.src, x.dst, x.proto))
                                            == last_header.as_ref().map(|x| (x.src, x.dst, x.proto))
                                }
                                _ => false,
                            };
                            if adopt {
                                id = Some(t.id);
                                awaiting_reentry = false;
                                out_iface = None;
                            }
                            if Some(t.id) == id {
                                hook = h.to_string();
                                last_event = Instant::now();
                            }
                        } else if Some(t.id) == id {
                            last_event = Instant::now();
                            if header.is_some() {
                                last_header = header;
                            }
                            match h {
                                "INPUT" => {
                                    kind = Some(FateKind::DeliveredLocal);
                                    break 'outer;
                                }
                                "POSTROUTING" => {
                                    let oif = t.oif.and_then(|i| self.ifnames.get(&i).cloned());
                                    // A local packet whose destination NAT moved it to a
                                    // loopback address (REDIRECT in OUTPUT) ends
                                    // POSTROUTING without an output device in the trace;
                                    // like `lo`, it comes back through PREROUTING.
                                    if oif.as_deref() == Some("lo") || (local && t.oif.is_none()) {
                                        awaiting_reentry = true;
                                        out_iface = oif;
                                    } else {
                                        out_iface = oif;
                                        kind = Some(if local {
                                            FateKind::Sent
                                        } else {
                                            FateKind::Forwarded
                                        });
                                        break 'outer;
                                    }
                                }
                                _ => {}
                            }
                        }
                        continue;
                    }
                    if Some(t.id) != id {
                        continue;
                    }
                    last_event = Instant::now();
                    let ev_kind = match (t.kind, t.handle) {
                        (TRACETYPE_POLICY, _) => TraceKind::Policy,
                        (TRACETYPE_RETURN, _) | (_, None) => TraceKind::Return,
                        _ => TraceKind::Rule,
                    };
                    // The end of a built-in chain shows as a handle-less event right before
                    // the policy event; only the policy is reported.
                    if ev_kind == TraceKind::Return && BUILTIN_CHAINS.contains(&t.chain.as_str()) {
                        continue;
                    }
                    let verdict = if ev_kind == TraceKind::Policy {
                        match t.policy {
                            Some(1) => "accept".to_string(),
                            Some(0) => "drop".to_string(),
                            other => format!("policy {other:?}"),
                        }
                    } else {
                        t.verdict_text()
                    };
                    let rule_position = if ev_kind == TraceKind::Rule {
                        self.position(&t)
                    } else {
                        None
                    };
                    let terminal = match verdict.as_str() {
                        "drop" => Some(FateKind::Dropped),
                        "stolen" | "queue" => Some(FateKind::Unknown),
                        _ => None,
                    };
                    events.push(TraceEvent {
                        hook: hook.clone(),
                        table: t.table.clone(),
                        chain: t.chain.clone(),
                        rule_position,
                        verdict,
                        kind: ev_kind,
                        mark: t.mark.unwrap_or(0),
                    });
                    if terminal.is_some() {
                        kind = terminal;
                        break 'outer;
                    }
                }
            }
        }
        let note = match (kind, id) {
            (Some(FateKind::Unknown), _) => Some("the packet was stolen or queued".to_string()),
            (Some(_), _) => None,
            (None, None) => Some("no trace event: the packet never reached netfilter".to_string()),
            (None, Some(_)) => Some(format!(
                "no netfilter verdict after hook {hook}: dropped outside netfilter (routing, rp_filter, forwarding off, ...)"
            )),
        };
        let kind = kind.unwrap_or(FateKind::Unknown);
        let (packet_out, out_port) = match (&out_iface, kind) {
            (Some(oif), FateKind::Forwarded | FateKind::Sent) => {
                self.capture(oif, last_header.as_ref())?
            }
            _ => (None, None),
        };
        Ok(KernelObservation {
            events,
            fate: Fate {
                kind,
                out_iface,
                packet_out,
                out_port,
                last_header,
                note,
            },
            conntrack: self.conntrack(family)?,
        })
    }

    /// Waits for the packet to show up in a neighbour namespace behind `oif`.
    fn capture(
        &self,
        oif: &str,
        expect: Option<&Headers>,
    ) -> Result<(Option<Headers>, Option<String>), KernelError> {
        let behind: Vec<&NeighborNs> = self
            .neighbors
            .iter()
            .filter(|n| n.node_iface == oif)
            .collect();
        if behind.is_empty() {
            return Ok((None, None));
        }
        let start = Instant::now();
        let mut buf = vec![0u8; 1 << 16];
        while start.elapsed() < CAPTURE_WAIT {
            for n in &behind {
                while let Some((len, outgoing)) = sys::recv(&n.socket, &mut buf)? {
                    let frame = buf.get(..len).unwrap_or(&[]);
                    if outgoing || frame.len() < 14 {
                        continue;
                    }
                    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
                    if ethertype != 0x0800 && ethertype != 0x86dd {
                        continue;
                    }
                    let Some(h) = Headers::parse(&frame[14..], None) else {
                        continue;
                    };
                    let wanted = match expect {
                        Some(e) => h.same_tuple(e),
                        None => true,
                    };
                    if wanted {
                        return Ok((Some(h), Some(n.port.clone())));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok((None, None))
    }
}
