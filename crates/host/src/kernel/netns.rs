//! Network namespace guard and command execution inside it.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use super::KernelError;

/// Prefix of every namespace this crate creates: `chainwalk-<pid>-<n>-<role>`.
pub(crate) const NS_PREFIX: &str = "chainwalk-";

/// Seconds a single command may run before it is killed.
const COMMAND_TIMEOUT_SECS: u64 = 120;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Tools the oracle runs.
const TOOLS: &[&str] = &[
    "ip",
    "bridge",
    "nft",
    "iptables-nft-restore",
    "iptables-nft-save",
    "ip6tables-nft-restore",
    "ip6tables-nft-save",
    "conntrack",
    "ipset",
    "timeout",
];

/// Checks that the process is root and every tool the oracle runs is installed.
pub fn check_environment() -> Result<(), KernelError> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(KernelError::NotRoot(euid));
    }
    for tool in TOOLS {
        if find_tool(tool).is_none() {
            return Err(KernelError::MissingTool((*tool).to_string()));
        }
    }
    Ok(())
}

fn find_tool(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// Deletes namespaces named `chainwalk-<pid>-…` whose process no longer exists
/// (left behind by a killed test run). Returns how many were deleted.
pub fn cleanup_stale_namespaces() -> usize {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return 0;
    };
    let mut deleted = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if run_command(&["ip", "netns", "del", &name], None).is_ok() {
            deleted += 1;
        }
    }
    deleted
}

/// A uniquely named network namespace, deleted when the guard is dropped (also while
/// unwinding from a panic).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a fresh namespace named `chainwalk-<pid>-<counter>-<role>` with `lo` up.
    pub fn new(role: &str) -> Result<Netns, KernelError> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let role: String = role
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let name = format!("{NS_PREFIX}{}-{n}-{role}", std::process::id());
        run_command(&["ip", "netns", "add", &name], None)?;
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"], None)?;
        Ok(ns)
    }

    /// The namespace's name (as `ip netns list` shows it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `args` inside the namespace (`ip netns exec`), feeding `stdin` if given.
    /// Returns stdout; a non-zero exit becomes [`KernelError::Command`].
    pub fn exec(&self, args: &[&str], stdin: Option<&str>) -> Result<String, KernelError> {
        let mut full = vec!["ip", "netns", "exec", self.name.as_str()];
        full.extend_from_slice(args);
        run_command(&full, stdin)
    }

    /// Sets a sysctl inside the namespace (`sysctl -w key=value`).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<(), KernelError> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.exec(&["sh", "-c", &format!("echo {value} > {path}")], None)
            .map(|_| ())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run_command(&["ip", "netns", "del", &self.name], None);
    }
}

/// Runs a command with a time limit, optional stdin, capturing its output.
pub(crate) fn run_command(args: &[&str], stdin: Option<&str>) -> Result<String, KernelError> {
    let command_text = args.join(" ");
    let Some((program, rest)) = args.split_first() else {
        return Err(KernelError::Host("empty command".into()));
    };
    let secs = COMMAND_TIMEOUT_SECS.to_string();
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", &secs, program])
        .args(rest)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| KernelError::io(format!("spawning `{command_text}`"), e))?;
    let writer = match (stdin, child.stdin.take()) {
        (Some(text), Some(mut pipe)) => {
            let text = text.to_string();
            Some(std::thread::spawn(move || {
                // A command that exits early closes the pipe; its exit status tells why.
                let _ = pipe.write_all(text.as_bytes());
            }))
        }
        _ => None,
    };
    let output = child
        .wait_with_output()
        .map_err(|e| KernelError::io(format!("waiting for `{command_text}`"), e))?;
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.code() {
        Some(0) => Ok(stdout),
        Some(124) | Some(137) => Err(KernelError::CommandTimeout {
            command: command_text,
            seconds: COMMAND_TIMEOUT_SECS,
        }),
        _ => Err(KernelError::Command {
            command: command_text,
            status: output.status.to_string(),
            stdout,
            stderr: stderr.trim().to_string(),
        }),
    }
}

/// Runs `f` on a dedicated thread that has entered the namespace `name`; sockets it
/// creates stay in that namespace.
pub(crate) fn in_netns<T, F>(name: &str, f: F) -> Result<T, KernelError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, KernelError> + Send + 'static,
{
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{name}");
    let handle = std::thread::spawn(move || {
        let file =
            std::fs::File::open(&path).map_err(|e| KernelError::io(format!("open {path}"), e))?;
        // SAFETY: setns on a valid namespace fd only changes this thread's namespace.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(KernelError::last_os(format!("setns into {path}")));
        }
        f()
    });
    handle
        .join()
        .map_err(|_| KernelError::Host("namespace worker thread panicked".into()))?
}
