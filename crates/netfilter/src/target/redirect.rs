//! `-j REDIRECT`: destination NAT to the receiving host itself (nat PREROUTING and OUTPUT).

use crate::model::Span;
use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::target::TargetExt;
use crate::target::masquerade::parse_port_range;

/// The `REDIRECT` target.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Redirect {
    /// `--to-ports LO[-HI]`.
    pub ports: Option<(u16, u16)>,
    /// `--random`.
    pub random: bool,
}

impl TargetExt for Redirect {
    const OPTIONS: &'static [&'static str] = &["--to-ports", "--random"];

    fn new() -> Self {
        Redirect::default()
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        if opt.name == "--random" {
            self.random = true;
            return Ok(());
        }
        let v = args.value(&opt)?;
        if v.text.contains(':') {
            return Err(ParseError::new(
                v.span,
                "a port range here is written LO-HI, not LO:HI",
            ));
        }
        self.ports = Some(parse_port_range(v)?);
        Ok(())
    }

    fn finish(&mut self, args: &Args<'_>, at: Span) -> Result<(), ParseError> {
        crate::target::require_proto_for_ports(args, at, self.ports.is_some())
    }

    fn print(&self, out: &mut String) {
        if let Some((lo, hi)) = self.ports {
            if lo == hi {
                out.push_str(&format!(" --to-ports {lo}"));
            } else {
                out.push_str(&format!(" --to-ports {lo}-{hi}"));
            }
        }
        if self.random {
            out.push_str(" --random");
        }
    }
}

impl Redirect {
    /// The destination port after the redirection, as the kernel's NAT chooses it: the
    /// original port when it lies within `--to-ports`, else the first port of the range (the
    /// first free one, and a trace has no other connections). With `--random` and a range of
    /// several ports the kernel picks at random: the first is returned, with a note saying so.
    pub fn port(&self, original: Option<u16>) -> (Option<u16>, Option<String>) {
        let Some((lo, hi)) = self.ports else {
            return (original, None);
        };
        if self.random && lo != hi {
            let doubt = format!(
                "REDIRECT --to-ports {lo}-{hi} --random: the kernel picks the port at random; {lo} shown"
            );
            return (Some(lo), Some(doubt));
        }
        match original {
            Some(p) if lo <= p && p <= hi => (Some(p), None),
            _ => (Some(lo), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::eval::testkit::target4;
    use crate::target::Target;

    fn redirect(args: &str) -> super::Redirect {
        match target4("nat", "PREROUTING", &format!("-p tcp -j REDIRECT {args}")) {
            Target::Redirect(t) => t,
            other => panic!("{other:?}"),
        }
    }

    /// Checked against the kernel (nat OUTPUT `-p udp -j REDIRECT --to-ports 8000-9000`):
    /// a packet to port 8080 kept 8080, one to port 7000 went to 8000.
    #[test]
    fn port_after_redirection() {
        assert_eq!(
            redirect("--to-ports 8080").port(Some(80)),
            (Some(8080), None)
        );
        assert_eq!(
            redirect("--to-ports 8000-9000").port(Some(8080)),
            (Some(8080), None)
        );
        assert_eq!(
            redirect("--to-ports 8000-9000").port(Some(7000)),
            (Some(8000), None)
        );
        assert_eq!(redirect("").port(Some(80)), (Some(80), None));
        assert_eq!(redirect("").port(None), (None, None));
        let (port, doubt) = redirect("--to-ports 8000-9000 --random").port(Some(8080));
        assert_eq!(port, Some(8000));
        assert!(doubt.is_some());
        assert_eq!(
            redirect("--to-ports 8080 --random").port(Some(80)),
            (Some(8080), None)
        );
    }
}
