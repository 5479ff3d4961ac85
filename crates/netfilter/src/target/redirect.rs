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
    /// The destination port after the redirection: the first of `--to-ports`, or the
    /// original one.
    pub fn port(&self, original: Option<u16>) -> Option<u16> {
        self.ports.map(|(lo, _)| lo).or(original)
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

    #[test]
    fn port_after_redirection() {
        assert_eq!(redirect("--to-ports 8080").port(Some(80)), Some(8080));
        assert_eq!(redirect("--to-ports 8080-8090").port(Some(80)), Some(8080));
        assert_eq!(redirect("").port(Some(80)), Some(80));
        assert_eq!(redirect("").port(None), None);
    }
}
