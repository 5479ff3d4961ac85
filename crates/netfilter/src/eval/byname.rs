//! Evaluation of match extensions known by name and their `iptables-save` arguments: the ones
//! kept verbatim (`Opaque`) and any typed one the engine has no `eval` for, printed back to
//! canonical arguments first. Each returns `None` when the extension is not known here.

use std::net::IpAddr;

use crate::conntrack::CtInfo;
use crate::eval::{Cx, Truth};
use crate::ext::conntrack::CtState;
use crate::ipset::Dim;
use crate::model::{Iface, Protocol};
use crate::packet::{ICMP_TYPES, ICMPV6_TYPES, has_ports};
use crate::syntax::args::parse_u32;

/// One option with its `!` and values.
struct Opt<'a> {
    name: &'a str,
    negated: bool,
    values: Vec<&'a str>,
}

/// Splits `[!] --opt v v … [!] --opt …` into options.
fn options(args: &[String]) -> Vec<Opt<'_>> {
    let mut out: Vec<Opt<'_>> = Vec::new();
    let mut neg = false;
    for a in args {
        if a == "!" {
            if let Some(last) = out.last_mut()
                && last.values.is_empty()
            {
                // `--opt ! value` (old position of the bang).
                last.negated = true;
            } else {
                neg = true;
            }
        } else if a.starts_with("--") {
            out.push(Opt {
                name: a,
                negated: neg,
                values: Vec::new(),
            });
            neg = false;
        } else if let Some(last) = out.last_mut() {
            last.values.push(a);
        }
    }
    out
}

/// Evaluates match `name` with `args`; `None` when the engine does not know it.
pub(crate) fn eval_match(name: &str, args: &[String], cx: &Cx<'_>) -> Option<Truth> {
    let opts = options(args);
    let p = cx.pkt;
    let mut truth = Truth::Yes;
    match name {
        "comment" | "helper" => {}
        "state" => {
            for o in &opts {
                if o.name == "--state" {
                    let bits = state_bits(o.values.first().copied().unwrap_or(""));
                    truth = truth.and(|| Truth::of((cx.ct.state_bits() & bits != 0) != o.negated));
                }
            }
        }
        "icmp" | "icmp6" => {
            let v6 = name == "icmp6";
            let proto = if v6 { Protocol::ICMPV6 } else { Protocol::ICMP };
            for o in &opts {
                if o.name == "--icmp-type" || o.name == "--icmpv6-type" {
                    let spec = o.values.first().copied().unwrap_or("");
                    let held = p.proto == proto
                        && p.icmp.is_some_and(|(t, c)| icmp_matches(spec, v6, t, c));
                    // A non-ICMP packet never matches, negated or not.
                    truth = truth.and(|| Truth::of(p.proto == proto && (held != o.negated)));
                }
            }
        }
        "iprange" => {
            for o in &opts {
                let range = o.values.first().and_then(|r| r.split_once('-'));
                let (lo, hi) = range
                    .and_then(|(a, b)| a.parse::<IpAddr>().ok().zip(b.parse::<IpAddr>().ok()))?;
                let ip = match o.name {
                    "--src-range" => p.src,
                    "--dst-range" => p.dst,
                    _ => return None,
                };
                let within = lo <= ip && ip <= hi && lo.is_ipv4() == ip.is_ipv4();
                truth = truth.and(|| Truth::of(within != o.negated));
            }
        }
        "physdev" => {
            let bridged_in = p.physdev_in.is_some();
            let bridge_in = p
                .in_iface
                .as_deref()
                .and_then(|i| cx.host.interface(i))
                .is_some_and(|i| i.bridge);
            if bridge_in && !bridged_in {
                return Some(Truth::Unknown(
                    "physdev: the packet arrived on a bridge but the bridge port is not known (name it with -i PORT)".into(),
                ));
            }
            for o in &opts {
                let held = match o.name {
                    "--physdev-in" => {
                        let want = Iface::new(o.values.first().copied().unwrap_or(""))?;
                        p.physdev_in.as_deref().is_some_and(|n| want.matches(n))
                    }
                    "--physdev-out" => {
                        let want = Iface::new(o.values.first().copied().unwrap_or(""))?;
                        p.physdev_out.as_deref().is_some_and(|n| want.matches(n))
                    }
                    "--physdev-is-in" => bridged_in,
                    "--physdev-is-out" | "--physdev-is-bridged" => p.physdev_out.is_some(),
                    _ => return None,
                };
                truth = truth.and(|| Truth::of(held != o.negated));
            }
        }
        "connmark" => {
            for o in &opts {
                if o.name == "--mark" {
                    let (v, m) = mark_mask(o.values.first().copied().unwrap_or(""))?;
                    let t = match cx.ct {
                        CtInfo::Conn { entry, .. } => {
                            Truth::of(((entry.mark & m) == v) != o.negated)
                        }
                        _ => Truth::No,
                    };
                    truth = truth.and(|| t);
                }
            }
        }
        "set" => {
            for o in &opts {
                if o.name != "--match-set" {
                    continue;
                }
                let (Some(set), Some(flags)) = (o.values.first(), o.values.get(1)) else {
                    return None;
                };
                let t = match cx.sets.and_then(|s| s.get(set)) {
                    None => Truth::Unknown(format!(
                        "set `{set}`: its contents are not given (pass `ipset save` output)"
                    )),
                    Some(s) => {
                        let dims = s.dims();
                        let values: Vec<Dim> = flags
                            .split(',')
                            .zip(dims.iter())
                            .map(|(f, d)| set_value(d, f == "src", cx))
                            .collect();
                        if values.len() < dims.len() {
                            Truth::Unknown(format!(
                                "set `{set}` has more dimensions than `{flags}`"
                            ))
                        } else {
                            match s.contains(&values) {
                                Some(b) => Truth::of(b != o.negated),
                                None => Truth::Unknown(format!(
                                    "set `{set}` of type {} cannot be evaluated",
                                    s.kind
                                )),
                            }
                        }
                    }
                };
                truth = truth.and(|| t);
            }
        }
        "policy" => {
            // Traced packets are plain: none arrived through IPsec. Which outgoing packets an
            // IPsec policy of the host would take is not modelled.
            let dir = opts
                .iter()
                .find(|o| o.name == "--dir")
                .and_then(|o| o.values.first().copied());
            let pol = opts
                .iter()
                .find(|o| o.name == "--pol")
                .and_then(|o| o.values.first().copied());
            match (dir, pol) {
                (Some("in"), Some("none")) => {}
                (Some("in"), Some("ipsec")) => truth = Truth::No,
                (Some("out"), _) => {
                    return Some(Truth::Unknown(
                        "policy --dir out: the host's IPsec policies are not modelled".into(),
                    ));
                }
                _ => return None,
            }
        }
        "rpfilter" => {
            let has = |n: &str| opts.iter().any(|o| o.name == n);
            if has("--validmark") {
                return None;
            }
            let invert = has("--invert");
            let held = match p.in_iface.as_deref() {
                None | Some("lo") => true,
                Some(iif) => {
                    if cx.host.is_local(p.src) {
                        has("--accept-local")
                    } else {
                        match crate::route::lookup(cx.host, p.src) {
                            Ok(r) if r.kind == crate::host::RouteKind::Unicast => {
                                has("--loose") || r.dev == iif
                            }
                            _ => false,
                        }
                    }
                }
            };
            truth = Truth::of(held != invert);
        }
        "owner" => {
            // Only locally generated packets carry a socket; for others the kernel's answer is
            // "no socket": the match holds only when every option is negated.
            if p.in_iface.is_none() {
                return Some(Truth::Unknown(
                    "owner: the sending socket's owner is not modelled".into(),
                ));
            }
            truth = Truth::of(opts.iter().all(|o| o.negated));
        }
        _ => return None,
    }
    Some(truth)
}

fn set_value(dim: &str, src: bool, cx: &Cx<'_>) -> Dim {
    let p = cx.pkt;
    match dim {
        "port" => {
            let port = if src { p.sport } else { p.dport };
            if has_ports(p.proto) {
                Dim::Port(p.proto, port.unwrap_or(0))
            } else {
                Dim::Port(p.proto, 0)
            }
        }
        "iface" => Dim::Iface(
            if src {
                p.in_iface.clone()
            } else {
                p.out_iface.clone()
            }
            .unwrap_or_default(),
        ),
        "mark" => Dim::Mark(p.mark),
        _ => Dim::Addr(if src { p.src } else { p.dst }),
    }
}

fn state_bits(list: &str) -> u8 {
    let mut bits = 0;
    for s in list.split(',') {
        bits |= match s {
            "INVALID" => CtState::INVALID,
            "NEW" => CtState::NEW,
            "RELATED" => CtState::RELATED,
            "ESTABLISHED" => CtState::ESTABLISHED,
            "UNTRACKED" => CtState::UNTRACKED,
            _ => 0,
        };
    }
    bits
}

fn icmp_matches(spec: &str, v6: bool, t: u8, c: u8) -> bool {
    if spec == "any" {
        return true;
    }
    let table = if v6 { ICMPV6_TYPES } else { ICMP_TYPES };
    if let Some((_, ty, code)) = table.iter().find(|(n, _, _)| *n == spec) {
        return *ty == t && code.is_none_or(|cc| cc == c);
    }
    match spec.split_once('/') {
        Some((ty, code)) => ty.parse() == Ok(t) && code.parse() == Ok(c),
        None => spec.parse() == Ok(t),
    }
}

/// Parses `VALUE[/MASK]`.
pub(crate) fn mark_mask(text: &str) -> Option<(u32, u32)> {
    match text.split_once('/') {
        Some((v, m)) => Some((parse_u32(v)?, parse_u32(m)?)),
        None => Some((parse_u32(text)?, u32::MAX)),
    }
}

/// Evaluates `-m recent` against (and updating) the lists: `--set` adds the address and
/// matches; `--rcheck`/`--update` match when the address is listed (`--update` refreshes it);
/// `--remove` matches and removes a listed address. With `--seconds`, `--hitcount` or
/// `--reap` a listed address cannot be decided (the times of earlier hits are not known).
pub(crate) fn eval_recent(
    args: &[String],
    p: &crate::packet::Packet,
    lists: &mut crate::recent::RecentLists,
) -> Truth {
    let opts = options(args);
    let has = |n: &str| opts.iter().find(|o| o.name == n);
    let name = has("--name")
        .and_then(|o| o.values.first().copied())
        .unwrap_or("DEFAULT");
    let mask = has("--mask").and_then(|o| o.values.first().copied());
    let addr = if has("--rdest").is_some() {
        p.dst
    } else {
        p.src
    };
    let addr = crate::recent::masked(addr, mask);
    let timed =
        has("--seconds").is_some() || has("--hitcount").is_some() || has("--reap").is_some();
    let listed = lists.contains(name, addr);
    let (cmd, negated) = ["--set", "--rcheck", "--update", "--remove"]
        .iter()
        .find_map(|c| has(c).map(|o| (*c, o.negated)))
        .unwrap_or(("--rcheck", false));
    let held = match cmd {
        "--set" => {
            lists.insert(name, addr);
            Truth::Yes
        }
        "--remove" => {
            lists.remove(name, addr);
            Truth::of(listed)
        }
        _ if listed && timed => {
            return Truth::Unknown(format!(
                "recent list `{name}` holds {addr}, but when it was seen is not known (--seconds/--hitcount)"
            ));
        }
        _ => Truth::of(listed),
    };
    match held {
        Truth::Yes => Truth::of(!negated),
        Truth::No => Truth::of(negated),
        other => other,
    }
}

/// What `CONNMARK` does, from its canonical arguments: `(ctmark, skbmark)` after it runs, or
/// `None` when the arguments are not understood.
pub(crate) fn connmark(args: &[String], ctmark: u32, mark: u32) -> Option<(u32, u32)> {
    let opts = options(args);
    let get = |n: &str| {
        opts.iter()
            .find(|o| o.name == n)
            .and_then(|o| o.values.first().copied())
    };
    let mask = |n: &str| get(n).map_or(Some(u32::MAX), parse_u32);
    if let Some(v) = get("--set-xmark") {
        let (v, m) = mark_mask(v)?;
        return Some(((ctmark & !m) ^ v, mark));
    }
    if let Some(v) = get("--set-mark") {
        let (v, m) = mark_mask(v)?;
        return Some(((ctmark & !(m | v)) ^ v, mark));
    }
    let (nf, ct) = (mask("--nfmask")?, mask("--ctmask")?);
    if opts.iter().any(|o| o.name == "--save-mark") {
        let m = get("--mask").map_or(Some(u32::MAX), parse_u32)?;
        let (nf, ct) = if get("--mask").is_some() {
            (m, m)
        } else {
            (nf, ct)
        };
        return Some(((ctmark & !ct) ^ (mark & nf), mark));
    }
    if opts.iter().any(|o| o.name == "--restore-mark") {
        let m = get("--mask").map_or(Some(u32::MAX), parse_u32)?;
        let (nf, ct) = if get("--mask").is_some() {
            (m, m)
        } else {
            (nf, ct)
        };
        return Some((ctmark, (mark & !nf) ^ (ctmark & ct)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn connmark_forms() {
        assert_eq!(
            connmark(&s(&["--set-xmark", "0x1/0xff"]), 0xf0, 7),
            Some((0x1, 7))
        );
        assert_eq!(
            connmark(
                &s(&[
                    "--save-mark",
                    "--nfmask",
                    "0xffffffff",
                    "--ctmask",
                    "0xffffffff"
                ]),
                0,
                0x42
            ),
            Some((0x42, 0x42))
        );
        assert_eq!(
            connmark(
                &s(&[
                    "--restore-mark",
                    "--nfmask",
                    "0xffffffff",
                    "--ctmask",
                    "0xffffffff"
                ]),
                0x9,
                0x42
            ),
            Some((0x9, 0x9))
        );
    }

    #[test]
    fn icmp_names_and_codes() {
        assert!(icmp_matches("echo-request", false, 8, 0));
        assert!(icmp_matches("3/4", false, 3, 4));
        assert!(!icmp_matches("port-unreachable", false, 3, 1));
        assert!(icmp_matches("any", false, 0, 0));
    }
}
