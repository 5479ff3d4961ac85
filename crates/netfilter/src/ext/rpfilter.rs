//! `-m rpfilter`: reverse-path filtering (would a reply to the source leave by the interface
//! the packet arrived on?). Only valid in PREROUTING.

use crate::eval::{Cx, Truth};
use crate::ext::MatchExt;
use crate::host::RouteKind;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;

/// The `rpfilter` match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rpfilter {
    /// `--loose`: any route back will do, whatever its interface.
    pub loose: bool,
    /// `--validmark`: use the packet mark for the reverse lookup.
    pub validmark: bool,
    /// `--accept-local`: accept packets from local addresses.
    pub accept_local: bool,
    /// `--invert`: match packets that fail the test.
    pub invert: bool,
}

impl MatchExt for Rpfilter {
    const OPTIONS: &'static [&'static str] =
        &["--loose", "--validmark", "--accept-local", "--invert"];

    fn new() -> Self {
        Rpfilter::default()
    }

    fn option(&mut self, opt: Opt<'_>, _args: &mut Args<'_>) -> Result<(), ParseError> {
        crate::ext::common::no_negation(&opt)?;
        match opt.name {
            "--loose" => self.loose = true,
            "--validmark" => self.validmark = true,
            "--accept-local" => self.accept_local = true,
            _ => self.invert = true,
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        for (on, name) in [
            (self.loose, " --loose"),
            (self.validmark, " --validmark"),
            (self.accept_local, " --accept-local"),
            (self.invert, " --invert"),
        ] {
            if on {
                out.push_str(name);
            }
        }
    }
}

impl Rpfilter {
    /// Evaluates the reverse-path test with the host's routes: packets from the host itself
    /// (no input interface, or `lo`) pass; a local source passes only with `--accept-local`;
    /// otherwise the route back to the source must be a unicast route out of the input
    /// interface (any unicast route with `--loose`). `--validmark` (a lookup with the packet
    /// mark, i.e. policy routing) cannot be decided.
    pub fn eval(&self, cx: &Cx<'_>) -> Truth {
        if self.validmark {
            return Truth::Unknown(
                "rpfilter --validmark: routing by the packet mark is not modelled".into(),
            );
        }
        let p = cx.pkt;
        let held = match p.in_iface.as_deref() {
            None | Some("lo") => true,
            Some(iif) => {
                if cx.host.is_local(p.src) {
                    self.accept_local
                } else {
                    match crate::route::lookup(cx.host, p.src) {
                        Ok(r) if r.kind == RouteKind::Unicast => self.loose || r.dev == iif,
                        _ => false,
                    }
                }
            }
        };
        Truth::of(held != self.invert)
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::Truth;
    use crate::eval::testkit::{Fixture, match4_in, packet};
    use crate::ext::Match;
    use crate::model::Protocol;

    fn rpfilter(rule: &str) -> super::Rpfilter {
        match match4_in("raw", "PREROUTING", rule) {
            Match::Rpfilter(m) => m,
            other => panic!("{other:?}"),
        }
    }

    fn from(src: &str, iface: Option<&str>) -> Fixture {
        let mut p = packet(Protocol::UDP, src, "192.168.49.2");
        p.in_iface = iface.and_then(crate::model::IfName::new);
        Fixture::new(p)
    }

    #[test]
    fn strict_loose_and_inverted() {
        let strict = rpfilter("-m rpfilter");
        // 192.168.49.0/24 is reached through eth0, 10.1.0.0/24 through eth1.
        assert_eq!(
            strict.eval(&from("192.168.49.7", Some("eth0")).cx()),
            Truth::Yes
        );
        assert_eq!(strict.eval(&from("10.1.0.5", Some("eth0")).cx()), Truth::No);
        assert_eq!(
            rpfilter("-m rpfilter --loose").eval(&from("10.1.0.5", Some("eth0")).cx()),
            Truth::Yes
        );
        let inverted = rpfilter("-m rpfilter --invert");
        assert_eq!(
            inverted.eval(&from("10.1.0.5", Some("eth0")).cx()),
            Truth::Yes
        );
        assert_eq!(
            inverted.eval(&from("192.168.49.7", Some("eth0")).cx()),
            Truth::No
        );
    }

    #[test]
    fn local_sources_and_validmark() {
        assert_eq!(
            rpfilter("-m rpfilter").eval(&from("192.168.49.2", Some("eth0")).cx()),
            Truth::No
        );
        assert_eq!(
            rpfilter("-m rpfilter --accept-local").eval(&from("192.168.49.2", Some("eth0")).cx()),
            Truth::Yes
        );
        // From the host itself (no input interface) or over lo: passes.
        assert_eq!(
            rpfilter("-m rpfilter").eval(&from("10.1.0.5", None).cx()),
            Truth::Yes
        );
        assert_eq!(
            rpfilter("-m rpfilter").eval(&from("10.1.0.5", Some("lo")).cx()),
            Truth::Yes
        );
        assert!(matches!(
            rpfilter("-m rpfilter --validmark").eval(&from("192.168.49.7", Some("eth0")).cx()),
            Truth::Unknown(_)
        ));
    }
}
