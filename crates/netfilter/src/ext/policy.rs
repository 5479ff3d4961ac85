//! `-m policy`: the IPsec policy that was (or will be) applied to the packet.

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::{addr_of_family, number, push_addr_host, push_neg};
use crate::model::{AddrMask, Neg, Span};
use crate::syntax::args::{Args, Opt, parse_u32};
use crate::syntax::error::ParseError;

/// Which policy is looked at (`--dir`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyDir {
    /// `in`: the decapsulation policy (PREROUTING, INPUT, FORWARD).
    In,
    /// `out`: the encapsulation policy (FORWARD, OUTPUT, POSTROUTING).
    Out,
}

/// One element of the policy (elements are separated by `--next`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyElem {
    /// `--reqid`.
    pub reqid: Option<Neg<u32>>,
    /// `--spi`.
    pub spi: Option<Neg<u32>>,
    /// `--proto` (esp 50, ah 51, ipcomp 108).
    pub proto: Option<Neg<u8>>,
    /// `--mode`: true for tunnel, false for transport.
    pub tunnel: Option<Neg<bool>>,
    /// `--tunnel-dst`.
    pub tunnel_dst: Option<Neg<AddrMask>>,
    /// `--tunnel-src`.
    pub tunnel_src: Option<Neg<AddrMask>>,
}

/// The `policy` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// `--dir`.
    pub dir: Option<PolicyDir>,
    /// `--pol ipsec` (true) or `--pol none`.
    pub ipsec: Option<bool>,
    /// `--strict`: elements must match exactly, in order.
    pub strict: bool,
    /// The elements (at least one when any element option was given).
    pub elems: Vec<PolicyElem>,
}

impl Policy {
    fn elem(&mut self) -> &mut PolicyElem {
        if self.elems.is_empty() {
            self.elems.push(PolicyElem::default());
        }
        let last = self.elems.len() - 1;
        &mut self.elems[last]
    }
}

impl MatchExt for Policy {
    const OPTIONS: &'static [&'static str] = &[
        "--dir",
        "--pol",
        "--strict",
        "--reqid",
        "--spi",
        "--proto",
        "--mode",
        "--tunnel-src",
        "--tunnel-dst",
        "--next",
    ];

    fn new() -> Self {
        Policy::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let family = args.family;
        match opt.name {
            "--dir" => {
                let v = args.value(&opt)?;
                self.dir = Some(match v.as_str() {
                    "in" => PolicyDir::In,
                    "out" => PolicyDir::Out,
                    _ => return Err(ParseError::new(v.span, "`--dir` is `in` or `out`")),
                });
            }
            "--pol" => {
                let v = args.value(&opt)?;
                self.ipsec = Some(match v.as_str() {
                    "ipsec" => true,
                    "none" => false,
                    _ => return Err(ParseError::new(v.span, "`--pol` is `ipsec` or `none`")),
                });
            }
            "--strict" => self.strict = true,
            "--next" => {
                if !self.strict {
                    return Err(opt.error("`--next` requires `--strict` before it"));
                }
                self.elems.push(PolicyElem::default());
            }
            "--reqid" | "--spi" => {
                let v = args.value_negatable(&mut opt)?;
                let n = Some(Neg {
                    negated: opt.negated,
                    value: number(v, opt.name, 0, u32::MAX)?,
                });
                if opt.name == "--reqid" {
                    self.elem().reqid = n;
                } else {
                    self.elem().spi = n;
                }
            }
            "--proto" => {
                let v = args.value_negatable(&mut opt)?;
                let p = match v.text.to_ascii_lowercase().as_str() {
                    "esp" => 50,
                    "ah" => 51,
                    "ipcomp" => 108,
                    t => match parse_u32(t) {
                        Some(n @ (50 | 51 | 108)) => n as u8,
                        _ => {
                            return Err(ParseError::new(v.span, "`--proto` is esp, ah or ipcomp"));
                        }
                    },
                };
                self.elem().proto = Some(Neg {
                    negated: opt.negated,
                    value: p,
                });
            }
            "--mode" => {
                let v = args.value_negatable(&mut opt)?;
                let tunnel = match v.as_str() {
                    "tunnel" => true,
                    "transport" => false,
                    _ => {
                        return Err(ParseError::new(v.span, "`--mode` is tunnel or transport"));
                    }
                };
                self.elem().tunnel = Some(Neg {
                    negated: opt.negated,
                    value: tunnel,
                });
            }
            _ => {
                let v = args.value_negatable(&mut opt)?;
                let a = Some(Neg {
                    negated: opt.negated,
                    value: addr_of_family(v, family)?,
                });
                if opt.name == "--tunnel-src" {
                    self.elem().tunnel_src = a;
                } else {
                    self.elem().tunnel_dst = a;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if self.dir.is_none() {
            return Err(ParseError::new(
                at,
                "match `policy` requires `--dir in` or `--dir out`",
            ));
        }
        if self.ipsec.is_none() {
            return Err(ParseError::new(
                at,
                "match `policy` requires `--pol ipsec` or `--pol none`",
            ));
        }
        for e in &self.elems {
            let tunnel = matches!(e.tunnel, Some(Neg { value: true, .. }));
            if (e.tunnel_src.is_some() || e.tunnel_dst.is_some()) && !tunnel {
                return Err(ParseError::new(
                    at,
                    "`--tunnel-src`/`--tunnel-dst` are only valid with `--mode tunnel`",
                ));
            }
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        match self.dir {
            Some(PolicyDir::In) => out.push_str(" --dir in"),
            Some(PolicyDir::Out) => out.push_str(" --dir out"),
            None => {}
        }
        match self.ipsec {
            Some(true) => out.push_str(" --pol ipsec"),
            Some(false) => out.push_str(" --pol none"),
            None => {}
        }
        if self.strict {
            out.push_str(" --strict");
        }
        for (i, e) in self.elems.iter().enumerate() {
            if i > 0 {
                out.push_str(" --next");
            }
            if let Some(r) = &e.reqid {
                push_neg(out, r.negated);
                out.push_str(&format!(" --reqid {}", r.value));
            }
            if let Some(s) = &e.spi {
                push_neg(out, s.negated);
                out.push_str(&format!(" --spi {:#x}", s.value));
            }
            if let Some(p) = &e.proto {
                push_neg(out, p.negated);
                out.push_str(match p.value {
                    50 => " --proto esp",
                    51 => " --proto ah",
                    _ => " --proto ipcomp",
                });
            }
            if let Some(m) = &e.tunnel {
                push_neg(out, m.negated);
                out.push_str(if m.value {
                    " --mode tunnel"
                } else {
                    " --mode transport"
                });
            }
            for (name, a) in [
                ("--tunnel-dst", &e.tunnel_dst),
                ("--tunnel-src", &e.tunnel_src),
            ] {
                if let Some(a) = a {
                    push_neg(out, a.negated);
                    out.push_str(&format!(" {name} "));
                    push_addr_host(out, &a.value);
                }
            }
        }
    }
}

impl Policy {
    /// Evaluates the policy test. Traced packets are plain: none arrived through IPsec, so
    /// `--dir in --pol none` holds and `--dir in --pol ipsec` does not. Outgoing packets
    /// (`--dir out`) take an IPsec policy only if the host has one: on a host known to use
    /// no IPsec ([`crate::host::Host::ipsec`] is `Some(false)`) no route carries a transform,
    /// so `--pol none` holds and `--pol ipsec` does not; otherwise it is uncertain.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        match (self.dir, self.ipsec) {
            (Some(PolicyDir::In), Some(ipsec)) => Truth::of(!ipsec),
            (Some(PolicyDir::Out), Some(ipsec)) if cx.host.ipsec == Some(false) => {
                Truth::of(!ipsec)
            }
            (Some(PolicyDir::Out), _) => Truth::Unknown(
                "policy --dir out: whether the host has IPsec policies is not known (`ipsec: false` in the host file says it has none)".into(),
            ),
            _ => Truth::Unknown("policy: `--dir` and `--pol` are both needed".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4_in, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    #[test]
    fn traced_packets_are_not_ipsec() {
        let fix = Fixture::new(packet(Protocol::TCP, "192.168.49.7", "192.168.49.2"));
        let eval = |chain: &str, rule: &str| match match4_in("filter", chain, rule) {
            Match::Policy(m) => m.eval(&fix.cx()),
            other => panic!("{other:?}"),
        };
        assert_eq!(eval("INPUT", "-m policy --dir in --pol none"), Truth::Yes);
        assert_eq!(eval("INPUT", "-m policy --dir in --pol ipsec"), Truth::No);
        assert_eq!(
            eval(
                "INPUT",
                "-m policy --dir in --pol ipsec --strict --proto esp"
            ),
            Truth::No
        );
        assert!(matches!(
            eval("OUTPUT", "-m policy --dir out --pol ipsec"),
            Truth::Unknown(_)
        ));
    }

    #[test]
    fn outgoing_packets_of_a_host_without_ipsec() {
        let mut fix = Fixture::new(packet(Protocol::TCP, "192.168.49.2", "192.168.49.7"));
        fix.host.ipsec = Some(false);
        let eval = |rule: &str| match match4_in("filter", "OUTPUT", rule) {
            Match::Policy(m) => m.eval(&fix.cx()),
            other => panic!("{other:?}"),
        };
        assert_eq!(eval("-m policy --dir out --pol none"), Truth::Yes);
        assert_eq!(eval("-m policy --dir out --pol ipsec"), Truth::No);
        assert_eq!(
            eval("-m policy --dir out --pol ipsec --strict --proto esp"),
            Truth::No
        );
        let mut fix = Fixture::new(packet(Protocol::TCP, "192.168.49.2", "192.168.49.7"));
        fix.host.ipsec = Some(true);
        assert!(matches!(
            match match4_in("filter", "OUTPUT", "-m policy --dir out --pol none") {
                Match::Policy(m) => m.eval(&fix.cx()),
                other => panic!("{other:?}"),
            },
            Truth::Unknown(_)
        ));
    }
}
