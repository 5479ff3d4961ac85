//! `-m physdev`: the bridge ports a bridged packet came in on or goes out of.

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::ext::common::push_neg;
use crate::model::{Iface, Neg, Span};
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `physdev` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Physdev {
    /// `--physdev-in`.
    pub phys_in: Option<Neg<Iface>>,
    /// `--physdev-out`.
    pub phys_out: Option<Neg<Iface>>,
    /// `--physdev-is-in`: the packet entered through a bridge port.
    pub is_in: Option<Neg<()>>,
    /// `--physdev-is-out`: the packet leaves through a bridge port.
    pub is_out: Option<Neg<()>>,
    /// `--physdev-is-bridged`: the packet is being bridged, not routed.
    pub is_bridged: Option<Neg<()>>,
}

impl MatchExt for Physdev {
    const OPTIONS: &'static [&'static str] = &[
        "--physdev-in",
        "--physdev-out",
        "--physdev-is-in",
        "--physdev-is-out",
        "--physdev-is-bridged",
    ];

    fn new() -> Self {
        Physdev::default()
    }

    fn option(&mut self, mut opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        let flag = Some(Neg {
            negated: opt.negated,
            value: (),
        });
        match opt.name {
            "--physdev-in" | "--physdev-out" => {
                let v = args.value_negatable(&mut opt)?;
                let iface = Iface::new(&v.text).ok_or_else(|| {
                    ParseError::new(v.span, format!("invalid interface name `{}`", v.text))
                })?;
                let val = Some(Neg {
                    negated: opt.negated,
                    value: iface,
                });
                if opt.name == "--physdev-in" {
                    self.phys_in = val;
                } else {
                    self.phys_out = val;
                }
            }
            "--physdev-is-in" => self.is_in = flag,
            "--physdev-is-out" => self.is_out = flag,
            _ => self.is_bridged = flag,
        }
        Ok(())
    }

    fn finish(&mut self, _args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        if *self == Physdev::default() {
            return Err(ParseError::new(
                at,
                "match `physdev` needs at least one option",
            ));
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        let flag = |out: &mut String, f: &Option<Neg<()>>, name: &str| {
            if let Some(f) = f {
                push_neg(out, f.negated);
                out.push_str(name);
            }
        };
        let dev = |out: &mut String, d: &Option<Neg<Iface>>, name: &str| {
            if let Some(d) = d {
                push_neg(out, d.negated);
                out.push_str(&format!("{name} {}", d.value));
            }
        };
        flag(out, &self.is_in, " --physdev-is-in");
        dev(out, &self.phys_in, " --physdev-in");
        flag(out, &self.is_out, " --physdev-is-out");
        dev(out, &self.phys_out, " --physdev-out");
        flag(out, &self.is_bridged, " --physdev-is-bridged");
    }
}

impl Physdev {
    /// Evaluates the bridge-port tests. A packet that arrived on a bridge without its bridge
    /// port being named cannot be decided.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        let p = cx.pkt;
        let bridged_in = p.physdev_in.is_some();
        let bridge_in = p
            .in_iface
            .as_deref()
            .and_then(|i| cx.host.interface(i))
            .is_some_and(|i| i.bridge);
        if bridge_in && !bridged_in {
            return Truth::Unknown(
                "physdev: the packet arrived on a bridge but the bridge port is not known (name it with -i PORT)".into(),
            );
        }
        // A packet that went through a bridge carries the bridge's record of its ports; one
        // that did not matches only when every given test is negated, as in the kernel.
        let bridge_info = bridged_in || p.physdev_out.is_some();
        let flag = |f: &Option<Neg<()>>, held: bool| f.as_ref().is_none_or(|f| f.apply(held));
        // With the record, an unknown input port passes and an unknown output port fails,
        // negated or not (the kernel skips the one test and refuses the other).
        let dev = |d: &Option<Neg<Iface>>, port: Option<&str>, unknown: bool| {
            d.as_ref().is_none_or(|d| match port {
                Some(n) => d.apply(d.value.matches(n)),
                None if bridge_info => unknown,
                None => d.negated,
            })
        };
        let bridged_out = p.physdev_out.is_some();
        Truth::of(
            flag(&self.is_in, bridged_in)
                && dev(&self.phys_in, p.physdev_in.as_deref(), true)
                && flag(&self.is_out, bridged_out)
                && dev(&self.phys_out, p.physdev_out.as_deref(), false)
                && flag(&self.is_bridged, bridged_out),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn physdev(rule: &str) -> super::Physdev {
        match match4(rule) {
            Match::Physdev(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn bridged(port: Option<&str>) -> Fixture {
        let mut p = packet(Protocol::TCP, "10.244.0.5", "10.244.0.6");
        p.in_iface = crate::model::IfName::new("br0");
        p.physdev_in = port.and_then(crate::model::IfName::new);
        Fixture::new(p)
    }

    #[test]
    fn bridge_ports() {
        let from1 = bridged(Some("veth1"));
        assert_eq!(
            physdev("-m physdev --physdev-in veth1").eval(&from1.cx()),
            Truth::Yes
        );
        assert_eq!(
            physdev("-m physdev --physdev-in veth2").eval(&from1.cx()),
            Truth::No
        );
        assert_eq!(
            physdev("-m physdev ! --physdev-in veth2").eval(&from1.cx()),
            Truth::Yes
        );
        assert_eq!(
            physdev("-m physdev --physdev-in veth+").eval(&from1.cx()),
            Truth::Yes
        );
        assert_eq!(
            physdev("-m physdev --physdev-is-in").eval(&from1.cx()),
            Truth::Yes
        );
        // The output port is not known yet: not bridged out.
        assert_eq!(
            physdev("-m physdev --physdev-is-bridged").eval(&from1.cx()),
            Truth::No
        );
        assert_eq!(
            physdev("-m physdev ! --physdev-is-out").eval(&from1.cx()),
            Truth::Yes
        );
    }

    #[test]
    fn bridged_through() {
        let mut through = bridged(Some("veth1"));
        through.pkt.physdev_out = crate::model::IfName::new("veth2");
        for (rule, want) in [
            ("-m physdev --physdev-out veth2", Truth::Yes),
            ("-m physdev ! --physdev-out veth2", Truth::No),
            ("-m physdev ! --physdev-out veth1", Truth::Yes),
            ("-m physdev --physdev-is-bridged", Truth::Yes),
            (
                "-m physdev --physdev-in veth1 --physdev-out veth2",
                Truth::Yes,
            ),
        ] {
            assert_eq!(physdev(rule).eval(&through.cx()), want, "{rule}");
        }
    }

    /// Checked against the kernel (bridge-nf-call-iptables on): a UDP packet that came in
    /// through bridge port vA to the bridge's own address matched, in INPUT,
    /// `--physdev-in vA`, `--physdev-is-in`, `! --physdev-is-out` and
    /// `! --physdev-is-bridged`, and neither `! --physdev-out vA` nor `! --physdev-out vZ`.
    #[test]
    fn bridged_in_delivered_locally() {
        let from1 = bridged(Some("veth1"));
        for (rule, want) in [
            ("-m physdev --physdev-in veth1", Truth::Yes),
            ("-m physdev --physdev-is-in", Truth::Yes),
            ("-m physdev ! --physdev-is-out", Truth::Yes),
            ("-m physdev ! --physdev-is-bridged", Truth::Yes),
            ("-m physdev ! --physdev-out veth1", Truth::No),
            ("-m physdev ! --physdev-out veth9", Truth::No),
            ("-m physdev --physdev-out veth9", Truth::No),
        ] {
            assert_eq!(physdev(rule).eval(&from1.cx()), want, "{rule}");
        }
    }

    #[test]
    fn unbridged_and_unknown_ports() {
        let routed = Fixture::new(packet(Protocol::TCP, "192.168.49.7", "192.168.49.2"));
        assert_eq!(
            physdev("-m physdev --physdev-is-in").eval(&routed.cx()),
            Truth::No
        );
        assert_eq!(
            physdev("-m physdev ! --physdev-in veth1").eval(&routed.cx()),
            Truth::Yes
        );
        let unknown = bridged(None);
        assert!(matches!(
            physdev("-m physdev --physdev-in veth1").eval(&unknown.cx()),
            Truth::Unknown(_)
        ));
    }
}
