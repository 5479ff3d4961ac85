//! Connection tracking as the engine needs it: tuples, the table of confirmed connections, NAT
//! bindings, and the translation every later packet and every reply gets without touching the
//! nat table.

use std::net::IpAddr;

use crate::ext::conntrack::CtState;
use crate::model::Protocol;
use crate::packet::{Packet, has_ports, tcp_flags};

/// A connection tuple: what conntrack keys a direction of a connection by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Layer-4 protocol.
    pub proto: Protocol,
    /// Source address.
    pub src: IpAddr,
    /// Source port (0 when the protocol has none; the ICMP echo id is not modelled).
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
}

impl Tuple {
    /// The tuple of a packet's current headers.
    pub fn of(p: &Packet) -> Tuple {
        Tuple {
            proto: p.proto,
            src: p.src,
            sport: p.sport.unwrap_or(0),
            dst: p.dst,
            dport: p.dport.unwrap_or(0),
        }
    }

    /// The same connection seen from the other side.
    pub fn inverse(&self) -> Tuple {
        Tuple {
            proto: self.proto,
            src: self.dst,
            sport: self.dport,
            dst: self.src,
            dport: self.sport,
        }
    }
}

/// The direction of a packet within its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Same direction as the connection's first packet.
    Original,
    /// The other way.
    Reply,
}

/// One tracked connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The original direction as the first packet arrived (before any NAT).
    pub orig: Tuple,
    /// The reply direction as replies will arrive (after NAT: from the real destination to
    /// the translated source).
    pub reply: Tuple,
    /// The connection mark (`CONNMARK`, `-m connmark`).
    pub mark: u32,
    /// Whether a reply has been seen.
    pub seen_reply: bool,
    /// Whether the source port was randomised by `--random-fully` (reply port shown as the
    /// original number).
    pub sport_random: bool,
}

impl Entry {
    /// A fresh entry for a packet: reply = inverse of the original, no NAT yet.
    pub fn new(p: &Packet) -> Entry {
        let orig = Tuple::of(p);
        Entry {
            orig,
            reply: orig.inverse(),
            mark: 0,
            seen_reply: false,
            sport_random: false,
        }
    }

    /// Whether the destination is translated (the `DNAT` virtual state).
    pub fn is_dnat(&self) -> bool {
        self.orig.dst != self.reply.src || self.orig.dport != self.reply.sport
    }

    /// Whether the source is translated (the `SNAT` virtual state). A source port chosen at
    /// random (`--random-fully`) counts as translated even when the address stays: the kernel
    /// picks a port other than the original one all but always.
    pub fn is_snat(&self) -> bool {
        self.orig.src != self.reply.dst || self.orig.sport != self.reply.dport || self.sport_random
    }

    /// The tuple a packet of this direction should carry once fully translated.
    pub fn target(&self, dir: Direction) -> Tuple {
        match dir {
            Direction::Original => self.reply.inverse(),
            Direction::Reply => self.orig.inverse(),
        }
    }
}

/// What conntrack says about the packet being traced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtInfo {
    /// Not looked at yet (the raw table runs before conntrack): no entry, state INVALID.
    None,
    /// Untracked (raw `NOTRACK` / `CT --notrack`).
    Untracked,
    /// Conntrack could not make sense of the packet (e.g. a TCP SYN,ACK without a connection).
    Invalid,
    /// A connection: either a new one not yet confirmed, or one from the table.
    Conn {
        /// The entry (a copy; written back to the table when the packet leaves).
        entry: Entry,
        /// Its index in the table, `None` for a new, unconfirmed connection.
        index: Option<usize>,
        /// The packet's direction.
        dir: Direction,
        /// Whether the destination translation (DNAT side) is settled.
        dst_done: bool,
        /// Whether the source translation (SNAT side) is settled.
        src_done: bool,
        /// Whether the packet is an ICMP error quoting a packet of the connection (state
        /// RELATED): it belongs to the connection without being one of its packets.
        related: bool,
    },
}

impl CtInfo {
    /// The `--ctstate` bits this packet shows.
    pub fn state_bits(&self) -> u8 {
        match self {
            CtInfo::None | CtInfo::Invalid => CtState::INVALID,
            CtInfo::Untracked => CtState::UNTRACKED,
            CtInfo::Conn {
                entry,
                dir,
                related,
                ..
            } => {
                let base = if *related {
                    CtState::RELATED
                } else if *dir == Direction::Reply || entry.seen_reply {
                    CtState::ESTABLISHED
                } else {
                    CtState::NEW
                };
                let mut bits = base;
                if entry.is_snat() {
                    bits |= CtState::SNAT;
                }
                if entry.is_dnat() {
                    bits |= CtState::DNAT;
                }
                bits
            }
        }
    }

    /// Whether the nat table is consulted on this hook for the given side (first packet of a
    /// connection, translation for that side not settled yet).
    pub fn nat_pending(&self, dst_side: bool) -> bool {
        match self {
            CtInfo::Conn {
                index: None,
                dst_done,
                src_done,
                ..
            } => !if dst_side { *dst_done } else { *src_done },
            _ => false,
        }
    }
}

/// The conntrack table: the connections earlier packets confirmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Entries in confirmation order.
    pub entries: Vec<Entry>,
}

impl Table {
    /// Finds the connection a tuple belongs to, and the direction.
    pub fn find(&self, t: &Tuple) -> Option<(usize, Direction)> {
        self.entries.iter().enumerate().find_map(|(i, e)| {
            if e.orig == *t {
                Some((i, Direction::Original))
            } else if e.reply == *t {
                Some((i, Direction::Reply))
            } else {
                None
            }
        })
    }

    /// Looks a packet up as the conntrack hook does: an existing connection, or a new one, or
    /// INVALID for a packet that cannot start one. An ICMP or ICMPv6 error belongs, as
    /// RELATED, to the connection its quoted header is a packet of (looked up by the
    /// inverted quoted tuple, and only when the error goes where that direction's packets
    /// go); without one it is INVALID.
    pub fn classify(&self, p: &Packet) -> CtInfo {
        if is_icmp_error(p) {
            let Some(q) = &p.quoted else {
                return CtInfo::Invalid;
            };
            let Some((i, dir)) = self.find(&q.inverse()) else {
                return CtInfo::Invalid;
            };
            let Some(entry) = self.entries.get(i).cloned() else {
                return CtInfo::Invalid;
            };
            let toward = match dir {
                Direction::Original => entry.orig.dst,
                Direction::Reply => entry.reply.dst,
            };
            if toward != p.dst {
                return CtInfo::Invalid;
            }
            return CtInfo::Conn {
                entry,
                index: Some(i),
                dir,
                dst_done: true,
                src_done: true,
                related: true,
            };
        }
        let t = Tuple::of(p);
        if let Some((i, dir)) = self.find(&t) {
            let entry = self
                .entries
                .get(i)
                .cloned()
                .unwrap_or_else(|| Entry::new(p));
            return CtInfo::Conn {
                entry,
                index: Some(i),
                dir,
                dst_done: true,
                src_done: true,
                related: false,
            };
        }
        if !can_start(p) {
            return CtInfo::Invalid;
        }
        CtInfo::Conn {
            entry: Entry::new(p),
            index: None,
            dir: Direction::Original,
            dst_done: false,
            src_done: false,
            related: false,
        }
    }

    /// Confirms a connection when its packet leaves netfilter alive: a new entry is inserted,
    /// an existing one updated (a reply marks it as seen both ways; a RELATED packet does not).
    /// A RELATED packet carrying a connection that is not in the table (an answer the node
    /// made to its packet) confirms it only in the original direction, as
    /// `__nf_conntrack_confirm` does.
    pub fn confirm(&mut self, info: &CtInfo) {
        if let CtInfo::Conn {
            entry,
            index,
            dir,
            related,
            ..
        } = info
        {
            if *related && index.is_none() && *dir == Direction::Reply {
                return;
            }
            let mut e = entry.clone();
            if *dir == Direction::Reply && !*related {
                e.seen_reply = true;
            }
            match index.and_then(|i| self.entries.get_mut(i)) {
                Some(slot) => *slot = e,
                None => self.entries.push(e),
            }
        }
    }
}

impl Table {
    /// Reads `conntrack -L` output (one connection per line: `tcp 6 117 SYN_SENT src=… dst=…
    /// sport=… dport=… [UNREPLIED] src=… dst=… sport=… dport=… mark=…`). Lines that are not
    /// connections (the summary line) are skipped; a connection line without both tuples is
    /// an error naming its line.
    pub fn parse_conntrack_list(text: &str) -> Result<Table, String> {
        let mut t = Table::default();
        for (n, line) in text.lines().enumerate() {
            let mut words: Vec<&str> = line.split_whitespace().collect();
            // `conntrack -L -o extended` starts with the layer-3 name and number.
            if matches!(words.first(), Some(&"ipv4") | Some(&"ipv6")) {
                words.drain(..words.len().min(2));
            }
            let Some(proto) = words.first().and_then(|p| Protocol::parse(p)) else {
                continue;
            };
            let mut tuples: Vec<[Option<&str>; 4]> = Vec::new();
            let mut mark = 0u32;
            let mut unreplied = false;
            for w in &words {
                let Some((k, v)) = w.split_once('=') else {
                    if *w == "[UNREPLIED]" {
                        unreplied = true;
                    }
                    continue;
                };
                let slot = match k {
                    "src" => 0,
                    "dst" => 1,
                    "sport" => 2,
                    "dport" => 3,
                    "mark" => {
                        mark = crate::syntax::args::parse_u32(v).unwrap_or(0);
                        continue;
                    }
                    _ => continue,
                };
                if slot == 0 {
                    tuples.push([None; 4]);
                }
                if let Some(last) = tuples.last_mut()
                    && let Some(x) = last.get_mut(slot)
                {
                    *x = Some(v);
                }
            }
            let tuple = |t: &[Option<&str>; 4]| -> Option<Tuple> {
                Some(Tuple {
                    proto,
                    src: t[0]?.parse().ok()?,
                    dst: t[1]?.parse().ok()?,
                    sport: t[2].map_or(Some(0), |p| p.parse().ok())?,
                    dport: t[3].map_or(Some(0), |p| p.parse().ok())?,
                })
            };
            let (Some(orig), Some(reply)) = (
                tuples.first().and_then(tuple),
                tuples.get(1).and_then(tuple),
            ) else {
                return Err(format!("line {}: not a conntrack entry: `{line}`", n + 1));
            };
            t.entries.push(Entry {
                orig,
                reply,
                mark,
                seen_reply: !unreplied,
                sport_random: false,
            });
        }
        Ok(t)
    }
}

/// Whether a packet without a connection can start one (TCP: SYN without ACK, or a bare ACK as
/// `nf_conntrack_tcp_loose` allows; other protocols and ICMP queries always; ICMP errors never
/// on their own).
pub fn can_start(p: &Packet) -> bool {
    if p.proto == Protocol::TCP {
        let f = p.tcp_flags.unwrap_or(0);
        if f & tcp_flags::RST != 0 {
            return false;
        }
        if f & tcp_flags::SYN != 0 {
            return f & tcp_flags::ACK == 0;
        }
        if f & tcp_flags::FIN != 0 {
            return false;
        }
        return f & tcp_flags::ACK != 0;
    }
    if p.proto == Protocol::ICMP {
        return matches!(p.icmp, Some((8 | 13 | 15 | 17, _)) | None);
    }
    if p.proto == Protocol::ICMPV6 {
        return matches!(p.icmp, Some((128, _)) | None);
    }
    true
}

/// Whether the packet is an ICMP error (destination unreachable, source quench, redirect,
/// time exceeded, parameter problem) or an ICMPv6 error (types 1 to 4): it quotes the header
/// of the packet it answers.
pub fn is_icmp_error(p: &Packet) -> bool {
    match p.icmp {
        Some((t, _)) if p.proto == Protocol::ICMP => matches!(t, 3 | 4 | 5 | 11 | 12),
        Some((t, _)) if p.proto == Protocol::ICMPV6 => (1..=4).contains(&t),
        _ => false,
    }
}

/// Rewrites the packet's destination (`dst_side`) or source to what the connection's
/// translation says for this direction. Returns whether anything changed. The header an
/// ICMP error quotes is translated with it, the other side of it (the quoted packet went the
/// other way), back to how that packet looked before its own translation, as
/// `nf_nat_icmp_reply_translation` does.
pub fn apply_binding(p: &mut Packet, entry: &Entry, dir: Direction, dst_side: bool) -> bool {
    let want = entry.target(dir);
    let ports = has_ports(p.proto);
    let before = p.clone();
    // The side of the connection this hook translates for this direction.
    let translated = match (dst_side, dir) {
        (true, Direction::Original) | (false, Direction::Reply) => entry.is_dnat(),
        _ => entry.is_snat(),
    };
    if let Some(q) = p.quoted.as_mut().filter(|_| translated) {
        let other = match dir {
            Direction::Original => entry.reply,
            Direction::Reply => entry.orig,
        };
        let quoted_ports = has_ports(q.proto);
        if dst_side {
            q.src = other.src;
            if quoted_ports {
                q.sport = other.sport;
            }
        } else {
            q.dst = other.dst;
            if quoted_ports {
                q.dport = other.dport;
            }
        }
    }
    if dst_side {
        p.dst = want.dst;
        if ports {
            p.dport = Some(want.dport);
        }
    } else {
        p.src = want.src;
        if ports {
            p.sport = Some(want.sport);
        }
        if dir == Direction::Original && entry.sport_random {
            p.sport_random = true;
        }
    }
    *p != before
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(src: &str, sport: u16, dst: &str, dport: u16, flags: u8) -> Packet {
        Packet {
            proto: Protocol::TCP,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            sport: Some(sport),
            dport: Some(dport),
            tcp_flags: Some(flags),
            icmp: None,
            in_iface: None,
            out_iface: None,
            physdev_in: None,
            physdev_out: None,
            mark: 0,
            sport_random: false,
            quoted: None,
            sender: None,
        }
    }

    #[test]
    fn reply_is_un_natted() {
        let syn = pkt("192.168.49.1", 40000, "10.100.29.239", 80, tcp_flags::SYN);
        let mut e = Entry::new(&syn);
        // DNAT to the pod, SNAT to the bridge address.
        e.reply.src = "10.244.0.6".parse().unwrap();
        e.reply.dst = "10.244.0.1".parse().unwrap();
        assert!(e.is_dnat() && e.is_snat());
        let mut t = Table::default();
        t.confirm(&CtInfo::Conn {
            entry: e,
            index: None,
            dir: Direction::Original,
            dst_done: true,
            src_done: true,
            related: false,
        });
        let mut reply = pkt(
            "10.244.0.6",
            80,
            "10.244.0.1",
            40000,
            tcp_flags::SYN | tcp_flags::ACK,
        );
        let info = t.classify(&reply);
        let CtInfo::Conn {
            entry, dir, index, ..
        } = &info
        else {
            panic!("{info:?}")
        };
        assert_eq!((*dir, *index), (Direction::Reply, Some(0)));
        assert_eq!(
            info.state_bits() & CtState::ESTABLISHED,
            CtState::ESTABLISHED
        );
        assert!(apply_binding(&mut reply, entry, *dir, true));
        assert!(apply_binding(&mut reply, entry, *dir, false));
        assert_eq!(reply.src.to_string(), "10.100.29.239");
        assert_eq!(reply.dst.to_string(), "192.168.49.1");
        assert_eq!(reply.dport, Some(40000));
    }

    #[test]
    fn reads_conntrack_list() {
        let t = Table::parse_conntrack_list(
            "tcp      6 431999 ESTABLISHED src=192.168.49.1 dst=10.100.29.239 sport=40000 dport=80 src=10.244.0.6 dst=10.244.0.1 sport=80 dport=40000 [ASSURED] mark=0 use=1\nudp      17 29 src=10.244.0.7 dst=10.96.0.10 sport=5353 dport=53 [UNREPLIED] src=10.244.0.2 dst=10.244.0.7 sport=53 dport=5353 mark=16384 use=1\nconntrack v1.4.8 (conntrack-tools): 2 flow entries have been shown.\n",
        )
        .unwrap();
        assert_eq!(t.entries.len(), 2);
        assert!(t.entries[0].is_dnat() && t.entries[0].is_snat() && t.entries[0].seen_reply);
        assert_eq!(
            (t.entries[1].mark, t.entries[1].seen_reply),
            (0x4000, false)
        );
        let reply = pkt("10.244.0.6", 80, "10.244.0.1", 40000, tcp_flags::ACK);
        assert!(matches!(
            t.classify(&reply),
            CtInfo::Conn {
                dir: Direction::Reply,
                ..
            }
        ));
        assert!(Table::parse_conntrack_list("tcp 6 1 src=1.2.3.4\n").is_err());
    }

    #[test]
    fn tcp_start_rules() {
        let t = Table::default();
        assert!(matches!(
            t.classify(&pkt("1.1.1.1", 1, "2.2.2.2", 2, tcp_flags::SYN)),
            CtInfo::Conn { .. }
        ));
        assert!(matches!(
            t.classify(&pkt("1.1.1.1", 1, "2.2.2.2", 2, tcp_flags::ACK)),
            CtInfo::Conn { .. }
        ));
        assert_eq!(
            t.classify(&pkt(
                "1.1.1.1",
                1,
                "2.2.2.2",
                2,
                tcp_flags::SYN | tcp_flags::ACK
            )),
            CtInfo::Invalid
        );
        assert_eq!(
            t.classify(&pkt("1.1.1.1", 1, "2.2.2.2", 2, tcp_flags::RST)),
            CtInfo::Invalid
        );
    }
}
