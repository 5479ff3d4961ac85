//! `-j LOG`: writes a kernel log line about the packet; the packet goes on (non-terminating).

use crate::syntax::args::{Args, Opt};
use crate::syntax::error::ParseError;
use crate::syntax::token::push_save_string;
use crate::target::TargetExt;

/// Syslog level names LOG accepts, with their numbers.
pub const LOG_LEVELS: [(&str, u8); 9] = [
    ("emerg", 0),
    ("panic", 0),
    ("alert", 1),
    ("crit", 2),
    ("error", 3),
    ("warning", 4),
    ("notice", 5),
    ("info", 6),
    ("debug", 7),
];

/// The default level (warning), which `iptables-save` does not print.
pub const DEFAULT_LEVEL: u8 = 4;

/// The longest log prefix, in bytes.
pub const MAX_PREFIX: usize = 29;

/// The `LOG` target.
#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    /// `--log-prefix`.
    pub prefix: Option<String>,
    /// `--log-level` as a number 0–7.
    pub level: u8,
    /// `--log-tcp-sequence`.
    pub tcp_sequence: bool,
    /// `--log-tcp-options`.
    pub tcp_options: bool,
    /// `--log-ip-options`.
    pub ip_options: bool,
    /// `--log-uid`.
    pub uid: bool,
    /// `--log-macdecode`.
    pub macdecode: bool,
}

impl TargetExt for Log {
    const OPTIONS: &'static [&'static str] = &[
        "--log-prefix",
        "--log-level",
        "--log-tcp-sequence",
        "--log-tcp-options",
        "--log-ip-options",
        "--log-uid",
        "--log-macdecode",
    ];

    fn new() -> Self {
        Log {
            prefix: None,
            level: DEFAULT_LEVEL,
            tcp_sequence: false,
            tcp_options: false,
            ip_options: false,
            uid: false,
            macdecode: false,
        }
    }

    fn option(&mut self, opt: Opt<'_>, args: &mut Args<'_>) -> Result<(), ParseError> {
        match opt.name {
            "--log-prefix" => {
                let v = args.value(&opt)?;
                if v.text.is_empty() {
                    return Err(ParseError::new(v.span, "the log prefix cannot be empty"));
                }
                if v.text.len() > MAX_PREFIX {
                    return Err(ParseError::new(
                        v.span,
                        format!("the log prefix is at most {MAX_PREFIX} bytes"),
                    ));
                }
                self.prefix = Some(v.text.to_string());
            }
            "--log-level" => {
                let v = args.value(&opt)?;
                let level = match v.text.parse::<u8>() {
                    Ok(n) if n <= 7 => Some(n),
                    Ok(_) => None,
                    Err(_) => LOG_LEVELS
                        .iter()
                        .find(|(n, _)| *n == v.text)
                        .map(|(_, l)| *l),
                };
                self.level = level.ok_or_else(|| {
                    ParseError::new(v.span, format!("unknown log level `{}`", v.text)).with_help(
                        "levels are 0-7 or emerg, alert, crit, error, warning, notice, info, debug",
                    )
                })?;
            }
            "--log-tcp-sequence" => self.tcp_sequence = true,
            "--log-tcp-options" => self.tcp_options = true,
            "--log-ip-options" => self.ip_options = true,
            "--log-uid" => self.uid = true,
            _ => self.macdecode = true,
        }
        Ok(())
    }

    fn print(&self, out: &mut String) {
        if let Some(p) = &self.prefix {
            out.push_str(" --log-prefix ");
            push_save_string(out, p);
        }
        if self.level != DEFAULT_LEVEL {
            out.push_str(&format!(" --log-level {}", self.level));
        }
        for (on, name) in [
            (self.tcp_sequence, " --log-tcp-sequence"),
            (self.tcp_options, " --log-tcp-options"),
            (self.ip_options, " --log-ip-options"),
            (self.uid, " --log-uid"),
            (self.macdecode, " --log-macdecode"),
        ] {
            if on {
                out.push_str(name);
            }
        }
    }
}
